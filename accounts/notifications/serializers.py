from rest_framework import serializers

from stratum.api.serializers import StrictSerializer

from ..models import NOTIFICATION_CATEGORIES, Notification, SlackDestination


class NotificationSerializer(serializers.ModelSerializer):
    is_read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "category", "title", "body", "data", "is_read", "read_at", "created_at"]
        read_only_fields = fields

    def get_is_read(self, obj) -> bool:
        return obj.read_at is not None


class MarkAllReadSerializer(serializers.Serializer):
    updated = serializers.IntegerField(help_text="How many notifications were unread and are now read.")


def _categories(*, with_all: bool) -> dict[str, serializers.Field]:
    fields = {category: serializers.BooleanField(required=False, allow_null=with_all)
              for category in NOTIFICATION_CATEGORIES}
    if with_all:
        fields["all"] = serializers.BooleanField(required=False, allow_null=True,
                                                 help_text="Every category not named in the same request.")
    return fields


ChannelPreferencesSerializer = type("ChannelPreferencesSerializer", (serializers.Serializer,),
                                    _categories(with_all=False))
ChannelPreferencesUpdateSerializer = type("ChannelPreferencesUpdateSerializer", (serializers.Serializer,),
                                          _categories(with_all=True))


class NotificationPreferencesSerializer(serializers.Serializer):
    """Each channel with each category resolved to on/off."""

    email = ChannelPreferencesSerializer()
    slack = ChannelPreferencesSerializer()
    in_app = ChannelPreferencesSerializer()


class NotificationPreferencesUpdateSerializer(serializers.Serializer):
    """Documentation of the PATCH body; `accounts.notifications.notification_preferences_update` validates it."""

    email = ChannelPreferencesUpdateSerializer(required=False)
    slack = ChannelPreferencesUpdateSerializer(required=False)
    in_app = ChannelPreferencesUpdateSerializer(required=False)


class SlackDestinationSerializer(serializers.Serializer):
    configured = serializers.BooleanField()
    url_hint = serializers.CharField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_failure_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    updated_at = serializers.DateTimeField(allow_null=True)

    @staticmethod
    def describe(destination: SlackDestination | None) -> dict:
        if destination is None:
            return {"configured": False, "url_hint": None, "last_success_at": None, "last_failure_at": None,
                    "last_error": "", "updated_at": None}
        return {"configured": True, "url_hint": destination.url_hint, "last_success_at": destination.last_success_at,
                "last_failure_at": destination.last_failure_at, "last_error": destination.last_error,
                "updated_at": destination.updated_at}


class SlackDestinationSetSerializer(StrictSerializer):
    webhook_url = serializers.CharField(max_length=2000)
