"""The customer data platform as lead scoring sees it: profiles by e-mail and purchases as outcomes.

Calls the CDP's public selectors (`cdp.selectors.profile_find_by_email`, `purchase_counts_by_email`). Lead
scoring keeps working without them: no profile link, no CDP-learnt outcomes.
"""
from __future__ import annotations

import importlib
import uuid
from typing import Callable

from accounts.models import Tenant


def _selector(name: str) -> Callable | None:
    try:
        module = importlib.import_module("cdp.selectors")
    except ImportError:
        return None
    return getattr(module, name, None)


def cdp_profile_id(*, tenant: Tenant, email: str) -> uuid.UUID | None:
    find = _selector("profile_find_by_email")
    if find is None:
        return None
    profile = find(tenant=tenant, email=email)
    return getattr(profile, "pk", None)


def cdp_purchase_counts(*, tenant: Tenant, emails: list[str]) -> dict[str, int] | None:
    """Purchases per e-mail (lower-case); None when the CDP offers no purchase data."""
    counts = _selector("purchase_counts_by_email")
    if counts is None:
        return None
    return {email.lower(): int(n) for email, n in (counts(tenant=tenant, emails=emails) or {}).items()}
