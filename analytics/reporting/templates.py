"""Report templates: the standard catalogue (every plan) and custom templates (the `custom_reports` feature).

A standard template is fixed in code with a stable id (uuid5 of its key, the same for every tenant). A custom
template is a tenant's row: one of the standard kinds with the sections, metrics and charts the tenant picked.
`template_id` in a request may be a standard template's id or key, or a custom template's id.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from campaigns.metrics import METRICS

NAMESPACE = uuid.UUID("5b0e7c1e-8a3f-4c55-9d61-2f7a8e3c9b10")
DEFAULT_METRICS = ("spend", "revenue", "roas", "conversions", "cpa", "ctr")

# kind -> the sections it can show, in order
SECTIONS: dict[str, tuple[str, ...]] = {
    "performance_summary": ("kpis", "daily_trend", "platforms", "top_campaigns"),
    "channel_breakdown": ("kpis", "platforms", "attribution"),
    "campaign_detail": ("kpis", "campaigns_table", "campaign_pages"),
    "audience_report": ("profiles", "lifecycle", "rfm", "segments", "churn"),
    "client_report": ("kpis", "daily_trend", "campaigns_table"),
}
KINDS = tuple(SECTIONS)
SECTION_TITLES = {
    "kpis": "Key figures", "daily_trend": "Daily trend", "platforms": "By platform", "top_campaigns": "Top campaigns",
    "attribution": "Attribution by channel", "campaigns_table": "Campaigns", "campaign_pages": "Campaign pages",
    "profiles": "Profiles", "lifecycle": "Lifecycle stages", "rfm": "RFM segments", "segments": "Segments",
    "churn": "Churn risk",
}


@dataclass(frozen=True)
class TemplateSpec:
    key: str
    kind: str
    name: str
    description: str
    sections: tuple[str, ...]
    metrics: tuple[str, ...] = DEFAULT_METRICS
    include_charts: bool = True
    requires: tuple[str, ...] = field(default=())  # filters the template needs

    @property
    def id(self) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, self.key)


STANDARD_TEMPLATES: tuple[TemplateSpec, ...] = (
    TemplateSpec("performance_summary", "performance_summary", "Performance summary",
                 "Headline figures against the previous period, the daily trend, platforms and the top campaigns.",
                 SECTIONS["performance_summary"]),
    TemplateSpec("channel_breakdown", "channel_breakdown", "Channel breakdown",
                 "Spend and return per platform, and conversions attributed to each channel (data-driven model).",
                 SECTIONS["channel_breakdown"]),
    TemplateSpec("campaign_detail", "campaign_detail", "Campaign detail",
                 "Every campaign's figures, and a page per campaign with its daily chart.",
                 SECTIONS["campaign_detail"]),
    TemplateSpec("audience_report", "audience_report", "Audience report",
                 "Customer profiles: lifecycle stages, RFM segments, segment sizes and churn risk.",
                 SECTIONS["audience_report"], metrics=()),
    TemplateSpec("client_report", "client_report", "Client report",
                 "One agency client's campaigns: headline figures, daily trend and campaigns "
                 "(needs filters.client_id).",
                 SECTIONS["client_report"], requires=("client_id",)),
)
BY_KEY = {t.key: t for t in STANDARD_TEMPLATES}
BY_ID = {str(t.id): t for t in STANDARD_TEMPLATES}
# `POST /reporting/export` types -> the template they render
EXPORT_TYPES = {"dashboard": "performance_summary", "campaigns": "campaign_detail", "attribution": "channel_breakdown"}
METRIC_CHOICES = METRICS


def standard_template(value: str) -> TemplateSpec | None:
    return BY_KEY.get(value) or BY_ID.get(value.lower() if isinstance(value, str) else value)


def custom_spec(template) -> TemplateSpec:
    """The spec of a custom template row (kind's requirements kept)."""
    base = BY_KEY[template.kind]
    return TemplateSpec(key="custom", kind=template.kind, name=template.name, description=template.description,
                        sections=tuple(template.sections), metrics=tuple(template.metrics) or base.metrics,
                        include_charts=template.include_charts, requires=base.requires)
