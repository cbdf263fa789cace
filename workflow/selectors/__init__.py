"""Workflow reads. Other apps call these (keyword-only, tenant first):

- `clients_visible_to(*, tenant, user) -> QuerySet[Client]` (annotated with the user's `role`).
"""
from .clients import client_get_visible, client_role, clients_visible_to

__all__ = ["client_get_visible", "client_role", "clients_visible_to"]
