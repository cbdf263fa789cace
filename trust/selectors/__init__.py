"""Reads of the trust engine: signal health computation, gate status, audit queries, autopilot proposals and
status, rule evaluation (SQL), backtests."""
