"""The Stratum console: accounts.console.ConsoleSite (lock-out and two-factor login) branded, its models grouped by
the product's areas, and its home page the platform overview with the operations panel (console/overview.py)."""
from __future__ import annotations

from django.urls import reverse

from accounts.console import ConsoleSite

# (key, heading, model labels in the order staff look for them). A model not named here falls in its app's area.
AREAS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("tenants", "Tenants and people", ("accounts.tenant", "accounts.user", "accounts.apikey",
                                       "accounts.onetimetoken", "accounts.notification", "accounts.slackdestination")),
    ("billing", "Billing", ("billing.subscription", "billing.invoice", "billing.stripeevent",
                            "billing.checkoutsession", "billing.billingcustomer")),
    ("campaigns", "Campaigns and syncs", ("campaigns.adaccount", "campaigns.adaccountsyncrun",
                                          "integrations.crmsyncrun", "cdp.audiencesyncrun", "campaigns.campaign",
                                          "campaigns.ad")),
    ("cdp", "CDP", ("cdp.source", "cdp.profile", "cdp.event", "cdp.segment", "cdp.audience", "cdp.audienceexport",
                    "cdp.identitylink", "cdp.profilemerge")),
    ("trust", "Trust and automation", ("trust.autopilotaction", "trust.circuitbreaker", "trust.auditlogentry",
                                       "trust.autopilotsettings", "trust.rule", "trust.rulefiring",
                                       "trust.ruleexecution", "trust.signalhealthsnapshot")),
    ("workflow", "Workflow", ()),
    ("analytics", "Analytics and reports", ()),
    ("integrations", "Integrations and webhooks", ("integrations.connection", "webhooks.webhook",
                                                   "webhooks.webhookdelivery")),
    ("system", "System", ("console.staffaction", "api.outboxevent", "django_celery_beat.periodictask")),
)
APP_AREAS = {"accounts": "tenants", "billing": "billing", "campaigns": "campaigns", "cdp": "cdp", "trust": "trust",
             "workflow": "workflow", "analytics": "analytics", "integrations": "integrations",
             "webhooks": "integrations"}
_ORDER = {label: (index, position) for index, (_, _, labels) in enumerate(AREAS) for position, label in
          enumerate(labels)}


def area_of(label: str) -> str:
    """The area key of a model label ("app_label.modelname"): named in AREAS, else its app's, else System."""
    for key, _, labels in AREAS:
        if label in labels:
            return key
    return APP_AREAS.get(label.split(".", 1)[0], "system")


class StratumConsoleSite(ConsoleSite):
    site_header = "Stratum console"
    site_title = "Stratum console"
    index_title = "Overview"
    site_url = "/docs"  # "View site": the API documentation (the product has no web front end of its own here)
    index_template = "console/index.html"

    def get_app_list(self, request, app_label=None):
        if app_label is not None:  # an app's own page (/admin/<app_label>/) lists that app's models as usual
            return super().get_app_list(request, app_label)
        index_url = reverse("admin:index", current_app=self.name)
        areas = {key: {"name": name, "app_label": f"area-{key}", "app_url": f"{index_url}#area-{key}",
                       "has_module_perms": True, "models": []} for key, name, _ in AREAS}
        for app in self._build_app_dict(request).values():
            for model in app["models"]:
                areas[area_of(model["model"]._meta.label_lower)]["models"].append(model)
        for area in areas.values():
            area["models"].sort(key=lambda m: (_ORDER.get(m["model"]._meta.label_lower, (0, 99))[1], m["name"]))
        return [area for area in areas.values() if area["models"]]

    def index(self, request, extra_context=None):
        from .overview import overview_context  # the overview composes every app's selectors

        return super().index(request, extra_context={**overview_context(request), **(extra_context or {})})
