"""Account writes, one module per concern:

- `registration`: sign-up, e-mail verification and its resend, expiry of unverified registrations
- `login`: login through the shared lock-out (accounts.lockout)
- `sessions`: token pairs, refresh (single-use), logout, revoking every session
- `passwords`: forgot, reset, change
- `onetime`: the single-use e-mailed links
- `members`: profile, invitations, roles, deactivation
- `api_keys`: API keys
- `tenants`: tenant creation (unique slugs) and settings
- `mailing`: account e-mails, queued after commit

Only the names other apps, scripts and tests use are re-exported here.
"""
from .api_keys import api_key_create
from .sessions import tokens_for_user

__all__ = ["api_key_create", "tokens_for_user"]
