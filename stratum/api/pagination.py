"""Pagination styles.

- Stratum: `?page=&limit=` (limit 1..100; above 100 is a 422, not silently clamped) ->
  `{items, total, page, pages, limit}`. A page past the end answers an empty `items`.
- Catalyst page style: `{status_code, message, data: {<list_key>: [...], total_pages, current_page,
  total_items, limit}}`.
- Catalyst offset style: `?limit=&offset=` -> `{..., data: {<list_key>: [...], total_items, limit, offset}}`.
"""
from __future__ import annotations

import math
from typing import Any

from rest_framework.pagination import BasePagination
from rest_framework.response import Response

from .exceptions import ValidationFailed

MAX_LIMIT = 100


def parse_positive_int(params, name: str, default: int, *, minimum: int = 1, maximum: int | None = None) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except (TypeError, ValueError):
        raise ValidationFailed(errors={name: [f"Must be an integer, got {str(raw)[:40]!r}."]}) from None
    if value < minimum:
        raise ValidationFailed(errors={name: [f"Must be at least {minimum}."]})
    if maximum is not None and value > maximum:
        raise ValidationFailed(errors={name: [f"Must be at most {maximum}."]})
    return value


class StratumPagination(BasePagination):
    default_limit = 20
    max_limit = MAX_LIMIT

    def paginate_queryset(self, queryset, request, view=None):
        self.limit = parse_positive_int(request.query_params, "limit", getattr(view, "page_size", None) or self.default_limit,
                                        maximum=self.max_limit)
        self.page = parse_positive_int(request.query_params, "page", 1, maximum=10**6)
        self.total = queryset.count() if hasattr(queryset, "count") and not isinstance(queryset, list) else len(queryset)
        start = (self.page - 1) * self.limit
        return list(queryset[start:start + self.limit])

    def get_paginated_response(self, data) -> Response:
        return Response(self.wrap(data))

    def wrap(self, data) -> dict[str, Any]:
        return {
            "items": data,
            "total": self.total,
            "page": self.page,
            "pages": math.ceil(self.total / self.limit) if self.total else 0,
            "limit": self.limit,
        }

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["items", "total", "page", "pages", "limit"],
            "properties": {
                "items": schema,
                "total": {"type": "integer"},
                "page": {"type": "integer"},
                "pages": {"type": "integer"},
                "limit": {"type": "integer"},
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": self.max_limit}},
        ]


class CatalystPagination(BasePagination):
    """Catalyst page/limit style; the list key comes from the view's `catalyst_list_key`."""

    default_limit = 10
    max_limit = MAX_LIMIT

    def paginate_queryset(self, queryset, request, view=None):
        self.list_key = getattr(view, "catalyst_list_key", "items")
        self.limit = parse_positive_int(request.query_params, "limit", self.default_limit, maximum=self.max_limit)
        self.page = parse_positive_int(request.query_params, "page", 1, maximum=10**6)
        self.total = queryset.count() if hasattr(queryset, "count") and not isinstance(queryset, list) else len(queryset)
        start = (self.page - 1) * self.limit
        return list(queryset[start:start + self.limit])

    def get_paginated_response(self, data) -> Response:
        from .envelope import catalyst_response

        return catalyst_response({
            self.list_key: data,
            "total_pages": math.ceil(self.total / self.limit) if self.total else 0,
            "current_page": self.page,
            "total_items": self.total,
            "limit": self.limit,
        })

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "properties": {
                "status_code": {"type": "integer"},
                "message": {"type": "string"},
                "data": {
                    "type": "object",
                    "properties": {
                        "items": schema,
                        "total_pages": {"type": "integer"},
                        "current_page": {"type": "integer"},
                        "total_items": {"type": "integer"},
                        "limit": {"type": "integer"},
                    },
                },
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": self.max_limit}},
        ]


class CatalystOffsetPagination(BasePagination):
    """Catalyst limit/offset style (alert instances, lead scoring results)."""

    default_limit = 50
    max_limit = 100  # the reference's rule for every list ("max: 100"); more is a 422 like everywhere else

    def paginate_queryset(self, queryset, request, view=None):
        self.list_key = getattr(view, "catalyst_list_key", "items")
        self.limit = parse_positive_int(request.query_params, "limit", getattr(view, "default_limit", self.default_limit),
                                        maximum=self.max_limit)
        self.offset = parse_positive_int(request.query_params, "offset", 0, minimum=0, maximum=10**9)
        self.total = queryset.count() if hasattr(queryset, "count") and not isinstance(queryset, list) else len(queryset)
        return list(queryset[self.offset:self.offset + self.limit])

    def get_paginated_response(self, data) -> Response:
        from .envelope import catalyst_response

        return catalyst_response({
            self.list_key: data,
            "total_items": self.total,
            "limit": self.limit,
            "offset": self.offset,
        })

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": self.max_limit}},
            {"name": "offset", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}},
        ]
