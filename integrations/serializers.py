from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from stratum.api.serializers import StrictSerializer

from .models import CRM_PROVIDERS, Connection, CrmSyncRun
from .oauth.services import connection_lifecycle


class AuthorizeResponseSerializer(serializers.Serializer):
    authorization_url = serializers.URLField()
    state = serializers.CharField()


class ConnectionSerializer(serializers.ModelSerializer):
    platform = serializers.CharField(source="provider")
    account_id = serializers.CharField(source="external_account_id")
    account_name = serializers.CharField(source="external_account_name")
    connected_by = serializers.UUIDField(source="connected_by_id", allow_null=True)
    token_renewable = serializers.SerializerMethodField(
        help_text="Stratum renews the access token itself (false: the user reconnects before `reconnect_by`).")
    reconnect_required = serializers.SerializerMethodField(help_text="The user must reconnect now.")
    reconnect_by = serializers.SerializerMethodField(
        help_text="When access ends unless the user reconnects; null while it lasts (renewed or non-expiring).")
    reconnect_reason = serializers.SerializerMethodField(help_text="Why a reconnect is or will be needed.")

    class Meta:
        model = Connection
        fields = ["id", "platform", "kind", "status", "scopes", "account_id", "account_name", "token_expires_at",
                  "connected_at", "connected_by", "last_refreshed_at", "last_error", "token_renewable",
                  "reconnect_required", "reconnect_by", "reconnect_reason"]
        read_only_fields = fields

    def _lifecycle(self, obj: Connection) -> dict:
        cache = self.context.setdefault("_lifecycle", {})
        if obj.pk not in cache:
            cache[obj.pk] = connection_lifecycle(obj)
        return cache[obj.pk]

    @extend_schema_field(serializers.BooleanField())
    def get_token_renewable(self, obj: Connection) -> bool:
        return self._lifecycle(obj)["token_renewable"]

    @extend_schema_field(serializers.BooleanField())
    def get_reconnect_required(self, obj: Connection) -> bool:
        return self._lifecycle(obj)["reconnect_required"]

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_reconnect_by(self, obj: Connection) -> str | None:
        deadline = self._lifecycle(obj)["reconnect_by"]
        return serializers.DateTimeField().to_representation(deadline) if deadline else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_reconnect_reason(self, obj: Connection) -> str | None:
        return self._lifecycle(obj)["reconnect_reason"]


class DisconnectResponseSerializer(serializers.Serializer):
    platform = serializers.CharField()
    revoked = serializers.BooleanField(help_text="False when the provider has no revocation endpoint or refused.")
    ad_accounts_detached = serializers.IntegerField()
    detail = serializers.CharField()
    revoke_error = serializers.CharField(required=False)


class ReachableAccountSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    name = serializers.CharField()
    currency = serializers.CharField()
    timezone = serializers.CharField()
    selected = serializers.BooleanField(help_text="Synced by Stratum.")
    ad_account_id = serializers.UUIDField(allow_null=True, help_text="The Stratum ad account, once chosen.")


class SelectAccountsSerializer(StrictSerializer):
    external_ids = serializers.ListField(child=serializers.CharField(max_length=64), max_length=500, allow_empty=True,
                                         help_text="The platform's account ids to sync; the others stop syncing.")


class SelectedAccountSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    platform = serializers.CharField()
    external_id = serializers.CharField()
    name = serializers.CharField()
    currency = serializers.CharField()
    timezone = serializers.CharField()
    is_active = serializers.BooleanField()


class SelectAccountsResponseSerializer(serializers.Serializer):
    platform = serializers.CharField()
    items = SelectedAccountSerializer(many=True)


class CrmSyncRequestSerializer(StrictSerializer):
    provider = serializers.ChoiceField(choices=CRM_PROVIDERS)
    direction = serializers.ChoiceField(choices=CrmSyncRun.Direction.values, default="bidirectional")


class CrmSyncRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = CrmSyncRun
        fields = ["id", "provider", "direction", "trigger", "status", "queued_at", "started_at", "finished_at",
                  "pulled", "profiles_created", "profiles_updated", "pushed", "conflicts", "failed", "errors",
                  "error", "attempts"]
        read_only_fields = fields


class CrmProviderStatusSerializer(serializers.Serializer):
    provider = serializers.CharField()
    configured = serializers.BooleanField()
    connected = serializers.BooleanField()
    connection_status = serializers.CharField(allow_null=True)
    schedule = serializers.CharField()
    last_run = CrmSyncRunSerializer(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)


class CrmStatusSerializer(serializers.Serializer):
    providers = CrmProviderStatusSerializer(many=True)


class CrmSettingsSerializer(StrictSerializer):
    field_mapping = serializers.DictField(
        child=serializers.CharField(max_length=100), required=False,
        help_text="CDP field or trait -> CRM field, added to (or overriding) the default mapping.")
    segments_field = serializers.CharField(max_length=100, required=False, allow_blank=True,
                                           help_text="CRM field that receives the profile's segment names.")
    schedule = serializers.ChoiceField(choices=("off", "hourly", "daily"), required=False)
    direction = serializers.ChoiceField(choices=CrmSyncRun.Direction.values, required=False,
                                        help_text="Direction of scheduled runs.")
