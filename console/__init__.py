"""The staff console (Django admin, server-rendered, no CDN): the top layer that composes every app's services and
selectors for platform staff — overview figures and charts, the operations panel, the tenant page and its actions,
and the trail of staff actions (docs/console.md)."""
