import hashlib
import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone

from stratum.api.choices import Choices
from stratum.api.crypto import EncryptedTextField
from stratum.api.permissions import Role
from stratum.api.principals import ApiKeyPrincipal
from stratum.api.tenancy import TenantOwned

from .identity import canonical_email


class Plan(Choices):
    """A tenant's tier (billing.plans holds each tier's features, limits and prices)."""

    STARTER = "starter"
    PROFESSIONAL = "professional"
    ENTERPRISE = "enterprise"


class Tenant(models.Model):
    """A customer organisation: an advertiser or an agency. Everything else belongs to one."""

    class Status(Choices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    plan = models.CharField(max_length=20, choices=Plan.choices, default=Plan.STARTER, db_index=True)
    status = models.CharField(max_length=20, default=Status.ACTIVE, db_index=True, choices=Status.choices)
    settings = models.JSONField(default=dict, blank=True)
    # Superadmin overrides of the tier's features and limits (billing.plans merges them).
    feature_flags = models.JSONField(default=dict, blank=True)
    limit_overrides = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def timezone(self) -> str:
        return (self.settings or {}).get("timezone") or "UTC"

    @property
    def currency(self) -> str:
        return (self.settings or {}).get("currency") or "USD"

    @property
    def is_suspended(self) -> bool:
        return self.status == self.Status.SUSPENDED


class UserQuerySet(models.QuerySet):
    def by_email(self, email: str):
        """The user with this address in any spelling that folds to the same canonical form."""
        return self.filter(email_key=canonical_email(email if isinstance(email, str) else ""))


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):
    use_in_migrations = True

    def get_by_natural_key(self, username):
        """The console's login (ModelBackend) finds the account the way the API does: by the canonical e-mail."""
        return self.get(email_key=canonical_email(username if isinstance(username, str) else ""))

    def create_user(self, email: str, password: str | None = None, **fields):
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email.strip()).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields):
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        fields.setdefault("is_verified", True)
        fields.setdefault("role", Role.ADMIN)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Tenant users belong to one tenant; platform staff (is_superuser) may have none."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="users", null=True, blank=True)
    email = models.EmailField(unique=True)
    # canonical_email(email), kept by save(): the one key every lookup, uniqueness and the lock-out use.
    email_key = models.CharField(max_length=254, unique=True, editable=False)
    name = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    preferences = models.JSONField(default=dict, blank=True)
    is_verified = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs):
        self.email_key = canonical_email(self.email)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "email" in update_fields and "email_key" not in update_fields:
            kwargs["update_fields"] = [*update_fields, "email_key"]
        super().save(*args, **kwargs)


def hash_api_key(raw: str) -> str:
    """Keys carry 256 bits of randomness, so a plain SHA-256 is a sufficient one-way hash."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(ApiKeyPrincipal, TenantOwned):
    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=16, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    permissions = models.JSONField(default=list)
    created_by = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class OneTimeToken(models.Model):
    """Single-use e-mailed tokens (verify e-mail, reset password, accept invitation); only a hash is kept."""

    class Purpose(Choices):
        VERIFY = "verify_email"
        RESET = "reset_password"
        INVITE = "invite"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="one_time_tokens")
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "one-time token"
        indexes = [models.Index(fields=["user", "purpose"])]


class LoginSession(models.Model):
    """One signed-in session: the chain of refresh tokens a login starts (each rotation passes the `sid` claim on).

    Refresh and logout lock this row, so they serialise: a logout racing a refresh either comes first (the refresh
    is refused) or second (it revokes the session the refresh just continued). Password changes, resets and
    deactivation revoke every session of the user."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="login_sessions")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "revoked_at"])]


class NotificationCategory(Choices):
    CAMPAIGN_ALERTS = "campaign_alerts"
    BUDGET_ALERTS = "budget_alerts"
    SIGNAL_ALERTS = "signal_alerts"
    TASK_ASSIGNED = "task_assigned"
    WEEKLY_DIGEST = "weekly_digest"
    SYNC_ALERTS = "sync_alerts"


NOTIFICATION_CATEGORIES = tuple(NotificationCategory.values)


class Notification(TenantOwned):
    """An in-app notification for one user. Other channels (e-mail, Slack) are sent, not stored here."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    category = models.CharField(max_length=32, choices=NotificationCategory.choices, db_index=True)
    title = models.CharField(max_length=255)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at", "created_at"])]

    def __str__(self) -> str:
        return f"{self.category}: {self.title}"


class SlackDestination(TenantOwned):
    """A Slack incoming-webhook URL for notifications: a user's own (user set) or the tenant's channel."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, null=True, blank=True,
                             related_name="+")
    url_encrypted = EncryptedTextField(editable=False)
    url_hint = models.CharField(max_length=80, editable=False)
    last_error = models.CharField(max_length=500, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Slack destination"
        db_table = "webhooks_slackdestination"  # the table it had under integrations.webhooks, where it began
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], condition=Q(user__isnull=False),
                                    name="webhooks_slack_one_per_user"),
            models.UniqueConstraint(fields=["tenant"], condition=Q(user__isnull=True),
                                    name="webhooks_slack_one_per_tenant"),
        ]

    def __str__(self) -> str:
        return self.url_hint
