"""SSRF: outbound targets users give us — webhooks, Slack incoming-webhook URLs (a user's and the tenant's),
creative media URLs — must never reach loopback, private, link-local or metadata addresses, however written.

Every target is https (plain http is refused outside DEBUG anyway), so the address checks themselves are attacked.
At creation every literal form is a 422 naming the field (IPv4 in decimal, octal, hex and short forms, IPv6 and
IPv4-mapped IPv6, zone ids, credentials and fragments hiding the host, other schemes, local names). At delivery a
host name is resolved and every address vetted, so a DNS name that points inside — or a row stored before these
checks — is refused with a recorded failure and no connection; redirects are never followed.
"""
from __future__ import annotations

import httpx
import pytest

from accounts.models import SlackDestination
from accounts.notifications.channels import notification_slack_deliver
from integrations.oauth.providers import PROVIDERS, SALESFORCE_HOSTS, ZOHO_ACCOUNTS_SERVERS, OAuthTokenError, _host_ok
from integrations.webhooks.models import Webhook, WebhookDelivery
from stratum.api import net
from tests.accounts.factories import SlackDestinationFactory
from tests.helpers import client_for
from tests.webhooks.factories import WebhookFactory
from tests.workflow.factories import ClientFactory

INTERNAL_URLS = (
    # loopback, however written
    "https://127.0.0.1/hook", "https://127.0.0.1:6379/", "https://localhost/hook", "https://LOCALHOST./hook",
    "https://app.localhost/hook", "https://[::1]/hook", "https://0.0.0.0/hook", "https://[::]/hook",
    "https://127.1/hook",
    "https://0177.0.0.1/hook", "https://0x7f.0.0.1/hook", "https://0x7f000001/hook", "https://2130706433/hook",
    "https://017700000001/hook", "https://127.000.000.001/hook", "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:7f00:1]/hook", "https://[0:0:0:0:0:ffff:127.0.0.1]/hook", "https://[::127.0.0.1]/hook",
    "https://[2002:7f00:1::]/hook", "https://[64:ff9b::7f00:1]/hook", "https://[64:ff9b::a9fe:a9fe]/latest/",
    "https://[64:ff9b:1::a00:1]/hook",
    "https://%31%32%37.0.0.1/hook", "https://127.0.0.1.:80/hook",
    # private and shared address space
    "https://10.0.0.1/hook", "https://10.1/hook", "https://172.16.5.4/hook", "https://192.168.1.1/hook",
    "https://100.64.0.1/hook", "https://[fd00::1]/hook", "https://[fc00::1]/hook", "https://[::ffff:10.0.0.1]/hook",
    "https://192.0.0.8/hook", "https://198.18.0.1/hook",
    # link-local and cloud metadata
    "https://169.254.169.254/latest/meta-data/", "https://[fe80::1]/hook", "https://[fe80::1%25eth0]/hook",
    "https://0251.0376.0251.0376/latest/meta-data/", "https://2852039166/latest/meta-data/",
    "https://0xa9fea9fe/latest/meta-data/", "https://[::ffff:169.254.169.254]/latest/meta-data/",
    "https://[::ffff:a9fe:a9fe]/latest/meta-data/", "https://metadata.google.internal/computeMetadata/v1/",
    "https://metadata/computeMetadata/v1/", "https://instance-data/latest/", "https://[fd00:ec2::254]/latest/",
    # multicast, broadcast, reserved
    "https://224.0.0.1/hook", "https://255.255.255.255/hook", "https://240.0.0.1/hook",
    # other schemes and hiding tricks
    "file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "dict://127.0.0.1:11211/stat", "ftp://10.0.0.1/x",
    "ldap://127.0.0.1/", "javascript:alert(1)", "data:text/plain,hi", "//127.0.0.1/hook", "https:127.0.0.1/hook",
    "https://hooks.example.com@127.0.0.1/hook", "https://user:pass@hooks.example.com/hook",
    "https://127.0.0.1#@hooks.example.com/hook", "https://127.0.0.1:0/hook", "https://127.0.0.1:99999/hook",
    "https://router.home.arpa/hook", "https://intranet.local/hook", "https://db.internal/hook",
    "http://hooks.example.com/plain-http",
    # Unicode look-alikes the resolver folds to an address (NFKC/IDNA): circled, full-width, ideographic dots
    "https://①②⑦.⓪.⓪.①/hook", "https://⑯⑨.②⑤④.⑯⑨.②⑤④/latest/meta-data/", "https://１２７．０．０．１/hook",
    "https://169。254。169。254/latest/", "https://ｌｏｃａｌｈｏｓｔ/hook", "https://⑩.①/hook",
    "https://metadata.google.ｉｎｔｅｒｎａｌ/computeMetadata/v1/",
)
# Host names that resolve inside (the DNS answer is the attack; the name itself looks public).
RESOLVED = {
    "a private address": ["10.0.0.7"], "the metadata service": ["169.254.169.254"], "IPv6 loopback": ["::1"],
    "an IPv6 unique-local address": ["fd00::5"], "an IPv4-mapped private address": ["::ffff:192.168.0.3"],
    "a public and a private address": ["93.184.216.34", "127.0.0.1"], "the unspecified address": ["0.0.0.0"],
    "6to4 of loopback": ["2002:7f00:1::1"], "NAT64 of the metadata service": ["64:ff9b::a9fe:a9fe"],
    "an IETF special-purpose address": ["192.0.0.8"],
}
PUBLIC_ADDRESS = ["93.184.216.34"]


