"""`manage.py health`: the readiness checks of GET /health/ready, one line each, then Celery's beat heartbeat, worker
ping and queue depths (informational: they do not change the exit code); exits 1 when not ready."""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from stratum.api.health import READY_CHECKS, celery_report, readiness_report


class Command(BaseCommand):
    help = "Check the database, cache, Celery broker and migrations (as GET /health/ready); exit 1 when not ready."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the /health/ready body as JSON.")

    def handle(self, *args, **options):
        body, status = readiness_report()
        celery = celery_report() if body["checks"]["database"]["status"] == "ok" else None
        if options["json"]:
            self.stdout.write(json.dumps(body | ({"celery": celery} if celery else {}), indent=2))
        else:
            for name in READY_CHECKS:
                check = body["checks"][name]
                line = f"{name:<11} {check['status']}"
                if "detail" in check:
                    line += f"  {check['detail']}"
                if pending := check.get("pending"):
                    more = f", … {len(pending) - 5} more" if len(pending) > 5 else ""
                    line += f" ({', '.join(pending[:5])}{more})"
                self.stdout.write(line)
            if celery is not None:
                beat, workers = celery["beat"], celery["workers"]
                lag = f"  last heartbeat {beat['lag_seconds']} s ago" if "lag_seconds" in beat else ""
                self.stdout.write(f"{'beat':<11} {beat['status']}{lag}")
                names = f"  {', '.join(workers['workers'])}" if workers.get("workers") else ""
                self.stdout.write(f"{'workers':<11} {workers['status']}{names}")
                for queue, depth in celery["queues"].items():
                    self.stdout.write(f"{'queue':<11} {queue}: {depth} waiting")
        if status != 200:
            raise CommandError(body["detail"])
        if not options["json"]:
            self.stdout.write("ready")
