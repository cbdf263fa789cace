"""The canonical form of an e-mail address: what identifies an account, keys its lock-out and finds it at login.

NFKC folds compatibility characters (`ſ` → `s`, full-width letters, ligatures), casefold() folds case fully, NFKC
again settles what casefolding produced. Every lookup of a user by e-mail goes through `User.email_key`, which holds
this form under a unique constraint, so two spellings of one address can neither both register nor count their
failed logins apart. The address as given is kept in `User.email` (what e-mails are sent to).
"""
from __future__ import annotations

import unicodedata


def canonical_email(email: str) -> str:
    text = unicodedata.normalize("NFKC", (email or "").strip())
    return unicodedata.normalize("NFKC", text.casefold())