@pytest.fixture
def owner(user, settings):
    settings.RATELIMIT_ENABLED = False
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    return user


def _names(response, field: str) -> bool:
    try:
        return response.status_code == 422 and field in (response.json().get("errors") or {})
    except ValueError:
        return False


@pytest.mark.attack("ssrf")
def test_internal_targets_are_refused_when_given(hostile, owner, network):
    api = client_for(owner)
    existing = WebhookFactory(tenant=owner.tenant)
    client = ClientFactory(tenant=owner.tenant)
    for url in INTERNAL_URLS:
        calls = (
            ("POST /webhooks", api.post("/api/v1/webhooks", {"name": "w", "url": url, "events": ["campaign.paused"]},
                                        format="json"), "url"),
            ("PATCH /webhooks/{id}", api.patch(f"/api/v1/webhooks/{existing.pk}", {"url": url}, format="json"), "url"),
            ("PUT /notifications/slack", api.put("/api/v1/notifications/slack", {"webhook_url": url}, format="json"),
             "webhook_url"),
            ("PUT /notifications/slack/tenant", api.put("/api/v1/notifications/slack/tenant", {"webhook_url": url},
                                                        format="json"), "webhook_url"),
            ("POST /creative-submissions", api.post("/api/v1/creative-submissions", {
                "name": "c", "ad_type": "image", "media_url": url, "client_id": str(client.pk)}, format="json"),
             "media_url"),
        )
        for label, response, field in calls:
            hostile.expect("ssrf", f"{label} with {url}", _names(response, field),
                           f"{response.status_code} {response.content[:160]!r}")
    existing.refresh_from_db()
    assert existing.url.startswith("https://hooks.example.com")
    assert Webhook.objects.for_tenant(owner.tenant).count() == 1
    assert not SlackDestination.objects.for_tenant(owner.tenant).exists()
    assert not network.requests, "an internal target was contacted"


@pytest.mark.attack("ssrf")
def test_internal_targets_are_refused_when_delivering(hostile, owner, network, monkeypatch):
    """Stored rows are vetted again at every delivery: DNS answers pointing inside, and literal internal URLs that
    reached the database some other way (an import, an older version) — refused, recorded, never connected."""
    api = client_for(owner)
    answers: dict[str, list[str]] = {}
    monkeypatch.setattr(net, "resolve", lambda host, port: answers.get(host, PUBLIC_ADDRESS))
    for label, addresses in RESOLVED.items():
        host = f"hooks-{len(answers)}.partner.example"
        answers[host] = addresses
        webhook = WebhookFactory(tenant=owner.tenant, url=f"https://{host}/stratum")
        response = api.post(f"/api/v1/webhooks/{webhook.pk}/test")
        attempt = (response.json().get("attempts") or [{}])[0] if response.status_code == 200 else {}
        hostile.expect("ssrf", f"webhook whose host resolves to {label}", response.status_code == 200
                       and response.json()["status"] != WebhookDelivery.Status.SUCCEEDED
                       and "Refused target" in (attempt.get("error") or ""), response.content[:240])
        slack = SlackDestinationFactory(tenant=owner.tenant, user=owner, url=f"https://{host}/services/T/B/X")
        result = notification_slack_deliver(tenant=owner.tenant, user_ids=[str(owner.pk)], title="t", body="b")
        slack.refresh_from_db()
        hostile.expect("ssrf", f"Slack URL whose host resolves to {label}",
                       result["failed"] == 1 and "non-public" in slack.last_error, (result, slack.last_error))
        slack.delete()
    for url in ("http://127.0.0.1/hook", "http://169.254.169.254/latest/meta-data/", "http://[::1]/hook",
                "http://10.0.0.1/hook", "http://[::ffff:127.0.0.1]/hook"):
        webhook = WebhookFactory(tenant=owner.tenant, url=url)
        response = api.post(f"/api/v1/webhooks/{webhook.pk}/test")
        hostile.expect("ssrf", f"stored webhook row with {url}", response.status_code == 200
                       and response.json()["status"] != WebhookDelivery.Status.SUCCEEDED, response.content[:200])
        slack = SlackDestinationFactory(tenant=owner.tenant, user=owner, url=url)
        result = notification_slack_deliver(tenant=owner.tenant, user_ids=[str(owner.pk)], title="t", body="b")
        hostile.expect("ssrf", f"stored Slack row with {url}", result["failed"] == 1, result)
        slack.delete()
    hostile.expect("ssrf", "nothing was connected", not network.requests, sorted(network.hosts()))


