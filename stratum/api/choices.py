"""The one way to declare a status or an enum: a `Choices` (Django's TextChoices) class.

    class ReportStatus(Choices):
        PENDING = "pending"
        READY = "ready"

    status = models.CharField(max_length=16, choices=ReportStatus.choices, default=ReportStatus.PENDING)
    if report.status == ReportStatus.READY: ...        # members are str: they compare, store and serialize as values
    parse_choice(params, "status", ReportStatus.values)

The label of each member is its value: the API, the database, the staff console and the OpenAPI schema all speak the
values (as they did before these classes), so no choices metadata changes.
"""
from __future__ import annotations

from django.db import models


class Choices(models.TextChoices):
    @property
    def label(self) -> str:
        return self.value
