"""seed_demo: two agency clients with members, tasks and comments, default alerts run against the demo ad
accounts (so they have instances), scored leads (one client with enough outcomes for the fitted model) and
creative submissions. Idempotent: existing demo rows are kept, missing ones added."""
from __future__ import annotations

import random

from django.utils import timezone

from accounts.models import User
from campaigns.models import AdAccount

from . import leadscoring
from .models import Alert, Client, ClientMembership, CreativeSubmission, Lead, Task
from .services.alert_runs import alert_run
from .services.alerts import alert_create, alert_defaults_create
from .services.creatives import creative_approve, creative_create, creative_reject
from .services.leads import lead_model_fit
from .services.tasks import comment_create, task_create

CLIENTS = (("Northwind Outdoor", "https://logos.stratum-demo.example/northwind.png"),
           ("Bluebird Coffee", "https://logos.stratum-demo.example/bluebird.png"))
# name, e-mail local part, tenant role, {client: client role}
PEOPLE = (
    ("Maya Chen", "maya.chen", "manager", {"Northwind Outdoor": "admin", "Bluebird Coffee": "member"}),
    ("Leo Park", "leo.park", "analyst", {"Northwind Outdoor": "member"}),
    ("Priya Nair", "priya.nair", "analyst", {"Bluebird Coffee": "admin"}),
    ("Sam Rivera", "sam.rivera", "viewer", {"Northwind Outdoor": "viewer", "Bluebird Coffee": "viewer"}),
)
TASKS = (  # name, type, priority, status, assignee indexes into the client's people, comments
    ("Refresh summer prospecting creatives", "review_creative", "High", "in_progress", (0,),
     ("First drafts are in the shared folder.", "Headline B tests better on mobile.")),
    ("Weekly performance review", "review_report", "Medium", "pending", (0, 1), ("Numbers are in the report.",)),
    ("Rebalance budget towards search", "other", "High", "pending", (1,), ()),
    ("Audit conversion tracking on checkout", "other", "Medium", "completed", (0,), ("Pixel fires twice; fixed.",)),
    ("Plan Q3 brand campaign", "other", "Low", "pending", (), ()),
    ("Archive paused test campaigns", "other", "Backlog", "cancelled", (1,), ()),
)
FREE_MAIL = ("gmail.com", "outlook.com", "yahoo.com")
BUSINESS = ("acme.example", "globex.example", "initech.example", "umbrella.example", "hooli.example")


def _people(tenant) -> dict[str, User]:
    users = {}
    for name, local, role, _ in PEOPLE:
        user, created = User.objects.get_or_create(
            email=f"{local}+{tenant.slug}@stratum.local",
            defaults={"tenant": tenant, "name": name, "role": role, "is_verified": True})
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        users[name] = user
    return users


def _tasks(*, tenant, client: Client, team: list[User], owner: User | None) -> int:
    if Task.objects.filter(client=client, related_object_type__isnull=True).exists():
        return 0
    for name, kind, priority, status, assignees, comments in TASKS:
        task = task_create(tenant=tenant, client=client, name=name, task_type=kind, priority=priority,
                           assignees=[team[i] for i in assignees if i < len(team)], created_by=owner,
                           description=f"{name} for {client.name}.")
        if status != "pending":
            closed = status in ("completed", "cancelled")
            Task.objects.filter(pk=task.pk).update(status=status, completed_by=owner if closed else None,
                                                   completed_at=timezone.now() if closed else None)
        for index, text in enumerate(comments):
            comment_create(tenant=tenant, task=task, user=team[index % len(team)] if team else owner, comment=text)
    return len(TASKS)


