"""E-mail backends for the tests: Django's in-memory outbox behind an SMTP server that fails the first N sends."""
from __future__ import annotations

import smtplib

from django.core.mail.backends.locmem import EmailBackend

FAILURES = {"left": 0, "attempts": 0, "error": smtplib.SMTPServerDisconnected}


class FlakySMTPBackend(EmailBackend):
    def send_messages(self, messages):
        FAILURES["attempts"] += 1
        if FAILURES["left"] > 0:
            FAILURES["left"] -= 1
            error = FAILURES["error"]
            if error is smtplib.SMTPRecipientsRefused:
                raise error({message.to[0]: (550, b"No such user") for message in messages})
            raise error("Connection unexpectedly closed")
        return super().send_messages(messages)
