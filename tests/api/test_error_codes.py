"""Error codes are named constants in `<app>/errors.py` (the kernel's in stratum/api/errors.py), never strings written
where an error is raised, and the OpenAPI schema lists every one of them (the Error component's x-error-codes)."""
from __future__ import annotations

import pathlib
import re

import pytest

from stratum.api.errors import error_codes

ROOT = pathlib.Path(__file__).resolve().parents[2]
APPS = ("stratum", "accounts", "billing", "campaigns", "cdp", "trust", "integrations", "workflow", "analytics")
# `code="SOME_CODE"`, or a code as the second positional argument of an API error: `Conflict("…", "SOME_CODE")`
INLINE = [re.compile(r"""\bcode\s*=\s*["'][A-Z][A-Z0-9_]{3,}["']"""),
          re.compile(r"""\b(?:ApiError|Conflict|Forbidden|NotFound|ValidationFailed|\w+Error)\(\s*f?["'][^"']*["'],\s*"""
                     r"""["'][A-Z][A-Z0-9_]{3,}["']"""),
          re.compile(r"""error_(?:response|body)\([^)]*,\s*["'][A-Z][A-Z0-9_]{3,}["']""")]


def _sources():
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts or path.name == "errors.py" or path.name == "settings.py":
                continue
            yield path


def test_no_error_code_is_written_inline():
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in _sources()
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if any(pattern.search(line) for pattern in INLINE)]
    assert found == []


@pytest.mark.django_db
def test_the_schema_lists_every_apps_codes(api_client):
    import yaml

    schema = yaml.safe_load(api_client.get("/api/schema/").content)
    listed = schema["components"]["schemas"]["Error"]
    codes = listed["properties"]["code"].get("x-error-codes") or listed.get("x-error-codes")
    assert codes == error_codes()
    assert {"NO_USABLE_IDENTIFIER", "MERGE_CHANGED"} <= set(codes["cdp"])
    assert {"PLATFORM_UNREACHABLE", "CRM_MAPPING_INVALID", "WEBHOOK_LIMIT_REACHED"} <= set(codes["integrations"])
    assert {"EMAIL_NOT_VERIFIED", "NOT_READY", "VALIDATION_ERROR"} <= set(codes["stratum"])
