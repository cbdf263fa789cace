"""Serializer bases shared by every app."""
from __future__ import annotations

from rest_framework import serializers


class StrictSerializer(serializers.Serializer):
    """Rejects unknown fields instead of silently ignoring them (mass assignment is a 422, not a no-op)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown or read-only field."] for key in unknown})
        return super().to_internal_value(data)


def parse_body(serializer_class, request, **kwargs):
    """Validates request.data with `serializer_class` (422 on failure) and returns the validated data."""
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
