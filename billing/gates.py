"""Moved to the kernel (stratum/api/entitlements.py); kept only until accounts/services.py imports it from there."""
from stratum.api.entitlements import limit_enforce

__all__ = ["limit_enforce"]
