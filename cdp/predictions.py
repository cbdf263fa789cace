"""The `predictions` block of profile responses, from the app that computes it.

The churn model is analytics' (analytics/churn), which stands above cdp: it registers its reader here in its
AppConfig.ready, so cdp shows predictions without importing the app that makes them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

PredictionsReader = Callable[..., dict]


@dataclass(frozen=True)
class PredictionsJoin:
    """The blocks as columns of a statement over profiles (the profile list reads them in its page's statement):
    `table` is joined on its `profile_id` column, `columns` are selected from it, and `block(values, connection)`
    turns those columns' values into the block (None where the join found no row)."""

    table: str
    columns: tuple[str, ...]
    block: Callable


_readers: list[PredictionsReader] = []
_joins: list[Callable[[str], PredictionsJoin]] = []


def predictions_reader_register(reader: PredictionsReader, *, join: Callable[[str], PredictionsJoin] | None = None
                                ) -> None:
    """`reader(profile_ids=) -> {profile id: prediction block}` in one query; `join(alias)` the same as a join."""
    _readers[:] = [reader]
    _joins[:] = [join] if join else []


def predictions_by_profile(*, profile_ids: Iterable) -> dict:
    return _readers[0](profile_ids=profile_ids) if _readers else {}


def predictions_join(alias: str) -> PredictionsJoin | None:
    return _joins[0](alias) if _joins else None
