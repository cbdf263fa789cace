"""Content negotiation: DRF's, with the everyday case answered without parsing the Accept header.

Almost every API request sends no Accept header, `*/*` or `application/json`; for those, with JSON the first
renderer, DRF's negotiation always picks that renderer and `application/json` — this class says so directly (DRF
parsed and ranked the header's media types on every request). Anything else (another type, parameters, a list, a
`?format=` override) goes through DRF's negotiation unchanged, 406 included.
"""
from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation

JSON = "application/json"
_EVERYDAY_ACCEPT = frozenset({None, "*/*", JSON})


class ApiContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if (format_suffix is None and renderers and renderers[0].media_type == JSON
                and request.META.get("HTTP_ACCEPT") in _EVERYDAY_ACCEPT
                and self.settings.URL_FORMAT_OVERRIDE not in request.GET):
            return renderers[0], JSON
        return super().select_renderer(request, renderers, format_suffix)
