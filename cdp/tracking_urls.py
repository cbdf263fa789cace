"""Segment's HTTP Tracking API paths, mounted at /v1/ on Stratum's host (stratum/urls.py): write keys only.

Besides the documented names, the one-letter paths analytics.js posts to (`/v1/t`, `/v1/i`, `/v1/p`, `/v1/s`,
`/v1/g`, `/v1/a`, and `/v1/b` for its batching mode) and `/v1/import`, the older SDKs' name for batch."""
from django.urls import path

from .views.segment import call_view

CALLS = ("identify", "track", "page", "screen", "group", "alias")

urlpatterns = [
    *[path(name, call_view(name), name=f"segment-{name}") for name in CALLS],
    *[path(name[0], call_view(name), name=f"segment-{name}-short") for name in CALLS],
    path("batch", call_view(None), name="segment-batch"),
    path("b", call_view(None), name="segment-batch-short"),
    path("import", call_view(None), name="segment-import"),
]
