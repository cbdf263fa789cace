"""Fixtures of the operations tests."""
from __future__ import annotations

import io
import json
import logging

import pytest

from stratum.api.observability import JsonFormatter, RequestContextFilter


@pytest.fixture
def json_log():
    """The production handler (context filter + JSON formatter) on the root logger, into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(JsonFormatter())
    root, access = logging.getLogger(), logging.getLogger("stratum.request")
    root.addHandler(handler)
    level = access.level
    access.setLevel(logging.INFO)  # the production level (WARNING under DEBUG, where runserver logs requests)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    access.setLevel(level)
    root.removeHandler(handler)
