"""Account writes: registration, login and tokens, password flows, invitations, roles, API keys, tenant settings."""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from stratum.api.cache import cache  # falls back to process memory while Redis is down
from stratum.api.entitlements import limit_enforce
from stratum.api.exceptions import ApiError, Conflict, Forbidden, NotFound, ValidationFailed
from stratum.api.permissions import ROLE_OWNER, SCOPES

from . import emails
from .authentication import API_KEY_PREFIX
from .models import ApiKey, OneTimeToken, Tenant, User, hash_api_key
from .validators import TENANT_SETTING_KEYS, is_valid_currency, is_valid_timezone, normalize_phone


class InvalidCredentials(ApiError):
    status_code = 401
    default_code = "UNAUTHORIZED"
    default_detail = "Invalid e-mail or password."


class LoginLockedOut(ApiError):
    status_code = 429
    default_code = "RATE_LIMITED"
    default_detail = "Too many failed login attempts. Try again later."


class InvalidToken(ApiError):
    status_code = 400
    default_code = "INVALID_TOKEN"
    default_detail = "This link is invalid or has expired."


# --- helpers ---------------------------------------------------------------------------------

def _password_check(password: str, user: User | None = None) -> None:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationFailed(errors={"password": list(exc.messages)}) from exc


def _clean_phone(phone: str) -> str:
    phone = (phone or "").strip()
    if not phone:
        return ""
    if not re.fullmatch(r"\+?[0-9 ().-]{6,24}", phone):
        raise ValidationFailed(errors={"phone": ["Not a phone number."]})
    try:
        return normalize_phone(phone)
    except ValueError:
        return re.sub(r"[^0-9+]", "", phone)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:60] or "tenant"
    slug, n = base, 1
    while Tenant.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _issue_one_time_token(*, user: User, purpose: str, ttl: timedelta) -> str:
    raw = secrets.token_urlsafe(32)
    OneTimeToken.objects.create(user=user, purpose=purpose, token_hash=hashlib.sha256(raw.encode()).hexdigest(),
                                expires_at=timezone.now() + ttl)
    return raw


def _consume_one_time_token(*, raw: str, purposes: tuple[str, ...]) -> OneTimeToken:
    if not isinstance(raw, str) or not raw or len(raw) > 200:
        raise InvalidToken()
    digest = hashlib.sha256(raw.encode()).hexdigest()
    with transaction.atomic():
        token = (OneTimeToken.objects.select_for_update().select_related("user")
                 .filter(token_hash=digest, purpose__in=purposes).first())
        if token is None or token.used_at is not None or token.expires_at <= timezone.now():
            raise InvalidToken()
        token.used_at = timezone.now()
        token.save(update_fields=["used_at"])
    return token


def tokens_for_user(*, user: User) -> dict[str, Any]:
    refresh = RefreshToken.for_user(user)
    refresh["tenant_id"] = str(user.tenant_id) if user.tenant_id else None
    access = refresh.access_token
    return {
        "access_token": str(access),
        "refresh_token": str(refresh),
        "token_type": "bearer",
        "expires_in": int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()),
    }


def refresh_tokens_revoke_all(*, user: User) -> int:
    """Blacklists every outstanding refresh token of the user (password change/reset, deactivation)."""
    outstanding = list(OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True))
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in outstanding],
                                         ignore_conflicts=True)
    return len(outstanding)


# --- registration & login --------------------------------------------------------------------

@transaction.atomic
def user_register(*, email: str, password: str, name: str = "", phone: str = "", company: str = "") -> User:
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationFailed(errors={"email": ["A user with this e-mail already exists."]})
    _password_check(password, User(email=email, name=name))
    tenant_name = (company or "").strip() or (f"{name.strip()}'s workspace" if name.strip() else email.split("@")[0])
    tenant = Tenant.objects.create(name=tenant_name[:200], slug=_unique_slug(tenant_name),
                                   settings={"timezone": "UTC", "currency": "USD"})
    try:
        user = User.objects.create_user(email=email, password=password, name=name.strip(), phone=_clean_phone(phone),
                                        tenant=tenant, role=ROLE_OWNER)
    except IntegrityError:
        raise ValidationFailed(errors={"email": ["A user with this e-mail already exists."]}) from None
    raw = _issue_one_time_token(user=user, purpose=OneTimeToken.PURPOSE_VERIFY, ttl=timedelta(days=7))
    transaction.on_commit(lambda: emails.send_verification(user=user, token=raw))
    return user


def _lockout_keys(email: str, ip: str) -> tuple[str, str]:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return f"login-fail:e:{digest}", f"login-fail:ip:{ip}"


def _is_locked(email: str, ip: str) -> bool:
    email_key, ip_key = _lockout_keys(email, ip)
    return ((cache.get(email_key) or 0) >= settings.LOGIN_LOCKOUT_ATTEMPTS
            or (cache.get(ip_key) or 0) >= settings.LOGIN_LOCKOUT_IP_ATTEMPTS)


