"""Funnels: ordered event steps with property rules and a conversion window; the report is one SQL statement."""
from .selectors import breakdown_validate, funnel_report
from .services import funnel_create, funnel_delete, funnel_update

__all__ = ["breakdown_validate", "funnel_create", "funnel_delete", "funnel_report", "funnel_update"]
