"""The `predictions` block of profile responses, from the app that computes it.

The churn model is analytics' (analytics/churn), which stands above cdp: it registers its reader here in its
AppConfig.ready, so cdp shows predictions without importing the app that makes them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

PredictionsReader = Callable[..., dict]

_readers: list[PredictionsReader] = []


def predictions_reader_register(reader: PredictionsReader) -> None:
    """`reader(profile_ids=) -> {profile id: prediction block}` in one query."""
    _readers[:] = [reader]


def predictions_by_profile(*, profile_ids: Iterable) -> dict:
    return _readers[0](profile_ids=profile_ids) if _readers else {}
