"""List filters: django-filter FilterSets parse the query string; the selectors filter.

A list endpoint declares its filters once, as a FilterSet of the typed filters below, and its handler parses with it:

    class TaskFilterSet(FilterSet):
        status = ChoiceFilter(choices=TaskStatus.choices)
        client_id = UUIDFilter()
        class Meta:
            model = Task
            fields = []

    @query_filters(TaskFilterSet)                      # the OpenAPI parameters come from the FilterSet
    def list(self, request):
        values = TaskFilterSet.parse(request.query_params)   # {"status": "open" | None, "client_id": UUID | None}
        rows = selectors.task_list(tenant=self.tenant, **values)

A bad value is one 422 VALIDATION_ERROR naming the parameter (`errors: {"status": ["Must be one of …"]}`), rendered by
the one error handler; a parameter left out or empty is None. The FilterSet only parses: the rows are filtered by the
endpoint's selector, which also applies the tenant and visibility rules (an id of another tenant finds nothing), so
`QueryFilterBackend` (the default filter backend) never touches a queryset; it is there for the schema:
drf-spectacular's django-filter extension documents each filter (type, enum, description) from the FilterSet.

Values are read the way the rest of the API reads them: surrounding blanks stripped, comma-separated lists for the
`*InFilter`s, booleans as true/false/1/0/yes/no/on/off, dates as YYYY-MM-DD, ids as UUIDs.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework.filters import BaseFilterBackend

from .exceptions import ValidationFailed

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


# --- form fields: the parsing -------------------------------------------------------------------------------------

class _ChoiceField(forms.ChoiceField):
    def to_python(self, value):
        return super().to_python(value.strip() if isinstance(value, str) else value)

    def validate(self, value):
        if value in self.empty_values:
            return super().validate(value)
        if not self.valid_value(value):
            allowed = ", ".join(str(key) for key, _ in self.choices)
            raise ValidationError(f"Must be one of {allowed}; got {value[:40]!r}.", code="invalid_choice")


class _BooleanField(forms.Field):
    widget = forms.TextInput  # not a select: the raw word reaches to_python, so a typo is an error, not "no filter"

    def to_python(self, value):
        raw = str(value).strip() if value is not None else ""
        if not raw:
            return None
        if raw.lower() in TRUE_WORDS:
            return True
        if raw.lower() in FALSE_WORDS:
            return False
        raise ValidationError(f"Must be true or false, got {raw[:40]!r}.", code="invalid")


class _UUIDField(forms.UUIDField):
    default_error_messages = {"invalid": "Not a valid id."}


class _DateField(forms.DateField):
    def to_python(self, value):
        if isinstance(value, dt.date):
            return value
        raw = str(value).strip() if value is not None else ""
        if not raw:
            return None
        try:
            if not _DATE_RE.fullmatch(raw):
                raise ValueError
            return dt.date.fromisoformat(raw)
        except ValueError:
            raise ValidationError(f"Not a date (YYYY-MM-DD): {raw[:40]!r}.", code="invalid") from None


# --- filters: what a FilterSet declares (and the schema documents) ------------------------------------------------

class CharFilter(django_filters.CharFilter):
    """Free text (stripped); `max_length` bounds it."""


class ChoiceFilter(django_filters.CharFilter):
    """One value of `choices` (a Choices class' `.choices`, or (value, label) pairs)."""

    field_class = _ChoiceField


class ChoiceInFilter(django_filters.BaseInFilter, ChoiceFilter):
    """Comma-separated values of `choices` (`status=active,paused`): a list, [] when none is given."""


class BooleanFilter(django_filters.BooleanFilter):
    field_class = _BooleanField


class UUIDFilter(django_filters.UUIDFilter):
    field_class = _UUIDField


class DateFilter(django_filters.DateFilter):
    field_class = _DateField


class NumberFilter(django_filters.NumberFilter):
    """A finite decimal; `min_value` / `max_value` bound it. Parsed as a float."""


class FilterSet(django_filters.FilterSet):
    """Base of every list's FilterSet (Meta.model names the listed model; `fields = []`: only declared filters)."""

    @classmethod
    def _parse_form_class(cls) -> type:
        """The form `FilterSet.form` would build, built once per FilterSet class (django-filters makes a new form
        class for every FilterSet instance, and copies every filter for it: most of a list's parsing time). The
        filters are fixed per class (no queryset-backed choices), so the class is the same every time."""
        form_class = cls.__dict__.get("_form_class_cache")
        if form_class is None:
            form_class = cls(queryset=cls._meta.model._base_manager.none()).get_form_class()
            cls._form_class_cache = form_class
        return form_class

    @classmethod
    def parse(cls, params: Mapping) -> dict[str, Any]:
        """{filter name: typed value or None} from a query string, or 422 naming each bad parameter."""
        # What `cls(data=params).form.is_valid()` does, field by field, with the class's fields as they are: a form
        # instance deep-copies every field first (it may render and change them), most of a list's parsing time;
        # parsing only cleans, which leaves a field unchanged.
        cleaned, errors = {}, {}
        for name, field in cls._parse_form_class().base_fields.items():
            try:
                cleaned[name] = field.clean(field.widget.value_from_datadict(params, {}, name))
            except ValidationError as error:
                errors[name] = [str(message) for message in error.messages]
        if errors:
            raise ValidationFailed(errors=errors)
        values = {}
        for name, value in cleaned.items():
            if isinstance(cls.base_filters[name], django_filters.BaseInFilter):
                value = [item for item in value or [] if item not in ("", None)]
            elif value == "":
                value = None
            elif isinstance(cls.base_filters[name], NumberFilter) and value is not None:
                value = float(value)
            values[name] = value
        return values


# --- the schema's side --------------------------------------------------------------------------------------------

def query_filters(filterset_class: type[FilterSet]) -> Callable:
    """Marks a handler (a view's `get`, a viewset's `list` or action) as reading `filterset_class`'s filters; the
    OpenAPI schema lists them as its query parameters (stratum.api.schema.QueryFilterSetExtension)."""
    def decorate(handler):
        handler.query_filterset = filterset_class
        return extend_schema(filters=True)(handler)
    return decorate


def filterset_of(view, method: str) -> type[FilterSet] | None:
    handler = getattr(view, getattr(view, "action", None) or method.lower(), None)
    return getattr(handler, "query_filterset", None)


class QueryFilterBackend(BaseFilterBackend):
    """The default filter backend: it leaves querysets alone (handlers parse, selectors filter); the schema asks it
    for the FilterSet of an operation."""

    def filter_queryset(self, request, queryset, view):
        return queryset
