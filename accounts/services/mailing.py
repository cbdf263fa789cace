"""Account e-mails leave through a task queued after commit (accounts.tasks.mail_send)."""
from __future__ import annotations

from django.db import transaction


def mail_queue(kind: str, *, user_id, **kwargs) -> None:
    from ..tasks import mail_send

    args = {k: (str(v) if v is not None and k.endswith("_id") else v) for k, v in kwargs.items()}
    transaction.on_commit(lambda: mail_send.delay(kind, str(user_id), **args))