def _record_failure(email: str, ip: str) -> None:
    for key in _lockout_keys(email, ip):
        try:
            cache.add(key, 0, settings.LOGIN_LOCKOUT_SECONDS)
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, settings.LOGIN_LOCKOUT_SECONDS)


def user_login(*, email: str, password: str, ip: str) -> tuple[User, dict[str, Any]]:
    email = (email or "").strip().lower()
    if _is_locked(email, ip):
        raise LoginLockedOut(headers={"Retry-After": str(settings.LOGIN_LOCKOUT_SECONDS)})
    user = User.objects.select_related("tenant").filter(email__iexact=email).first()
    if user is None:
        User(email=email).set_password(password)  # same work as a real check: no timing oracle
        _record_failure(email, ip)
        raise InvalidCredentials()
    if not user.check_password(password) or not user.is_active:
        _record_failure(email, ip)
        raise InvalidCredentials()
    if user.tenant is not None and user.tenant.is_suspended:
        raise Forbidden("This account is suspended. Contact support.", "TENANT_SUSPENDED")
    cache.delete(_lockout_keys(email, ip)[0])
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    return user, tokens_for_user(user=user)


def tokens_refresh(*, refresh_token: str) -> dict[str, Any]:
    try:
        old = RefreshToken(refresh_token)
    except TokenError:
        raise ApiError("Refresh token is invalid, expired or revoked.", "UNAUTHORIZED", status_code=401) from None
    user = User.objects.select_related("tenant").filter(pk=old.get("user_id")).first()
    if user is None or not user.is_active:
        raise ApiError("Refresh token is invalid, expired or revoked.", "UNAUTHORIZED", status_code=401)
    if user.tenant is not None and user.tenant.is_suspended:
        raise Forbidden("This account is suspended. Contact support.", "TENANT_SUSPENDED")
    try:
        old.blacklist()
    except TokenError:
        raise ApiError("Refresh token is invalid, expired or revoked.", "UNAUTHORIZED", status_code=401) from None
    return tokens_for_user(user=user)


def user_logout(*, user: User, refresh_token: str | None) -> None:
    if not refresh_token:
        return
    try:
        token = RefreshToken(refresh_token)
    except TokenError:
        raise ValidationFailed(errors={"refresh_token": ["Invalid or expired refresh token."]}) from None
    if str(token.get("user_id")) != str(user.pk):
        raise ValidationFailed(errors={"refresh_token": ["This refresh token does not belong to you."]})
    token.blacklist()


# --- password & e-mail flows -----------------------------------------------------------------

def password_forgot(*, email: str) -> None:
    """Always succeeds from the caller's view: no account enumeration."""
    user = User.objects.filter(email__iexact=(email or "").strip(), is_active=True).first()
    if user is None:
        return
    raw = _issue_one_time_token(user=user, purpose=OneTimeToken.PURPOSE_RESET, ttl=timedelta(hours=1))
    emails.send_password_reset(user=user, token=raw)


@transaction.atomic
def password_reset(*, token: str, new_password: str) -> User:
    consumed = _consume_one_time_token(raw=token, purposes=(OneTimeToken.PURPOSE_RESET, OneTimeToken.PURPOSE_INVITE))
    user = consumed.user
    _password_check(new_password, user)
    user.set_password(new_password)
    if consumed.purpose == OneTimeToken.PURPOSE_INVITE:
        user.is_verified = True
    user.save(update_fields=["password", "is_verified", "updated_at"])
    OneTimeToken.objects.filter(user=user, purpose=consumed.purpose, used_at__isnull=True).update(used_at=timezone.now())
    refresh_tokens_revoke_all(user=user)
    return user


def email_verify(*, token: str) -> User:
    consumed = _consume_one_time_token(raw=token, purposes=(OneTimeToken.PURPOSE_VERIFY,))
    user = consumed.user
    user.is_verified = True
    user.save(update_fields=["is_verified", "updated_at"])
    return user


@transaction.atomic
def password_change(*, user: User, current_password: str, new_password: str) -> None:
    if not user.check_password(current_password or ""):
        raise ValidationFailed(errors={"current_password": ["The current password is wrong."]})
    _password_check(new_password, user)
    user.set_password(new_password)
    user.save(update_fields=["password", "updated_at"])
    refresh_tokens_revoke_all(user=user)


# --- users -----------------------------------------------------------------------------------

def user_update_me(*, user: User, data: dict[str, Any]) -> User:
    fields = []
    if "name" in data:
        user.name = data["name"].strip()
        fields.append("name")
    if "phone" in data:
        user.phone = _clean_phone(data["phone"])
        fields.append("phone")
    if "preferences" in data:
        merged = dict(user.preferences or {})
        merged.update(data["preferences"])
        user.preferences = merged
        fields.append("preferences")
    if fields:
        user.save(update_fields=fields + ["updated_at"])
    return user


