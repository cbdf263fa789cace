"""Secrets at rest (webhook signing secrets, Slack URLs, OAuth tokens): MultiFernet over `FERNET_KEYS`.

The first key encrypts; every key decrypts, so a new key is put first, rows are re-encrypted with
`secret_reencrypt()` and the old key is removed afterwards.
"""
from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

__all__ = ["InvalidToken", "secret_encrypt", "secret_decrypt", "secret_reencrypt"]


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode() if isinstance(key, str) else key) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FERNET_KEYS))


def secret_encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def secret_decrypt(token: str) -> str:
    """Raises InvalidToken when no configured key opens the token."""
    return _current().decrypt(token.encode()).decode()


def secret_reencrypt(token: str) -> str:
    """The same secret under the newest key (for key rotation)."""
    return _current().rotate(token.encode()).decode()
