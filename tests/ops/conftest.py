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
    root = logging.getLogger()
    access = [logging.getLogger(name) for name in ("stratum.request", "stratum.tasks")]
    root.addHandler(handler)
    levels = [logger.level for logger in access]
    for logger in access:
        logger.setLevel(logging.INFO)  # the production level (WARNING under DEBUG: ACCESS_LOG_LEVEL)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    for logger, level in zip(access, levels, strict=True):
        logger.setLevel(level)
    root.removeHandler(handler)
