from rest_framework import serializers

from stratum.api.permissions import ROLES, SCOPES
from stratum.api.serializers import StrictSerializer

from .models import ApiKey, Tenant, User


class UserSerializer(serializers.ModelSerializer):
    tenant_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = User
        fields = ["id", "email", "name", "phone", "role", "tenant_id", "is_active", "is_verified", "preferences",
                  "created_at", "last_login"]
        read_only_fields = fields


_DATETIME = serializers.DateTimeField()  # the API's datetime format (REST_FRAMEWORK["DATETIME_FORMAT"]), in UTC


def user_payload(user: User) -> dict:
    """`UserSerializer(user).data` without building a ModelSerializer's fields on every request (that took most of
    `GET /users/me`'s own time); the same keys, order and formats (tests compare the two)."""
    return {"id": str(user.id), "email": user.email, "name": user.name, "phone": user.phone, "role": user.role,
            "tenant_id": None if user.tenant_id is None else str(user.tenant_id), "is_active": user.is_active,
            "is_verified": user.is_verified, "preferences": user.preferences,
            "created_at": _DATETIME.to_representation(user.created_at),
            "last_login": None if user.last_login is None else _DATETIME.to_representation(user.last_login)}


class UserDirectorySerializer(serializers.ModelSerializer):
    """What a member who is not an owner or admin sees of colleagues: enough to assign work, no contact details,
    preferences or sign-in history."""

    class Meta:
        model = User
        fields = ["id", "name", "role", "is_active"]
        read_only_fields = fields


class UserEntrySerializer(serializers.Serializer):
    """The schema of `GET /users` entries: id, name, role and is_active for every member; the rest only for owners
    and admins (one schema, not a oneOf: a full record would match both shapes)."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    role = serializers.ChoiceField(ROLES)
    is_active = serializers.BooleanField()
    email = serializers.EmailField(required=False, help_text="Owners and admins only.")
    phone = serializers.CharField(required=False, help_text="Owners and admins only.")
    tenant_id = serializers.UUIDField(required=False, allow_null=True, help_text="Owners and admins only.")
    is_verified = serializers.BooleanField(required=False, help_text="Owners and admins only.")
    preferences = serializers.JSONField(required=False, help_text="Owners and admins only.")
    created_at = serializers.DateTimeField(required=False, help_text="Owners and admins only.")
    last_login = serializers.DateTimeField(required=False, allow_null=True, help_text="Owners and admins only.")


class RegisterSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    company = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class LoginSerializer(StrictSerializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class TokenPairSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()


class CatalystLoginDataSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()
    user = UserSerializer()


class LoginResponseSerializer(TokenPairSerializer):
    """Both references' shapes at once: Stratum's keys at the top, Catalyst's envelope beside them."""

    user = UserSerializer()
    status_code = serializers.IntegerField(help_text="Catalyst envelope: 200.")
    message = serializers.CharField(help_text="Catalyst envelope: \"Login successful\".")
    data = CatalystLoginDataSerializer(help_text="Catalyst envelope: the token and the user.")


class MeResponseSerializer(UserSerializer):
    """The user at the top (Stratum) and in `data` (the Catalyst envelope)."""

    status_code = serializers.IntegerField(read_only=True)
    message = serializers.CharField(read_only=True)
    data = UserSerializer(read_only=True)

    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "status_code", "message", "data"]
        read_only_fields = fields


class RefreshSerializer(StrictSerializer):
    refresh_token = serializers.CharField(max_length=2000)


class LogoutSerializer(StrictSerializer):
    refresh_token = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class ForgotPasswordSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)


class ResetPasswordSerializer(StrictSerializer):
    token = serializers.CharField(max_length=200)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class ChangePasswordSerializer(StrictSerializer):
    current_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class UpdateMeSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    preferences = serializers.DictField(required=False)

    def validate_preferences(self, value):
        if len(str(value)) > 16_000:
            raise serializers.ValidationError("Preferences are too large (16 KB at most).")
        return value


class InviteUserSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    role = serializers.ChoiceField(choices=ROLES)


class UpdateUserSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    role = serializers.ChoiceField(choices=ROLES, required=False)
    is_active = serializers.BooleanField(required=False)


class ApiKeySerializer(serializers.ModelSerializer):
    is_active = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "permissions", "created_at", "expires_at", "last_used_at", "revoked_at",
                  "is_active"]
        read_only_fields = fields

    def get_is_active(self, obj) -> bool:
        return obj.is_usable


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.SerializerMethodField()

    class Meta(ApiKeySerializer.Meta):
        fields = ["id", "name", "key", "prefix", "permissions", "created_at", "expires_at"]
        read_only_fields = fields

    def get_key(self, obj) -> str:
        return self.context["raw_key"]


class CreateApiKeySerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    permissions = serializers.ListField(child=serializers.ChoiceField(choices=SCOPES), allow_empty=False,
                                        max_length=len(SCOPES))
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class TenantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = ["id", "name", "slug", "plan", "status", "settings", "created_at", "updated_at"]
        read_only_fields = fields


class UpdateTenantSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    settings = serializers.DictField(required=False)
