"""Serializer bases shared by every app."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from rest_framework import serializers
from rest_framework.settings import api_settings


class StrictSerializer(serializers.Serializer):
    """Rejects unknown fields instead of silently ignoring them (mass assignment is a 422, not a no-op)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown or read-only field."] for key in unknown})
        return super().to_internal_value(data)


def datetime_text(value: dt.datetime | None) -> str | None:
    """A datetime as `serializers.DateTimeField()` answers it (in UTC, REST_FRAMEWORK["DATETIME_FORMAT"]), for items
    made from plain rows: the field's per-value time-zone handling cost a list more than its query."""
    return None if value is None else value.astimezone(dt.UTC).strftime(api_settings.DATETIME_FORMAT)


def _expected_type(field) -> tuple[tuple[type, ...], str] | None:
    """The JSON types a field accepts as written (None: anything). DRF would coerce 5 to "5" and "yes" to True."""
    if isinstance(field, serializers.BooleanField):
        return (bool,), "Must be a boolean (true or false)."
    if isinstance(field, serializers.IntegerField):
        return (int,), "Must be an integer."
    if isinstance(field, serializers.FloatField):
        return (int, float), "Must be a number."
    if isinstance(field, serializers.DecimalField):  # money may be written as "12.50" to keep its exact digits
        return (int, float, str, Decimal), "Must be a number."
    if isinstance(field, serializers.ChoiceField) and not isinstance(field, serializers.MultipleChoiceField):
        keys = list(field.choices)
        if keys and all(isinstance(key, str) for key in keys):
            return (str,), "Must be a string."
        return None
    if isinstance(field, (serializers.CharField, serializers.DateField, serializers.DateTimeField,
                          serializers.TimeField, serializers.UUIDField)):
        return (str,), "Must be a string."
    return None


def strict_types(fields, data, prefix: str = "") -> dict[str, list[str]]:
    """Type errors of a JSON body against a serializer's fields, by path: one rule for every write endpoint."""
    errors: dict[str, list[str]] = {}
    if not isinstance(data, dict):
        return errors
    for name, field in fields.items():
        if field.read_only or name not in data or data[name] is None:
            continue
        errors.update(_strict_value(field, data[name], f"{prefix}{name}"))
    return errors


def _strict_value(field, value, path: str) -> dict[str, list[str]]:
    if value is None:
        return {}
    if isinstance(field, serializers.ListSerializer):
        return _strict_items(field.child, value, path) if isinstance(value, list) else {}
    if isinstance(field, serializers.Serializer):
        return strict_types(field.fields, value, f"{path}.")
    if isinstance(field, serializers.ListField):
        return _strict_items(field.child, value, path) if isinstance(value, list) else {}
    if isinstance(field, serializers.DictField) and isinstance(value, dict):
        errors: dict[str, list[str]] = {}
        for key, item in value.items():
            errors.update(_strict_value(field.child, item, f"{path}.{key}"))
        return errors
    expected = _expected_type(field)
    if expected is None:
        return {}
    types, message = expected
    if isinstance(value, bool) and bool not in types:
        return {path: [message]}
    return {} if isinstance(value, types) else {path: [message]}


def _strict_items(child, values: list, path: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for index, item in enumerate(values):
        errors.update(_strict_value(child, item, f"{path}[{index}]"))
    return errors


def parse_body(serializer_class, request, **kwargs):
    """Validates request.data with `serializer_class` (422 on failure) and returns the validated data.

    A JSON body is also held to its fields' types (a number is not a string, "yes" is not a boolean); form and
    multipart bodies carry only strings and are left to the fields' own parsing.
    """
    serializer = serializer_class(data=request.data, **kwargs)
    if isinstance(request.data, dict) and not hasattr(request.data, "getlist"):
        errors = strict_types(serializer.fields, request.data)
        if errors:
            raise serializers.ValidationError(errors)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
