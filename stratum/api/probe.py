"""The load test's yardstick: the smallest Django JSON view, served by the same gunicorn with the same settings
and middleware as the API. Mounted at /_probe/json only with LOAD_PROBE_ENABLED=1 (`make load` sets it); it is
no part of the API (no schema entry, no authentication, no database)."""
from __future__ import annotations

from django.http import JsonResponse


def probe_json(request):
    return JsonResponse({"status": "ok"})
