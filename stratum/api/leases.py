"""Worker leases of long-running sync runs (CRM, audiences): the one definition of "its worker died".

A run's worker stamps `heartbeat_at` as it goes; a run that nobody stamped for the lease (counted from
`started_at` while no beat came yet) lost its worker and may be closed or taken over. The same rule in Python
(one run) and in SQL (finding them all).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q


def lease_expired(run, *, now: datetime, lease: timedelta) -> bool:
    beat = run.heartbeat_at or run.started_at
    return beat is None or beat <= now - lease


def lease_expired_q(*, now: datetime, lease: timedelta) -> Q:
    cutoff = now - lease
    return Q(heartbeat_at__lte=cutoff) | Q(heartbeat_at__isnull=True, started_at__lte=cutoff)
