"""Reporting: templates, reports rendered to PDF/CSV/XLSX (checked by reading the files), downloads, exports."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from analytics.models import Report
from analytics.reporting.templates import STANDARD_TEMPLATES
from tests.accounts.factories import TenantFactory, UserFactory
from tests.campaigns.factories import AdAccountFactory, CampaignFactory
from tests.helpers import assert_error

from .conftest import NOW, TODAY, daily_metrics
from .factories import ReportFactory, ReportTemplateFactory

pypdf = pytest.importorskip("pypdf")

URL = "/api/v1/reporting"
NAMES = ("Summer Sale — Prospecting", "Retargeting — Cart Abandoners", "=HYPERLINK(\"http://evil\")")


@pytest.fixture
def campaigns(tenant):
    account = AdAccountFactory(tenant=tenant, last_synced_at=NOW, name="Northwind")
    made = []
    for n, name in enumerate(NAMES):
        campaign = CampaignFactory(tenant=tenant, ad_account=account, name=name, platform="meta")
        daily_metrics(campaign, [(TODAY - dt.timedelta(days=d), 100 + 10 * n, 300 + 40 * n, 5, 10000, 150)
                                 for d in range(0, 60)])
        made.append(campaign)
    return made


@pytest.fixture
def submit(django_capture_on_commit_callbacks):
    """POSTs and runs what the request queued after its commit (the render task, eagerly)."""
    def post(client, path, body):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, body, format="json")

    return post


def create(submit, client, **body):
    payload = {"template_id": "performance_summary", "name": "March report", "format": "pdf",
               "date_range": {"start": "2026-03-01", "end": "2026-03-14"}, **body}
    return submit(client, f"{URL}/reports", payload)


def download(client, report_id) -> bytes:
    response = client.get(f"{URL}/reports/{report_id}/download")
    assert response.status_code == 200, response.content[:300]
    return b"".join(response.streaming_content)


class TestTemplates:
    def test_standard_catalogue_and_custom_templates(self, api_client):
        listed = api_client.get(f"{URL}/templates").json()
        assert [t["key"] for t in listed["items"]] == ["performance_summary", "channel_breakdown", "campaign_detail",
                                                      "audience_report", "client_report"]
        assert all(t["standard"] and t["formats"] == ["pdf", "csv", "xlsx"] for t in listed["items"])
        by_id = api_client.get(f"{URL}/templates/{listed['items'][0]['id']}").json()
        assert by_id["key"] == "performance_summary"
        created = api_client.post(f"{URL}/templates", {"name": "Lean summary", "kind": "performance_summary",
                                                       "sections": ["top_campaigns", "kpis"],
                                                       "metrics": ["spend", "roas"]}, format="json")
        assert created.status_code == 201, created.content
        body = created.json()
        assert body["sections"] == ["kpis", "top_campaigns"] and body["standard"] is False and body["key"] is None
        changed = api_client.patch(f"{URL}/templates/{body['id']}", {"include_charts": False}, format="json").json()
        assert changed["include_charts"] is False
        assert api_client.get(f"{URL}/templates").json()["total"] == 6
        assert_error(api_client.patch(f"{URL}/templates/performance_summary", {"name": "x"}, format="json"), 409,
                     "STANDARD_TEMPLATE_READ_ONLY")
        assert api_client.delete(f"{URL}/templates/{body['id']}").status_code == 204

    @pytest.mark.parametrize("body, field", [
        ({"name": "x", "kind": "horoscope"}, "kind"),
        ({"name": "x", "kind": "performance_summary", "sections": ["rfm"]}, "sections"),
        ({"name": "x", "kind": "performance_summary", "metrics": ["happiness"]}, "metrics[0]"),
        ({"name": "x", "kind": "audience_report", "query": "DROP TABLE"}, "query"),
    ])
    def test_bad_templates(self, api_client, body, field):
        assert field in assert_error(api_client.post(f"{URL}/templates", body, format="json"), 422)["errors"]

    def test_custom_templates_need_the_feature_but_the_catalogue_does_not(self, db, make_client):
        client = make_client(UserFactory(tenant=TenantFactory(plan="professional")))
        assert client.get(f"{URL}/templates").json()["total"] == 5
        assert_error(client.post(f"{URL}/templates", {"name": "x", "kind": "performance_summary"}, format="json"),
                     403, "FEATURE_NOT_AVAILABLE")


class TestReports:
    def test_pdf_with_pages_campaign_names_and_charts(self, submit, api_client, campaigns):
        response = create(submit, api_client, template_id="campaign_detail")
        assert response.status_code == 202, response.content
        report_id = response.json()["id"]
        body = api_client.get(f"{URL}/reports/{report_id}").json()  # rendered by the (eager) task after commit
        assert body["status"] == "ready" and body["download_url"] == f"/api/v1/reporting/reports/{report_id}/download"
        assert body["date_range"] == {"start": "2026-03-01", "end": "2026-03-14"}
        assert body["template_id"] == str(STANDARD_TEMPLATES[2].id)
        reader = pypdf.PdfReader(io.BytesIO(download(api_client, report_id)))
        assert len(reader.pages) == body["page_count"] == 4  # the table, then one page per campaign
        text = "\n".join(page.extract_text() for page in reader.pages)
        for name in NAMES:
            assert name in text
        assert "$1,680" in text  # 14 days × $120 of the third campaign
        assert sum(len(page.images) for page in reader.pages) == 3  # a daily chart per campaign page

    def test_performance_summary_figures(self, submit, api_client, campaigns):
        report_id = create(submit, api_client).json()["id"]
        text = pypdf.PdfReader(io.BytesIO(download(api_client, report_id))).pages[0].extract_text()
        assert "$4,620" in text  # spend: 14 days × (100 + 110 + 120)
        assert "March report" in text and "2026-03-01 to 2026-03-14" in text

    def test_csv_and_xlsx(self, submit, api_client, campaigns):
        csv_id = create(submit, api_client, format="csv").json()["id"]
        content = download(api_client, csv_id).decode()
        rows = list(csv.reader(io.StringIO(content)))
        assert rows[0] == ["March report"]
        top = rows.index(["Top campaigns"])
        assert rows[top + 1][:4] == ["Campaign", "Platform", "Status", "Spend"]
        names = [r[0] for r in rows[top + 2:top + 5]]
        assert "'=HYPERLINK(\"http://evil\")" in names  # a formula-looking name is kept as text
        assert any(r[:1] == ["Daily trend"] for r in rows)  # the chart's data as a table

        xlsx_id = create(submit, api_client, format="xlsx").json()["id"]
        workbook = load_workbook(io.BytesIO(download(api_client, xlsx_id)))
        assert workbook.sheetnames[0] == "Summary" and "Top campaigns" in workbook.sheetnames
        sheet = workbook["Top campaigns"]
        spends = [sheet.cell(row=r, column=4).value for r in range(2, 5)]
        assert sorted(spends) == [1400, 1540, 1680] and sheet.cell(row=2, column=4).number_format == "#,##0.00"

    def test_channel_breakdown_with_data_driven_attribution(self, submit, api_client, campaigns, journeys):
        # 35 conversions on 2026-03-16: 20 × email → paid_social (100 each), 15 × search (40 each). Chain: start →
        # email 20/35 → paid_social → conversion; start → search 15/35 → conversion. Removal effects 20/35, 20/35,
        # 15/35 → conversions 35 × 20/55, 35 × 20/55, 35 × 15/55; value removal effects 2000/2600 (twice) and
        # 600/2600 → revenue 2600 × 2000/4600 = 1,130.43 (twice), 2600 × 600/4600 = 339.13.
        journeys.add([("email", 4), ("paid_social", 1)], revenue=100, times=20).add([("search", 1)], revenue=40,
                                                                                    times=15).save()
        march = {"start": "2026-03-01", "end": "2026-03-17"}
        report_id = create(submit, api_client, template_id="channel_breakdown", date_range=march).json()["id"]
        reader = pypdf.PdfReader(io.BytesIO(download(api_client, report_id)))
        text = "\n".join(page.extract_text() for page in reader.pages)
        assert "Attribution by channel (data-driven)" in text
        for channel in ("email", "paid_social", "search"):
            assert channel in text
        assert "$1,130.43" in text and "$339.13" in text and "36.36%" in text and "27.27%" in text
        assert sum(len(page.images) for page in reader.pages) == 2  # platforms chart, attribution pie
        # the same view as a CSV export: the channels' credit adds up to the 35 conversions
        export = submit(api_client, f"{URL}/export", {"type": "attribution", "format": "csv"}).json()
        assert export["kind"] == "channel_breakdown"
        rows = list(csv.reader(io.StringIO(download(api_client, export["id"]).decode())))
        top = rows.index(["Attribution by channel (data-driven)"])
        assert rows[top + 1] == ["Channel", "Attributed conversions", "Attributed revenue", "Share"]
        credit = {r[0]: (float(r[1]), float(r[2])) for r in rows[top + 2:top + 5]}
        assert {name: conv for name, (conv, _) in credit.items()} == {"email": 12.73, "paid_social": 12.73,
                                                                       "search": 9.54}
        assert sorted(rev for _, rev in credit.values()) == [339.13, 1130.43, 1130.44]  # rounded to sum to 2,600

    def test_channel_breakdown_without_enough_conversions_says_so(self, submit, api_client, campaigns, journeys):
        journeys.add([("email", 1)], revenue=10, times=3).save()
        march = {"start": "2026-03-01", "end": "2026-03-17"}
        report_id = create(submit, api_client, template_id="channel_breakdown", date_range=march).json()["id"]
        text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(download(api_client, report_id))).pages)
        assert "needs at least 30 conversions in the period; found 3" in text
        assert "Attribution by channel (data-driven)" not in text

    def test_audience_report_and_custom_template(self, submit, api_client, tenant, campaigns):
        custom = ReportTemplateFactory(tenant=tenant, kind="campaign_detail", sections=["campaigns_table"],
                                       metrics=["spend"], include_charts=False)
        report_id = create(submit, api_client, template_id=str(custom.pk)).json()["id"]
        reader = pypdf.PdfReader(io.BytesIO(download(api_client, report_id)))
        assert len(reader.pages) == 1 and not reader.pages[0].images
        assert "ROAS" not in reader.pages[0].extract_text()
        from cdp.models import Profile

        for i, stage in enumerate(("customer", "customer", "lead")):
            Profile.objects.unscoped().create(tenant=tenant, email=f"a{i}@shop.example", lifecycle_stage=stage)
        audience = create(submit, api_client, template_id="audience_report").json()
        assert api_client.get(f"{URL}/reports/{audience['id']}").json()["status"] == "ready"
        reader = pypdf.PdfReader(io.BytesIO(download(api_client, audience["id"])))
        text = "\n".join(page.extract_text() for page in reader.pages)
        assert "profiles\n 3\npurchasers\n 0" in text and "lead\n 1\ncustomer\n 2" in text
        assert "no purchase yet\n 3" in text  # RFM: nobody has bought
        assert "Churn risk: Churn predictions have not been computed yet" in text  # no figures invented
        assert sum(len(page.images) for page in reader.pages) == 1  # profiles by lifecycle stage

    def test_client_report_needs_a_visible_client(self, submit, api_client, tenant, campaigns, make_client):
        from tests.workflow.factories import ClientFactory

        client = ClientFactory(tenant=tenant, name="Acme")
        body = assert_error(create(submit, api_client, template_id="client_report"), 422)
        assert "filters.client_id" in body["errors"]
        other = ClientFactory(tenant=TenantFactory())
        assert "filters.client_id" in assert_error(create(submit, api_client, template_id="client_report",
                                                          filters={"client_id": str(other.pk)}), 422)["errors"]
        analyst = make_client(UserFactory(tenant=tenant, role="analyst"))  # no membership: does not see Acme
        assert_error(create(submit, analyst, template_id="client_report", filters={"client_id": str(client.pk)}), 422)
        ok = create(submit, api_client, template_id="client_report", filters={"client_id": str(client.pk)})
        assert ok.status_code == 202 and ok.json()["filters"] == {"client_id": str(client.pk)}

    @pytest.mark.parametrize("change, field", [
        ({"template_id": "horoscope"}, "template_id"),
        ({"template_id": "00000000-0000-0000-0000-000000000000"}, "template_id"),
        ({"format": "docx"}, "format"),
        ({"date_range": {"start": "2026-03-10", "end": "2026-03-01"}}, "date_range.start"),
        ({"date_range": {"start": "2026-03-10", "end": "2026-03-30"}}, "date_range.end"),
        ({"date_range": {"start": "2024-01-01", "end": "2025-06-01"}}, "date_range.end"),
        ({"date_range": {"start": "2020-01-01", "end": "2020-01-31"}}, "date_range.start"),
        ({"date_range": {"start": "yesterday", "end": "2026-03-01"}}, "date_range.start"),
        ({"owner_id": "x"}, "owner_id"),
    ])
    def test_bad_requests_write_nothing(self, submit, api_client, change, field):
        body = assert_error(create(submit, api_client, **change), 422, "VALIDATION_ERROR")
        assert field in body["errors"], body
        assert not Report.objects.unscoped().exists()

    def test_not_ready_roles_scopes_and_delete(self, submit, api_client, tenant, user, make_client, make_key_client):
        pending = ReportFactory(tenant=tenant, status="pending")
        assert_error(api_client.get(f"{URL}/reports/{pending.pk}/download"), 409, "REPORT_NOT_READY")
        viewer = make_client(UserFactory(tenant=tenant, role="viewer"))
        assert_error(create(submit, viewer), 403, "FORBIDDEN")
        assert viewer.get(f"{URL}/reports").json()["total"] == 1
        assert create(submit, make_key_client(user, scopes=["write:reporting"])).status_code == 202
        assert_error(create(submit, make_key_client(user, scopes=["read:reporting"])), 403)
        assert_error(make_key_client(user, scopes=["read:analytics"]).get(f"{URL}/reports"), 403)
        assert api_client.delete(f"{URL}/reports/{pending.pk}").status_code == 204

    def test_list_has_constant_queries(self, api_client, tenant, django_assert_max_num_queries):
        for _ in range(15):
            ReportFactory(tenant=tenant)
        with django_assert_max_num_queries(8):
            assert api_client.get(f"{URL}/reports", {"limit": 50}).json()["total"] == 15


class TestExport:
    def test_dashboard_export(self, submit, api_client, campaigns):
        response = submit(api_client, f"{URL}/export", {"type": "dashboard", "format": "pdf", "include_charts": True})
        assert response.status_code == 202, response.content
        body = api_client.get(f"{URL}/reports/{response.json()['id']}").json()
        assert body["status"] == "ready" and body["kind"] == "performance_summary"
        assert body["date_range"] == {"start": "2026-02-17", "end": "2026-03-18"}  # the last 30 days
        reader = pypdf.PdfReader(io.BytesIO(download(api_client, body["id"])))
        assert sum(len(p.images) for p in reader.pages) == 2  # daily trend, platforms
        no_charts = submit(api_client, f"{URL}/export", {"format": "pdf", "include_charts": False}).json()
        reader = pypdf.PdfReader(io.BytesIO(download(api_client, no_charts["id"])))
        assert sum(len(p.images) for p in reader.pages) == 0

    def test_export_types_and_errors(self, submit, api_client, campaigns):
        xlsx = submit(api_client, f"{URL}/export", {"type": "campaigns", "format": "xlsx"}).json()
        assert xlsx["kind"] == "campaign_detail" and xlsx["format"] == "xlsx"
        assert "type" in assert_error(submit(api_client, f"{URL}/export", {"type": "everything"}),
                                      422)["errors"]
        assert "date_range.end" in assert_error(submit(api_client, f"{URL}/export", {
            "date_range": {"start": "2026-03-01", "end": "2026-04-01"}}), 422)["errors"]


def test_a_failed_render_is_recorded(tenant, scoped):
    from analytics.reporting.services import report_render

    report = ReportFactory(tenant=tenant, template_key="retired", kind="retired")  # a kind that no longer exists
    assert report_render(tenant=tenant, report=report).status == "failed"
    report.refresh_from_db()
    assert report.status == "failed" and report.error.startswith("AttributeError") and report.file == ""
