"""Predictive churn: the modified BG/NBD model on purchase histories, refreshed nightly."""
