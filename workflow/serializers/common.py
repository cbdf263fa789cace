"""Fields shared by the workflow serializers."""
from __future__ import annotations

import datetime as dt
import re

from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@extend_schema_field(OpenApiTypes.DATETIME)
class DateOrDateTimeField(serializers.Field):
    """`2024-01-15` (midnight UTC of that day) or an ISO-8601 date-time; null clears it."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be a date (YYYY-MM-DD) or an ISO-8601 date-time.")
        try:
            if DATE_RE.match(data):
                return dt.date.fromisoformat(data)
            value = parse_datetime(data)
        except ValueError:
            value = None
        if value is None:
            raise serializers.ValidationError(f"Not a date (YYYY-MM-DD) or ISO-8601 date-time: {data[:40]!r}.")
        return value

    def to_representation(self, value):
        return serializers.DateTimeField().to_representation(value)


def user_ids(*, required: bool = False) -> serializers.ListField:
    return serializers.ListField(child=serializers.UUIDField(), required=required, max_length=50)