@transaction.atomic
def user_invite(*, tenant: Tenant, invited_by: User, email: str, name: str = "", role: str) -> User:
    email = email.strip().lower()
    if role == ROLE_OWNER and invited_by.role != ROLE_OWNER:
        raise Forbidden("Only owners may invite owners.")
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationFailed(errors={"email": ["A user with this e-mail already exists."]})
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()  # serialise concurrent invites
    active = User.objects.filter(tenant=tenant, is_active=True).count()
    limit_enforce(tenant=tenant, limit="max_users", current=active)
    user = User.objects.create_user(email=email, password=None, name=name.strip(), tenant=tenant, role=role)
    raw = _issue_one_time_token(user=user, purpose=OneTimeToken.PURPOSE_INVITE, ttl=timedelta(days=7))
    transaction.on_commit(lambda: emails.send_invitation(user=user, invited_by=invited_by, token=raw))
    return user


def _owners_left_without(tenant: Tenant, user: User) -> int:
    return User.objects.filter(tenant=tenant, role=ROLE_OWNER, is_active=True).exclude(pk=user.pk).count()


@transaction.atomic
def user_update(*, tenant: Tenant, actor: User, user: User, data: dict[str, Any]) -> User:
    role = data.get("role")
    if role is not None and role != user.role:
        if ROLE_OWNER in (role, user.role) and actor.role != ROLE_OWNER:
            raise Forbidden("Only owners may grant or remove the owner role.")
        if user.role == ROLE_OWNER and _owners_left_without(tenant, user) == 0:
            raise Conflict("The last owner cannot be demoted.", "LAST_OWNER")
        user.role = role
    if "is_active" in data and data["is_active"] is False and user.is_active:
        return user_deactivate(tenant=tenant, actor=actor, user=user)
    if "is_active" in data and data["is_active"] is True and not user.is_active:
        limit_enforce(tenant=tenant, limit="max_users",
                      current=User.objects.filter(tenant=tenant, is_active=True).count())
        user.is_active = True
    if "name" in data:
        user.name = data["name"].strip()
    user.save()
    return user


@transaction.atomic
def user_deactivate(*, tenant: Tenant, actor: User, user: User) -> User:
    if user.pk == actor.pk:
        raise Conflict("You cannot deactivate yourself.", "CANNOT_DEACTIVATE_SELF")
    if user.role == ROLE_OWNER:
        if actor.role != ROLE_OWNER:
            raise Forbidden("Only owners may remove an owner.")
        if _owners_left_without(tenant, user) == 0:
            raise Conflict("The last owner cannot be removed.", "LAST_OWNER")
    user.is_active = False
    user.save(update_fields=["is_active", "updated_at"])
    refresh_tokens_revoke_all(user=user)
    ApiKey.objects.for_tenant(tenant).filter(created_by=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    return user


# --- API keys --------------------------------------------------------------------------------

def api_key_create(*, tenant: Tenant, created_by: User, name: str, permissions: list[str],
                   expires_at: datetime | None) -> tuple[ApiKey, str]:
    unknown = [p for p in permissions if p not in SCOPES]
    if unknown:
        raise ValidationFailed(errors={"permissions": [f"Unknown scope: {', '.join(unknown)}."]})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed(errors={"expires_at": ["Must be in the future."]})
    raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.for_tenant(tenant).create(
        tenant=tenant, name=name.strip(), prefix=raw[:12], key_hash=hash_api_key(raw),
        permissions=sorted(set(permissions)), created_by=created_by, expires_at=expires_at,
    )
    return key, raw


def api_key_revoke(*, tenant: Tenant, key: ApiKey) -> ApiKey:
    if key.tenant_id != tenant.pk:
        raise NotFound()
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


# --- tenant ----------------------------------------------------------------------------------

def tenant_settings_validate(settings_in: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    for key in settings_in:
        if key not in TENANT_SETTING_KEYS:
            errors[f"settings.{key}"] = [f"Unknown setting. Known: {', '.join(TENANT_SETTING_KEYS)}."]
    if "timezone" in settings_in and not is_valid_timezone(settings_in["timezone"]):
        errors["settings.timezone"] = ["Not an IANA time zone (e.g. Europe/Berlin)."]
    if "currency" in settings_in and not is_valid_currency(settings_in["currency"]):
        errors["settings.currency"] = ["Not an ISO-4217 currency code (e.g. USD)."]
    if "week_start" in settings_in and settings_in["week_start"] not in ("monday", "sunday"):
        errors["settings.week_start"] = ["Must be monday or sunday."]
    if "attribution_window_days" in settings_in:
        value = settings_in["attribution_window_days"]
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 90:
            errors["settings.attribution_window_days"] = ["Must be an integer from 1 to 90."]
    if errors:
        raise ValidationFailed(errors=errors)
    return settings_in


def tenant_update(*, tenant: Tenant, data: dict[str, Any]) -> Tenant:
    if "name" in data:
        tenant.name = data["name"].strip()
    if "settings" in data:
        merged = dict(tenant.settings or {})
        merged.update(tenant_settings_validate(data["settings"]))
        tenant.settings = merged
    tenant.save()
    return tenant
