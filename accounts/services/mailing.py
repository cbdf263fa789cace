"""Account e-mails leave through a task queued after commit (accounts.tasks.mail_send)."""
from __future__ import annotations

from stratum.api.queueing import task_enqueue

from ..emails import MailKind


def mail_queue(kind: MailKind, *, user_id, **kwargs) -> None:
    args = {k: (str(v) if v is not None and k.endswith("_id") else v) for k, v in kwargs.items()}
    task_enqueue(name="accounts.tasks.mail_send", kwargs={"kind": str(kind), "user_id": str(user_id), **args})
