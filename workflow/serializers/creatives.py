from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from stratum.api.serializers import StrictSerializer

from ..models import AdType, CreativeSubmission


class CreativeSerializer(serializers.ModelSerializer):
    client_id = serializers.UUIDField(allow_null=True, read_only=True)
    media_url = serializers.SerializerMethodField()
    submitted_by = serializers.UUIDField(source="submitted_by_id", allow_null=True, read_only=True)
    reviewed_by = serializers.UUIDField(source="reviewed_by_id", allow_null=True, read_only=True)
    task_id = serializers.UUIDField(allow_null=True, read_only=True)
    thumbnail_url = serializers.SerializerMethodField(help_text="A PNG preview (at most 320×320) once there is one.")

    class Meta:
        model = CreativeSubmission
        fields = ["id", "client_id", "name", "ad_type", "media_url", "media_filename", "media_size",
                  "media_content_type", "media_width", "media_height", "thumbnail_url", "media_fetch_status",
                  "media_error", "ad_script", "headline", "primary_text", "status", "rejection_reason",
                  "submitted_by", "reviewed_by", "reviewed_at", "task_id", "created_at", "updated_at"]
        read_only_fields = fields

    def get_thumbnail_url(self, submission) -> str | None:
        if not submission.media_thumbnail:
            return None
        path = reverse("creative-submissions-thumbnail", kwargs={"pk": submission.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_media_url(self, submission) -> str | None:
        """The given URL, or for an upload the authenticated download endpoint."""
        if submission.media_url:
            return submission.media_url
        if not submission.media_file:
            return None
        path = reverse("creative-submissions-media", kwargs={"pk": submission.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class CreativeCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    ad_type = serializers.ChoiceField(AdType.values)
    media_url = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    file = serializers.FileField(required=False, allow_empty_file=True,
                                 help_text="multipart/form-data upload: jpeg, png, gif, webp or mp4 by content")
    ad_script = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    headline = serializers.CharField(required=False, allow_blank=True, max_length=255)
    primary_text = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    client_id = serializers.UUIDField(required=False, allow_null=True,
                                      help_text="Also accepted as ?client_id=; none for an internal creative.")


class RejectSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=5000)
