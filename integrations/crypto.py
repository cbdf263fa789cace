"""Encrypted columns: OAuth tokens at rest, via stratum.api.crypto (MultiFernet over FERNET_KEYS).

Columns holding ciphertext are `EncryptedTextField`s; models expose the plain value through accessors,
so a row whose key was dropped still loads (only reading that secret fails). `manage.py rotate_secrets`
finds every such column in every app and re-encrypts it with the newest key.
"""
from __future__ import annotations

from django.apps import apps
from django.db import models

from stratum.api.crypto import InvalidToken, secret_decrypt, secret_encrypt, secret_reencrypt


class SecretUndecryptable(RuntimeError):
    """The ciphertext was made with a key that is no longer in FERNET_KEYS."""


def encrypt(plain: str) -> str:
    return secret_encrypt(plain) if plain else ""


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return secret_decrypt(token)
    except InvalidToken as exc:
        raise SecretUndecryptable("A stored secret cannot be decrypted with the configured FERNET_KEYS.") from exc


def rotate(token: str) -> str:
    """The same plain text under the newest key."""
    if not token:
        return ""
    try:
        return secret_reencrypt(token)
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
