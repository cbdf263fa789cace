"""Fuzzing the whole API from its own OpenAPI schema (schemathesis).

The schema is loaded from the WSGI application itself (`/api/schema/`), every operation becomes a test, and
each test sends generated requests — valid and invalid ones — as the seeded tenant's owner (JWT) and as an
API key with every scope. Every answer must: not be a 5xx; have a documented status code; match the
documented body schema and content type; and, if it is an error, be in the one error format
`{detail, code, status_code, message}` (Catalyst resources included).

CI runs a bounded, derandomized pass (FUZZ_MAX_EXAMPLES per operation, fixed seed) once, on PostgreSQL;
`make fuzz` runs a longer, deeper one (more examples, the coverage phase, a seed of its own).
"""
from __future__ import annotations

import os
import random

import pytest
from django.db import connection

if connection.vendor != "postgresql" and os.environ.get("FUZZ_ON_SQLITE") != "1":
    pytest.skip("The schema fuzz runs once per CI run, on the PostgreSQL pass (FUZZ_ON_SQLITE=1 forces it here)",
                allow_module_level=True)

import schemathesis  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis.core.parameters import ParameterLocation  # noqa: E402

from stratum.wsgi import application  # noqa: E402
from tests.fuzz import world as fuzz_world_module  # noqa: E402

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "6"))
DEEP = os.environ.get("FUZZ_DEEP") == "1"  # make fuzz: the coverage phase, random generation
SEED = int(os.environ.get("FUZZ_SEED") or (random.SystemRandom().randrange(2**32) if DEEP else 20260110))

ERROR_KEYS = {"detail", "code", "status_code", "message"}

config = schemathesis.Config.from_dict({
    "seed": SEED,
    "generation": {
        "max-examples": MAX_EXAMPLES,
        "with-security-parameters": False,
        "database": "none",
        "deterministic": not DEEP,
        # Unknown query parameters are ignored by design (like most APIs); do not count accepting them as a bug.
        "allow-extra-parameters": False,
    },
    "phases": {"coverage": {"enabled": DEEP}, "stateful": {"enabled": False}},
    "checks": {
        # A crash (500) is never an answer. 502/503 are, where the operation documents them: with no network
        # (and no provider credentials) an upstream call fails or a provider is not configured, and the
        # view says so in the error format. status_code_conformance still requires them documented.
        "not_a_server_error": {"expected-statuses": ["1xx", "2xx", "3xx", "4xx", "502", "503"]},
        # The schema documents shapes, not business rules ("profile_id or identifiers", a valid reset
        # token, an object the ad platform knows): schema-valid requests may still be refused with a 4xx.
        "positive_data_acceptance": {"enabled": False},
        # The API is lenient in two documented ways the negative check counts as bugs: an empty query value is
        # the same as an absent one (`?platform=`, `?limit=`), and a form/multipart body whose parts do not
        # parse is an empty body (every field of those bodies is optional). Invalid values are still refused:
        # the other checks see every negative case's answer (no 5xx, documented status, error format).
        "negative_data_rejection": {"enabled": False},
    },
})
schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=config)

_CURRENT: dict = {}


@schema.hook
def flatmap_case(context, case):
    """Mix real ids of the seeded tenant into positively generated path and query ids, so the fuzzer also
    reaches real objects (random UUIDs only ever reach a 404). Negative (invalid) values stay as generated."""
    world = _CURRENT.get("world")
    meta = case._meta
    if world is None or meta is None:
        return st.just(case)
    model = fuzz_world_module.view_model_for(context.operation.path)
    choices = {}
    for location, container in ((ParameterLocation.PATH, case.path_parameters), (ParameterLocation.QUERY, case.query)):
        if not container or meta.is_negative_at(location):
            continue
        for name, value in container.items():
            if fuzz_world_module.ID_PARAM.search(name) and isinstance(value, str):
                real = world.ids_for_param(name, model)
                if real:
                    choices[(location, name)] = st.one_of(st.just(value), st.sampled_from(real))
    if not choices:
        return st.just(case)

    def apply(chosen):
        for (location, name), value in chosen.items():
            (case.path_parameters if location is ParameterLocation.PATH else case.query)[name] = value
        return case

    return st.fixed_dictionaries(choices).map(apply)


@schemathesis.check
def error_format(ctx, response, case):
    """Every error answer is {detail, code, status_code, message}, status_code equal to the HTTP status."""
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except Exception:
        raise AssertionError(f"{response.status_code} answer is not JSON: {response.text[:200]!r}") from None
    if not isinstance(body, dict) or not ERROR_KEYS <= set(body):
        raise AssertionError(f"{response.status_code} answer is not in the error format: {str(body)[:300]}")
    if body["status_code"] != response.status_code:
        raise AssertionError(f"error body says status_code {body['status_code']}, the answer is {response.status_code}")
    return None


FUZZ_SETTINGS = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=not DEEP, database=None,
                         suppress_health_check=list(HealthCheck), print_blob=True)


@pytest.fixture(scope="module")
def announce(request):
    """Says which seed this run used (so a failure of `make fuzz` can be replayed with FUZZ_SEED)."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nschema fuzz: seed {SEED} (FUZZ_SEED={SEED} replays it), {MAX_EXAMPLES} examples per operation"
              f"{', coverage phase' if DEEP else ''}", flush=True)


@pytest.fixture
def as_user(fuzz, announce):
    _CURRENT["world"] = fuzz
    return {"Authorization": f"Bearer {fuzz.jwt}"}


@pytest.fixture
def as_api_key(fuzz, announce):
    _CURRENT["world"] = fuzz
    return {"Authorization": f"Bearer {fuzz.api_key}"}


@schema.parametrize()
@FUZZ_SETTINGS
def test_api_as_tenant_user(case, as_user):
    case.call_and_validate(headers=as_user)


@schema.parametrize()
@FUZZ_SETTINGS
def test_api_as_api_key(case, as_api_key):
    case.call_and_validate(headers=as_api_key)
