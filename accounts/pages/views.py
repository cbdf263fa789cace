"""The server-rendered pages e-mailed links open (see accounts/pages/__init__.py). Each view parses a form, calls the
one service the API calls for the same thing, and renders a template."""
from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from stratum.api.clientaddr import client_address
from stratum.api.exceptions import ValidationFailed
from stratum.api.ratelimit import take_token

from ..errors import InvalidToken
from ..models import OneTimeToken
from ..notifications import (
    notification_email_preferences_set,
    notification_email_unsubscribe,
    notification_preferences_get,
)
from ..notifications.channels import CATEGORY_LABELS
from ..notifications.links import LinkInvalid, preferences_token_read, preferences_url, unsubscribe_token_read
from ..services import passwords, registration
from ..services.onetime import one_time_token_check
from .forms import EmailForm, EmailPreferencesForm, PasswordSetForm, TokenForm

T = "accounts/pages/"
RESET_PURPOSES = (OneTimeToken.Purpose.RESET, OneTimeToken.Purpose.INVITE)  # what POST /auth/reset-password takes
INVITE_PURPOSES = (OneTimeToken.Purpose.INVITE,)
VERIFY_PURPOSES = (OneTimeToken.Purpose.VERIFY,)

# What a browser user is told after each flow, on the sign-in page (/login?done=…).
DONE = {
    "verified": "Your e-mail address is verified.",
    "password": "Your password is set. Every other session of your account has been signed out.",
    "invitation": "Welcome aboard: your password is set and your invitation accepted.",
}

# The links each dead end offers: a fresh link of the same kind.
INVALID_LINK_NEXT = {
    "verify": ("page-resend-verification", "Send me a new verification link"),
    "reset": ("page-forgot-password", "Send me a new reset link"),
    "invite": (None, "Ask the person who invited you to invite you again."),
    "preferences": (None, "Open the link in a more recent notification e-mail, or use the one-click unsubscribe "
                          "link any notification e-mail carries."),
    "unsubscribe": (None, "Open the link in a more recent notification e-mail."),
}


def _page(request: HttpRequest, template: str, context: dict | None = None, status: int = 200) -> HttpResponse:
    return render(request, T + template, context or {}, status=status)


def _invalid_link(request: HttpRequest, kind: str) -> HttpResponse:
    """A link that is malformed, tampered with, used or expired: 400 and what to do instead, never a 500."""
    name, text = INVALID_LINK_NEXT[kind]
    return _page(request, "link_invalid.html", {"next_href": reverse(name) if name else None, "next_text": text},
                 status=400)


