"""Writes of the trust engine (keyword-only, tenant first). Other apps use:

- `signal_health_current(*, tenant, max_age=None) -> dict` — the latest signal health (refreshed when stale)
- `signal_health_refresh(*, tenant, trigger="schedule", now=None) -> dict` — compute and store a snapshot now
- `signal_health_summary(*, tenant) -> dict` — the dashboard's signal-health figure, cached (`signal_health_dashboard`
  uncached)
- `gate_check(*, tenant, actor, action, campaign, direction, money_impact=None, approval_threshold=None, …)`
  -> GateDecision — ask the trust gate before an automated change (writes the audit log)
- `circuit_breakers_check(*, tenant, now=None)`, `autopilot_run(*, tenant, trigger="schedule", now=None)`,
  `rule_run(*, tenant, rule, trigger="manual", now=None)`
"""
from .audit import AUTOPILOT, SYSTEM, Actor, actor_for_request, audit_record
from .autopilot import action_approve, action_execute, action_reject, action_rollback, actions_expire, autopilot_run
from .breakers import circuit_breaker_resume, circuit_breakers_check
from .dashboard import signal_health_dashboard, signal_health_summary
from .gate import gate_check
from .health import signal_health_current, signal_health_refresh
from .rules import rule_create, rule_delete, rule_run, rule_update
from .settings import autopilot_settings_get, autopilot_settings_update

__all__ = [
    "AUTOPILOT", "SYSTEM", "Actor", "action_approve", "action_execute", "action_reject", "action_rollback",
    "actions_expire", "actor_for_request", "audit_record", "autopilot_run", "autopilot_settings_get",
    "autopilot_settings_update", "circuit_breaker_resume", "circuit_breakers_check", "gate_check", "rule_create",
    "rule_delete", "rule_run", "rule_update", "signal_health_current", "signal_health_dashboard",
    "signal_health_refresh", "signal_health_summary",
]
