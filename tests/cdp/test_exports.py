"""Audience export: streamed CSV, formula-injection escaping, large exports as a job with a download link."""
import csv
import io

from cdp.services import exports as export_services
from tests.cdp.factories import EventFactory, ProfileFactory, SegmentFactory
from tests.helpers import assert_error

URL = "/api/v1/cdp/audiences/export"


def rows_of(response) -> list[list[str]]:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(content.decode())))


def make_segment(tenant):
    ann = ProfileFactory(tenant=tenant, email="ann@shop.example", external_id="=HYPERLINK(\"http://evil\")",
                         lifecycle_stage="customer", traits={"note": "+SUM(A1:A9)", "city": "Oslo", "tags": ["a"]})
    bob = ProfileFactory(tenant=tenant, email="bob@shop.example", lifecycle_stage="customer",
                         traits={"city": "-Bergen", "score": -3})
    ProfileFactory(tenant=tenant, email="lead@shop.example", lifecycle_stage="lead")
    EventFactory(tenant=tenant, profile=ann, event_type="purchase")
    EventFactory(tenant=tenant, profile=ann, event_type="page_view")
    segment = SegmentFactory(tenant=tenant, conditions={"operator": "and", "rules": [
        {"field": "lifecycle_stage", "operator": "equals", "value": "customer"}]})
    return segment, ann, bob


def test_streams_csv_with_traits_and_events_escaping_formulas(api_client, tenant):
    segment, ann, bob = make_segment(tenant)
    response = api_client.post(URL, {"segment_id": str(segment.pk), "format": "csv", "include_traits": True,
                                     "include_events": True}, format="json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = rows_of(response)
    header = rows[0]
    assert header[:5] == ["profile_id", "external_id", "email", "phone", "lifecycle_stage"]
    assert header[13:] == ["trait:city", "trait:note", "trait:score", "trait:tags", "events_count", "first_event_at",
                           "last_event_at"]
    by_email = {row[2]: dict(zip(header, row, strict=False)) for row in rows[1:]}
    assert set(by_email) == {"ann@shop.example", "bob@shop.example"}
    assert by_email["ann@shop.example"]["external_id"] == "'=HYPERLINK(\"http://evil\")"
    assert by_email["ann@shop.example"]["trait:note"] == "'+SUM(A1:A9)"
    assert by_email["ann@shop.example"]["trait:tags"] == '["a"]'
    assert by_email["ann@shop.example"]["events_count"] == "2"
    assert by_email["bob@shop.example"]["trait:city"] == "'-Bergen"
    assert by_email["bob@shop.example"]["trait:score"] == "-3"  # a number is data, not a formula
    assert by_email["bob@shop.example"]["events_count"] == "0"


def test_without_traits_and_events(api_client, tenant):
    segment, _, _ = make_segment(tenant)
    rows = rows_of(api_client.post(URL, {"segment_id": str(segment.pk)}, format="json"))
    assert len(rows) == 3 and len(rows[0]) == 13


def test_large_export_runs_as_a_job_with_a_download_link(api_client, tenant, monkeypatch,
                                                         django_capture_on_commit_callbacks, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(export_services, "STREAM_MAX_ROWS", 1)
    monkeypatch.setattr("cdp.views.audiences.STREAM_MAX_ROWS", 1)
    segment, _, _ = make_segment(tenant)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(URL, {"segment_id": str(segment.pk), "include_traits": True}, format="json")
    assert response.status_code == 202
    job = api_client.get(f"/api/v1/cdp/audiences/exports/{response.json()['id']}").json()
    assert job["status"] == "ready" and job["row_count"] == 2
    assert job["download_url"].endswith(f"/api/v1/cdp/audiences/exports/{job['id']}/download")
    download = api_client.get(f"/api/v1/cdp/audiences/exports/{job['id']}/download")
    assert download.status_code == 200
    rows = rows_of(download)
    assert len(rows) == 3 and "trait:note" in rows[0]


def test_job_not_ready_and_bad_input(api_client, tenant):
    from tests.cdp.factories import AudienceExportFactory

    export = AudienceExportFactory(tenant=tenant)
    assert_error(api_client.get(f"/api/v1/cdp/audiences/exports/{export.pk}/download"), 409, "EXPORT_NOT_READY")
    assert_error(api_client.post(URL, {"segment_id": "00000000-0000-0000-0000-000000000000"}, format="json"), 404)
    segment = SegmentFactory(tenant=tenant)
    assert_error(api_client.post(URL, {"segment_id": str(segment.pk), "format": "xlsx"}, format="json"), 422)
    assert_error(api_client.post(URL, {"segment_id": str(segment.pk), "columns": ["email"]}, format="json"), 422)