@pytest.mark.attack("ssrf")
def test_redirects_to_internal_targets_are_not_followed(hostile, owner, network, monkeypatch):
    api = client_for(owner)
    monkeypatch.setattr(net, "resolve", lambda host, port: PUBLIC_ADDRESS)
    for status, location in ((302, "http://169.254.169.254/latest/meta-data/"), (301, "http://127.0.0.1:6379/"),
                             (307, "http://[::1]/admin"), (308, "http://10.0.0.1/"),
                             (303, "http://metadata.google.internal/")):
        host = f"redirect-{status}.partner.example"
        network.on(host, lambda request, s=status, loc=location: httpx.Response(s, headers={"Location": loc}))
        webhook = WebhookFactory(tenant=owner.tenant, url=f"https://{host}/stratum")
        response = api.post(f"/api/v1/webhooks/{webhook.pk}/test")
        contacted = {r.url.host for r in network.requests}
        hostile.expect("ssrf", f"webhook answered {status} → {location}", response.status_code == 200
                       and response.json()["status"] != WebhookDelivery.Status.SUCCEEDED and contacted <= {
                           f"redirect-{s}.partner.example" for s in (301, 302, 303, 307, 308)},
                       (response.content[:200], contacted))
        SlackDestination.objects.for_tenant(owner.tenant).delete()
        SlackDestinationFactory(tenant=owner.tenant, user=owner, url=f"https://{host}/services/T/B/X")
        result = notification_slack_deliver(tenant=owner.tenant, user_ids=[str(owner.pk)], title="t", body="b")
        hostile.expect("ssrf", f"Slack answered {status} → {location}", result["failed"] == 1 and {
            r.url.host for r in network.requests} == contacted, result)


@pytest.mark.attack("ssrf")
def test_provider_named_hosts_stay_on_the_providers_domains(hostile):
    """Hosts an OAuth provider or its callback names (Salesforce instance_url, Zoho accounts-server) are
    checked against the provider's own domains before any token or secret is sent there."""
    for url in ("https://169.254.169.254/", "https://evil.example/services", "http://na1.salesforce.com",
                "https://na1.salesforce.com.evil.example", "https://na1.salesforce.com@127.0.0.1/",
                "https://127.0.0.1#.salesforce.com", "https://evilsalesforce.com"):
        hostile.expect("ssrf", f"Salesforce instance_url {url}", not _host_ok(url, SALESFORCE_HOSTS), url)
    zoho = PROVIDERS["zoho"]
    for server in ("http://127.0.0.1", "https://accounts.zoho.com.evil.example", "https://169.254.169.254",
                   "https://accounts.zoho.com@127.0.0.1", "file:///etc/passwd"):
        try:
            zoho.accounts_server({"accounts-server": server})
            refused = False
        except OAuthTokenError:
            refused = True
        hostile.expect("ssrf", f"Zoho accounts-server {server}", refused, server)
    assert zoho.accounts_server({"accounts-server": ZOHO_ACCOUNTS_SERVERS[1]}) == ZOHO_ACCOUNTS_SERVERS[1]
