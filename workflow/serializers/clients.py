from __future__ import annotations

from rest_framework import serializers

from stratum.api.serializers import StrictSerializer

from ..models import Client, ClientMembership, ClientRole


class ClientSerializer(serializers.ModelSerializer):
    role = serializers.CharField(read_only=True, help_text="The caller's role on the client.")

    class Meta:
        model = Client
        fields = ["id", "name", "logo", "is_active", "role", "created_at", "updated_at"]
        read_only_fields = fields


class ClientCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    logo = serializers.URLField(max_length=500, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False, default=True)


class ClientUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    logo = serializers.URLField(max_length=500, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class ClientRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(ClientRole.values)


class MemberSerializer(serializers.ModelSerializer):
    user_id = serializers.UUIDField(read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.name", read_only=True)

    class Meta:
        model = ClientMembership
        fields = ["user_id", "email", "name", "role", "created_at"]
        read_only_fields = fields


class MemberCreateSerializer(StrictSerializer):
    user_id = serializers.UUIDField()
    role = serializers.ChoiceField(ClientRole.values, default="member")


class MemberUpdateSerializer(StrictSerializer):
    role = serializers.ChoiceField(ClientRole.values)


class AdAccountSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    platform = serializers.CharField()
    external_id = serializers.CharField()
    currency = serializers.CharField()
    is_active = serializers.BooleanField()


class AdAccountLinkSerializer(StrictSerializer):
    ad_account_id = serializers.UUIDField()