def _signed_in_next(done: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(f"{reverse('page-login')}?{urlencode({'done': done})}")


def _throttled(request: HttpRequest) -> HttpResponse | None:
    """A form post takes a token from the caller's anonymous bucket, the one the public API endpoints use: the pages
    are no way around the API's limits (mail bombing through forgot-password, say)."""
    if not settings.RATELIMIT_ENABLED:
        return None
    state = take_token(f"ip:{client_address(request)}", *settings.RATELIMIT_ANONYMOUS)
    if state.allowed:
        return None
    response = _page(request, "throttled.html", {"retry_after": state.retry_after}, status=429)
    response["Retry-After"] = str(state.retry_after)
    return response


def _token(request: HttpRequest) -> str:
    return (request.POST.get("token") if request.method == "POST" else request.GET.get("token")) or ""


# --- verify e-mail, reset password, accept invitation ----------------------------------------

@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def verify_email(request: HttpRequest) -> HttpResponse:
    """GET shows a button; POST verifies. A link scanner that fetches the URL does not use the link up."""
    token = _token(request)
    if request.method == "POST":
        if (refused := _throttled(request)) is not None:
            return refused
        form = TokenForm(request.POST)
        try:
            if not form.is_valid():
                raise InvalidToken()
            registration.email_verify(token=form.cleaned_data["token"])
        except InvalidToken:
            return _invalid_link(request, "verify")
        return _signed_in_next("verified")
    try:
        link = one_time_token_check(raw=token, purposes=VERIFY_PURPOSES)
    except InvalidToken:
        return _invalid_link(request, "verify")
    return _page(request, "verify_email.html", {"form": TokenForm(initial={"token": token}), "email": link.user.email})


def _password_page(request: HttpRequest, *, kind: str, purposes: tuple[str, ...], template: str,
                   done: str) -> HttpResponse:
    if request.method == "POST" and (refused := _throttled(request)) is not None:
        return refused
    token = _token(request)
    try:
        link = one_time_token_check(raw=token, purposes=purposes)
    except InvalidToken:
        return _invalid_link(request, kind)
    form = PasswordSetForm(request.POST if request.method == "POST" else None, initial={"token": token})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                passwords.password_reset(token=form.cleaned_data["token"],
                                         new_password=form.cleaned_data["new_password"])
            except InvalidToken:
                return _invalid_link(request, kind)
            except ValidationFailed as exc:  # the password rules, as the API's 422 words them
                for message in (exc.errors or {}).get("password", [str(exc.detail)]):
                    form.add_error("new_password", message)
            else:
                return _signed_in_next(done)
        status = 422
    return _page(request, template, {"form": form, "email": link.user.email, "tenant_name": link.user.tenant.name
                                     if link.user.tenant_id else "", "role": link.user.role}, status=status)


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def reset_password(request: HttpRequest) -> HttpResponse:
    return _password_page(request, kind="reset", purposes=RESET_PURPOSES, template="reset_password.html",
                          done="password")


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def accept_invite(request: HttpRequest) -> HttpResponse:
    return _password_page(request, kind="invite", purposes=INVITE_PURPOSES, template="accept_invite.html",
                          done="invitation")


# --- ask for a fresh link (the same answers as the API: nothing says whether an account exists) ---------------

def _email_request_page(request: HttpRequest, *, template: str, service, answer: str) -> HttpResponse:
    form = EmailForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if (refused := _throttled(request)) is not None:
            return refused
        if form.is_valid():
            service(email=form.cleaned_data["email"])
            return _page(request, "link_requested.html", {"answer": answer})
        return _page(request, template, {"form": form}, status=422)
    return _page(request, template, {"form": form})


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def forgot_password(request: HttpRequest) -> HttpResponse:
    return _email_request_page(request, template="forgot_password.html", service=passwords.password_forgot,
                               answer=passwords.FORGOT_ANSWER)


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def resend_verification(request: HttpRequest) -> HttpResponse:
    return _email_request_page(request, template="resend_verification.html",
                               service=registration.verification_resend, answer=registration.RESEND_ANSWER)


@require_GET
def login(request: HttpRequest) -> HttpResponse:
    """Where every flow ends: how to sign in (the product is an API; its clients sign in through it)."""
    return _page(request, "login.html", {"done": DONE.get(request.GET.get("done", ""))})


# --- notifications -----------------------------------------------------------------------------

@require_GET
def notifications(request: HttpRequest) -> HttpResponse:
    """'Your notifications' in every notification mail: where they are read (no account data on this page)."""
    return _page(request, "notifications.html")


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def notification_settings(request: HttpRequest) -> HttpResponse:
    """Which e-mails to get, by the signed link in every notification mail; without one, how to get there."""
    if request.method == "POST" and (refused := _throttled(request)) is not None:
        return refused
    token = _token(request)
    if not token:
        return _page(request, "notification_settings_help.html")
    try:
        user = preferences_token_read(token)
    except LinkInvalid:
        return _invalid_link(request, "preferences")
    saved = False
    if request.method == "POST":
        form = EmailPreferencesForm(request.POST)
        if form.is_valid():  # only the token can be wrong, and it was read above
            notification_email_preferences_set(user=user, enabled=form.chosen())
            saved = True
    current = notification_preferences_get(user=user)["email"]
    form = EmailPreferencesForm(initial={"token": token, **current})
    return _page(request, "notification_settings.html", {"form": form, "email": user.email, "saved": saved})


@csrf_exempt  # RFC 8058: the mailbox provider POSTs with no cookie and no CSRF token; the signed token authorises
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest) -> HttpResponse:
    """GET: a confirmation page with a button. POST (the button, or the provider's one-click
    `List-Unsubscribe=One-Click`): that category's e-mails off for that user. Idempotent."""
    token = request.GET.get("token") or request.POST.get("token") or ""
    try:
        user, category = unsubscribe_token_read(token)
    except LinkInvalid:
        return _invalid_link(request, "unsubscribe")
    context = {"email": user.email, "category": CATEGORY_LABELS[category], "preferences_url": preferences_url(user=user),
               "action": f"{reverse('page-unsubscribe')}?{urlencode({'token': token})}"}
    if request.method == "POST":
        notification_email_unsubscribe(user=user, category=category)
        return _page(request, "unsubscribed.html", context)
    return _page(request, "unsubscribe.html", context)
