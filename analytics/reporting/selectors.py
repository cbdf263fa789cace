"""Reporting reads: the template catalogue (standard and the tenant's custom ones)."""
from __future__ import annotations

from ..models import ReportFormat, ReportTemplate
from .templates import SECTIONS, STANDARD_TEMPLATES, TemplateSpec, custom_spec


def template_row(spec: TemplateSpec, *, custom: ReportTemplate | None = None) -> dict:
    return {
        "id": str(custom.pk if custom is not None else spec.id), "key": None if custom is not None else spec.key,
        "name": spec.name, "description": spec.description, "kind": spec.kind, "standard": custom is None,
        "sections": list(spec.sections), "available_sections": list(SECTIONS[spec.kind]),
        "metrics": list(spec.metrics), "include_charts": spec.include_charts, "requires": list(spec.requires),
        "formats": list(ReportFormat.values),
    }


def templates_list(*, tenant) -> list[dict]:
    """Standard templates first (catalogue order), then the tenant's custom templates by name."""
    rows = [template_row(spec) for spec in STANDARD_TEMPLATES]
    rows += [template_row(custom_spec(t), custom=t) for t in ReportTemplate.objects.for_tenant(tenant).order_by("name")]
    return rows
