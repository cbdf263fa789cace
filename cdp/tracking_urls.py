"""Segment's HTTP Tracking API paths, mounted at /v1/ on Stratum's host (stratum/urls.py): write keys only."""
from django.urls import path

from .views.segment import call_view

urlpatterns = [
    *[path(name, call_view(name), name=f"segment-{name}")
      for name in ("identify", "track", "page", "screen", "group", "alias")],
    path("batch", call_view(None), name="segment-batch"),
    path("import", call_view(None), name="segment-import"),  # the older SDKs' name for batch
]
