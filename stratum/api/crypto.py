"""Secrets at rest (webhook signing secrets, Slack URLs, OAuth tokens): MultiFernet over `FERNET_KEYS`.

The first key encrypts; every key decrypts, so a new key is put first, `manage.py rotate_secrets` re-encrypts every
`EncryptedTextField` column of every app with it (`secret_reencrypt()`), and the old key is removed afterwards.
Columns holding ciphertext are `EncryptedTextField`s; models expose the plain value through accessors, so a row whose
key was dropped still loads (only reading that secret fails, with `SecretUndecryptable`). An empty value stays empty.
"""
from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.db import models

__all__ = ["EncryptedTextField", "InvalidToken", "SecretUndecryptable", "encrypted_columns", "secret_decrypt",
           "secret_encrypt", "secret_reencrypt"]


class SecretUndecryptable(InvalidToken):
    """The ciphertext was made with a key that is no longer in FERNET_KEYS."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode() if isinstance(key, str) else key) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FERNET_KEYS))


def secret_encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode() if plaintext else ""


def secret_decrypt(token: str) -> str:
    """Raises SecretUndecryptable (an InvalidToken) when no configured key opens the token."""
    return _opened(token, rotate=False)


def secret_reencrypt(token: str) -> str:
    """The same secret under the newest key (for key rotation)."""
    return _opened(token, rotate=True)


def _opened(token: str, *, rotate: bool) -> str:
    if not token:
        return ""
    fernet = _current()
    try:
        return (fernet.rotate if rotate else fernet.decrypt)(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUndecryptable("A stored secret cannot be decrypted with the configured FERNET_KEYS.") from exc


class EncryptedTextField(models.TextField):
    """A column of Fernet ciphertext. `rotate_secrets` re-encrypts every such column of every app."""


def encrypted_columns() -> list[tuple[type[models.Model], list[str]]]:
    found = []
    for model in apps.get_models():
        names = [f.attname for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if names:
            found.append((model, names))
    return found
