"""Pages for browser users: what the links in Stratum's e-mails open when FRONTEND_URL is this server (the default,
and under `make run`). Django templates, plain HTML forms (no JavaScript), CSRF-protected (but the one-click
unsubscribe of RFC 8058, which a signed token authorises), each posting to the service the API calls for the same
thing, with the same answers (nothing tells whether an address has an account).

| Path | For | Calls |
| --- | --- | --- |
| `/verify-email?token=` | the verification mail: a button, then verified | `registration.email_verify` |
| `/reset-password?token=` | reset and "someone tried to sign up" mails: set a new password | `passwords.password_reset` |
| `/accept-invite?token=` | the invitation mail: choose a password, join the workspace | `passwords.password_reset` |
| `/forgot-password`, `/resend-verification` | ask for a fresh link when one is dead | `password_forgot`, `verification_resend` |
| `/login` | where each flow ends: how to sign in (through the API) | — |
| `/notifications` | "your notifications" in notification mails: where they are read | — |
| `/settings/notifications?token=` | which e-mails to get (a signed link in every notification mail) | `notification_email_preferences_set` |
| `/unsubscribe?token=` | List-Unsubscribe: GET confirms, POST unsubscribes (one click, no login) | `notification_email_unsubscribe` |
"""