def _creatives(*, tenant, client: Client, submitter: User, reviewer: User) -> None:
    if CreativeSubmission.objects.filter(client=client).exists():
        return
    slug = client.name.split()[0].lower()
    made = [creative_create(tenant=tenant, client=client, submitted_by=submitter, name=f"{client.name} {label}",
                            ad_type=kind, media_url=f"https://cdn.stratum-demo.example/{slug}/{file}",
                            headline=headline, primary_text=text)
            for label, kind, file, headline, text in (
                ("summer banner", "image", "summer-banner.jpg", "Summer Sale", "Get 50% off on all items"),
                ("product video", "video", "product-15s.mp4", "Made to last", "See it in action"),
                ("carousel", "carousel", "carousel-1.png", "New arrivals", "Swipe through the collection"))]
    creative_approve(tenant=tenant, submission=made[0], actor=reviewer)
    creative_reject(tenant=tenant, submission=made[2], actor=reviewer, reason="Logo too small on the first card.")


def _leads(*, tenant, client: Client, count: int, labelled: bool) -> None:
    rng = random.Random(client.name)
    weights = dict(leadscoring.DEFAULT_WEIGHTS)
    rows = []
    for i in range(count):
        keen = rng.random() < 0.35
        raw = {"page_views": rng.randint(6, 30) if keen else rng.randint(1, 8),
               "time_on_site": rng.randint(180, 900) if keen else rng.randint(10, 240),
               "form_submissions": rng.randint(1, 3) if keen else int(rng.random() < 0.15)}
        if rng.random() < 0.5:
            raw["company"] = rng.choice(("Acme", "Globex", "Initech", "Umbrella", "Hooli"))
        email = f"lead{i}@{rng.choice(BUSINESS if rng.random() < 0.6 else FREE_MAIL)}"
        parts = leadscoring.components(email=email, raw=raw)
        lead = Lead(tenant=tenant, client=client, email=email, raw_data=raw, source=rng.choice(("website", "webinar")),
                    value=parts.as_value(), score=leadscoring.formula_score(parts, weights))
        if labelled:
            converted = rng.random() < (0.55 if keen else 0.08)
            lead.outcome, lead.outcome_source = ("converted" if converted else "not_converted"), "api"
        rows.append(lead)
    Lead.objects.bulk_create(rows, ignore_conflicts=True)
    if labelled:
        lead_model_fit(tenant=tenant, client=client)


def seed(*, tenant, stdout) -> None:
    owner = User.objects.filter(tenant=tenant, role="owner", is_active=True).order_by("created_at").first()
    people = _people(tenant)
    accounts = list(AdAccount.objects.filter(platform="demo").order_by("external_id"))
    for index, (name, logo) in enumerate(CLIENTS):
        client, created = Client.objects.get_or_create(tenant=tenant, name=name, defaults={"logo": logo})
        members = []
        for person, _local, _role, roles in PEOPLE:
            if name in roles:
                ClientMembership.objects.get_or_create(tenant=tenant, client=client, user=people[person],
                                                       defaults={"role": roles[name]})
                members.append(people[person])
        mine = accounts[:2] if index == 0 else accounts[2:]
        AdAccount.objects.filter(pk__in=[a.pk for a in mine], client__isnull=True).update(client=client)
        alert_defaults_create(tenant=tenant, client=client, created_by=owner)
        if not Alert.objects.filter(client=client, alert_type="spend", is_default=False).exists():
            alert_create(tenant=tenant, client=client, name="Campaign spend above the account average",
                         alert_type="spend", created_by=owner, action_config={"create_task": True},
                         condition_config={"operator": "greater_than", "value": 10, "compare_to": "account_average"})
        workers = [m for m in members if m.role != "viewer"]
        added = _tasks(tenant=tenant, client=client, team=workers, owner=owner)
        _creatives(tenant=tenant, client=client, submitter=workers[-1] if workers else owner,
                   reviewer=workers[0] if workers else owner)
        instances = sum(alert_run(tenant=tenant, alert=alert).instances_created
                        for alert in Alert.objects.filter(client=client, is_enabled=True))
        _leads(tenant=tenant, client=client, count=260 if index == 0 else 120, labelled=index == 0)
        stdout.write(f"  {'added' if created else 'kept'} client {name}: {len(members)} members, {len(mine)} ad "
                     f"accounts, {added} new tasks, {instances} new alert instances")
