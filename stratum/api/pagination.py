"""Pagination styles.

- Stratum: `?page=&limit=` (limit 1..100; above 100 is a 422, not silently clamped) ->
  `{items, total, page, pages, limit}`. A page past the end answers an empty `items`.
- Catalyst page style: `{status_code, message, data: {<list_key>: [...], total_pages, current_page,
  total_items, limit}}`.
- Catalyst offset style: `?limit=&offset=` -> `{..., data: {<list_key>: [...], total_items, limit, offset}}`.

All three are `Pagination`: it reads `limit` and `page` (or `offset`), counts and slices; each style only says its
defaults and how a page is wrapped.
"""
from __future__ import annotations

import math
from typing import Any

from rest_framework.pagination import BasePagination
from rest_framework.response import Response

from .envelope import catalyst_response
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


MAX_PAGE = 10**6


class Pagination(BasePagination):
    """The one paginator base. `view_default_attr` names a view attribute that overrides `default_limit`;
    `by_offset` reads `offset` instead of `page`; the list key of Catalyst's envelope is the view's
    `catalyst_list_key`."""

    default_limit = 20
    max_limit = MAX_LIMIT
    view_default_attr: str | None = None
    by_offset = False

    def paginate_queryset(self, queryset, request, view=None):
        params = request.query_params
        self.list_key = getattr(view, "catalyst_list_key", "items")
        default = (getattr(view, self.view_default_attr, None) if self.view_default_attr else None) or self.default_limit
        self.limit = parse_positive_int(params, "limit", default, maximum=self.max_limit)
        if self.by_offset:
            self.offset = parse_positive_int(params, "offset", 0, minimum=0, maximum=10**9)
        else:
            self.page = parse_positive_int(params, "page", 1, maximum=MAX_PAGE)
            self.offset = (self.page - 1) * self.limit
        if hasattr(queryset, "page_with_total"):  # a selector that answers a page and the count in one statement
            self.total, items = queryset.page_with_total(offset=self.offset, limit=self.limit)
            return items
        self.total = queryset.count() if hasattr(queryset, "count") and not isinstance(queryset, list) else len(queryset)
        return list(queryset[self.offset:self.offset + self.limit])

    @property
    def pages(self) -> int:
        return math.ceil(self.total / self.limit) if self.total else 0

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": self.max_limit}},
        ]


class StratumPagination(Pagination):
    view_default_attr = "page_size"

    def get_paginated_response(self, data) -> Response:
        return Response(self.wrap(data))

    def wrap(self, data) -> dict[str, Any]:
        return {"items": data, "total": self.total, "page": self.page, "pages": self.pages, "limit": self.limit}

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


class CatalystPagination(Pagination):
    """Catalyst page/limit style; the list key comes from the view's `catalyst_list_key`."""

    default_limit = 10

    def get_paginated_response(self, data) -> Response:
        return catalyst_response({self.list_key: data, "total_pages": self.pages, "current_page": self.page,
                                  "total_items": self.total, "limit": self.limit})

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


class CatalystOffsetPagination(Pagination):
    """Catalyst limit/offset style (alert instances, lead scoring results)."""

    default_limit = 50
    max_limit = 100  # the reference's rule for every list ("max: 100"); more is a 422 like everywhere else
    view_default_attr = "default_limit"
    by_offset = True

    def get_paginated_response(self, data) -> Response:
        return catalyst_response({self.list_key: data, "total_items": self.total, "limit": self.limit,
                                  "offset": self.offset})

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": self.max_limit}},
            {"name": "offset", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}},
        ]
