"""Stratum settings. Every value that differs between machines comes from the environment, here only.

The README's operations section lists each variable by area; docs/operations.md (Settings) gives each default.
"""
from __future__ import annotations

import base64
import hashlib
import math
import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from integrations.versions import DEFAULT_VERSIONS as _API_VERSIONS  # plain data, no Django models

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


TRUE_WORDS, FALSE_WORDS = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def bad_env(name: str, value: str, expected: str) -> ImproperlyConfigured:
    """Every environment value that cannot be read stops the boot with the variable's name and what it wants."""
    return ImproperlyConfigured(f"{name}={value!r} is not valid: expected {expected}.")


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    word = value.strip().lower()
    if word not in TRUE_WORDS | FALSE_WORDS:
        raise bad_env(name, value, "1/0, true/false, yes/no or on/off")
    return word in TRUE_WORDS


def env_int(name: str, default: int, *, minimum: int | None = 0) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise bad_env(name, value, "a whole number") from None
    if minimum is not None and number < minimum:
        raise bad_env(name, value, f"a whole number of at least {minimum}")
    return number


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = float(value.strip())
    except ValueError:
        raise bad_env(name, value, "a number") from None
    if not math.isfinite(number) or number < minimum:
        raise bad_env(name, value, f"a finite number of at least {minimum:g}")
    return number


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in (env(name, default) or "").split(",") if item.strip()]


DEV_SECRET_KEY = "dev-insecure-stratum-secret-key-change-me-in-production"
SECRET_KEY = env("SECRET_KEY", DEV_SECRET_KEY)
DEBUG = env_bool("DEBUG", True)
ENVIRONMENT = env("ENVIRONMENT", "development" if DEBUG else "production")
TESTING = env_bool("STRATUM_TESTING", False)

if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured(
        "Refusing to start: DEBUG=0 with the development SECRET_KEY. Set SECRET_KEY to a long random value."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# --- Behind proxies, HTTPS ----------------------------------------------------------------------
# The client address (stratum.api.clientaddr.client_address) is REMOTE_ADDR, or, when that peer is inside one of
# these networks, the right-most X-Forwarded-For address that is not. Empty: forwarding headers are never read.
TRUSTED_PROXIES = env("TRUSTED_PROXIES", "") or ""
try:
    from stratum.api.clientaddr import parse_trusted_proxies

    TRUSTED_PROXY_NETWORKS = parse_trusted_proxies(TRUSTED_PROXIES)
except ValueError as exc:
    raise bad_env("TRUSTED_PROXIES", TRUSTED_PROXIES, f"comma-separated CIDRs ({exc})") from None


def env_proxy_ssl_header(name: str, default: bool) -> tuple[str, str] | None:
    """`1` → X-Forwarded-Proto: https; `0` → none; `Header-Name=value` → that header and value."""
    value = (os.environ.get(name) or "").strip()
    if not value:
        return ("HTTP_X_FORWARDED_PROTO", "https") if default else None
    if value.lower() in TRUE_WORDS:
        return ("HTTP_X_FORWARDED_PROTO", "https")
    if value.lower() in FALSE_WORDS:
        return None
    header, sep, expected = value.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z0-9-]+", header.strip()) or not expected.strip():
        raise bad_env(name, value, "1, 0 or Header-Name=value (e.g. X-Forwarded-Proto=https)")
    return "HTTP_" + header.strip().upper().replace("-", "_"), expected.strip()


# With DEBUG=0 every one of these is on unless the environment switches it off (`manage.py check --deploy` clean);
# SECURE_SSL_REDIRECT leaves /health alone so that load balancers may probe over plain HTTP.
SECURE_PROXY_SSL_HEADER = env_proxy_ssl_header("SECURE_PROXY_SSL_HEADER", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^health(/|$)", r"^api/v1/health$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True

INSTALLED_APPS = [
    "console.apps.StaffAdminConfig",  # django.contrib.admin as the Stratum console (lock-out, two-factor login)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_prometheus",
    "axes",
    "django_otp",
    "console.apps.TotpConfig",  # django_otp.plugins.otp_totp, named for the console
    "stratum.api",
    "accounts",
    "billing",
    "campaigns",
    "cdp",
    "trust",
    "workflow",
    "integrations",
    "integrations.webhooks",
    "analytics",
    "console",  # last: the staff console composes every app's admin, services and selectors
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",  # request count and latency (first and last)
    "stratum.api.observability.RequestIdMiddleware",  # X-Request-ID on every response, log context
    "stratum.api.replicas.ReadScopeMiddleware",  # read-your-writes per request (a no-op without replicas)
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "stratum.api.middleware.ApiBodySizeMiddleware",
    # Session, CSRF, login + 2FA and messages run for browser pages only, not on /api/ or /health (BrowserOnly)
    "stratum.api.middleware.BrowserSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "stratum.api.middleware.BrowserCsrfViewMiddleware",
    "stratum.api.middleware.BrowserAuthenticationMiddleware",
    "stratum.api.middleware.BrowserOTPMiddleware",
    "stratum.api.middleware.BrowserMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "stratum.api.middleware.StaffConsoleScopeMiddleware",
    "stratum.api.middleware.ApiResponseMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a lock-out flagged during the view into accounts.lockout's answer
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

# Django's W003 looks for its CSRF middleware by name; ours subclasses it (stratum.api.middleware.browser_csrf_check
# checks the subclass and the CSRF cookie instead).
SILENCED_SYSTEM_CHECKS = ["security.W003"]

ROOT_URLCONF = "stratum.urls"
WSGI_APPLICATION = "stratum.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'stratum.sqlite3'}")
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
except ValueError as exc:
    raise bad_env("DATABASE_URL", DATABASE_URL, f"a database URL such as postgres://user:pass@host:5432/db ({exc})") \
        from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update({"timeout": 30, "transaction_mode": "IMMEDIATE"})
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 5)
# Behind a pooler that hands each transaction to any server connection (PgBouncer's pool_mode=transaction), nothing
# may outlive a transaction: no server-side cursors (DECLARE … WITH HOLD spans transactions). The rest already holds —
# queries bind client-side (no prepared statements), advisory locks and lock_timeout are transaction-scoped, and
# PgBouncer re-applies the tracked TimeZone per client. docs/operations.md, "Connection pooling".
DATABASE_POOL_MODE = env("DATABASE_POOL_MODE", "session")
if DATABASE_POOL_MODE not in ("session", "transaction"):
    raise bad_env("DATABASE_POOL_MODE", DATABASE_POOL_MODE, "session or transaction")
if DATABASE_POOL_MODE == "transaction":
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
# django-prometheus' wrappers of the same backends count queries, errors and connections (stratum_… metrics docs).
_PROMETHEUS_ENGINES = {"django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
                       "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql"}
DATABASES["default"]["ENGINE"] = _PROMETHEUS_ENGINES.get(DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"])
# Read replicas (PostgreSQL streaming replicas): heavy reads that opt in through stratum.api.replicas.replica_reads go
# to one of these, unless the request/task or its tenant wrote lately or the replica lags. docs/operations.md.
DATABASE_REPLICA_URLS = env_list("DATABASE_REPLICA_URLS")
DATABASE_REPLICAS: list[str] = []
for _number, _url in enumerate(DATABASE_REPLICA_URLS, start=1):
    try:
        _replica = dj_database_url.parse(_url, conn_max_age=DATABASES["default"]["CONN_MAX_AGE"])
    except ValueError as exc:
        raise bad_env("DATABASE_REPLICA_URLS", _url, f"PostgreSQL URLs separated by commas ({exc})") from None
    if not _replica["ENGINE"].endswith("postgresql") or not DATABASES["default"]["ENGINE"].endswith("postgresql"):
        raise bad_env("DATABASE_REPLICA_URLS", _url, "postgres:// replicas of a PostgreSQL DATABASE_URL")
    _replica.update(CONN_HEALTH_CHECKS=True, OPTIONS={"connect_timeout": 3},
                    DISABLE_SERVER_SIDE_CURSORS=DATABASES["default"].get("DISABLE_SERVER_SIDE_CURSORS", False),
                    TEST={"MIRROR": "default"})
    _replica["ENGINE"] = DATABASES["default"]["ENGINE"]
    DATABASES[f"replica{_number}"] = _replica
    DATABASE_REPLICAS.append(f"replica{_number}")
DATABASE_ROUTERS = ["stratum.api.replicas.ReplicaRouter"] if DATABASE_REPLICAS else []
REPLICA_MAX_LAG_SECONDS = env_float("REPLICA_MAX_LAG_SECONDS", 10.0)
REPLICA_STICKY_SECONDS = env_int("REPLICA_STICKY_SECONDS", 5, minimum=1)
REPLICA_LAG_CHECK_SECONDS = env_float("REPLICA_LAG_CHECK_SECONDS", 2.0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache & Celery -------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", "stratum"),
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "stratum"}}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL)
# Tests run tasks in-process even when a broker is configured (the fault suite starts real workers itself).
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None or TESTING
CELERY_TASK_EAGER_PROPAGATES = TESTING
if CELERY_BROKER_URL is None:
    CELERY_BROKER_URL = "memory://localhost/"  # in-process (eager); the host only keeps kombu from warning on each task
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis broker: a message a worker took but never acknowledged (acks late: the whole worker died mid-task) is
# handed out again after this many seconds. It must exceed the longest task and the longest countdown we
# schedule (webhook retries: 10 min), or a task still running or waiting would run a second time.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 1800, minimum=1)
CELERY_BROKER_IS_RABBITMQ = CELERY_BROKER_URL.split(":", 1)[0] in ("amqp", "amqps", "pyamqp")
if CELERY_BROKER_IS_RABBITMQ:
    # RabbitMQ: a durable queue and persistent messages (Celery's defaults, spelled out) with publisher confirms — a
    # publish returns once the broker has the message on disk, so an accepted task survives a broker restart or crash.
    # An unacknowledged message is redelivered only when its consumer's connection dies (no visibility timeout);
    # RabbitMQ's consumer_timeout (default 30 min) must exceed the longest task. docs/operations.md, "RabbitMQ".
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
    CELERY_TASK_DEFAULT_DELIVERY_MODE = "persistent"
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
        "unacked_restore_interval": max(1, min(60, CELERY_VISIBILITY_TIMEOUT // 10)),
        "unacked_restore_throttle": 1,
    }
# The queue tasks go to and workers consume (one broker or vhost shared by several deployments: a name each).
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# django-celery-beat's database scheduler, which also writes beat's heartbeat (stratum/api/heartbeat.py).
CELERY_BEAT_SCHEDULER = "stratum.api.heartbeat:HeartbeatScheduler"
BEAT_HEARTBEAT_SECONDS = env_int("BEAT_HEARTBEAT_SECONDS", 15, minimum=1)
BEAT_MAX_LAG_SECONDS = env_int("BEAT_MAX_LAG_SECONDS", 120, minimum=1)
# Fixed schedules; apps add theirs in their AppConfig.ready() via stratum.api.schedules.register().
CELERY_BEAT_SCHEDULE: dict = {}
# Workers log through Django's LOGGING (LOG_FORMAT, the request/tenant/task ids), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Campaigns: ad-account sync ---------------------------------------------------------------
CAMPAIGNS_SYNC_INTERVAL_MINUTES = env_int("CAMPAIGNS_SYNC_INTERVAL_MINUTES", 60, minimum=1)
CAMPAIGNS_SYNC_INITIAL_DAYS = env_int("CAMPAIGNS_SYNC_INITIAL_DAYS", 90, minimum=1)
CAMPAIGNS_SYNC_LOOKBACK_DAYS = env_int("CAMPAIGNS_SYNC_LOOKBACK_DAYS", 3)

# --- Trust engine: signal health, autopilot -----------------------------------------------------
TRUST_SIGNAL_WINDOW_DAYS = env_int("TRUST_SIGNAL_WINDOW_DAYS", 7, minimum=1)
TRUST_SIGNAL_MAX_AGE_MINUTES = env_int("TRUST_SIGNAL_MAX_AGE_MINUTES", 60, minimum=1)
TRUST_SNAPSHOT_RETENTION_DAYS = env_int("TRUST_SNAPSHOT_RETENTION_DAYS", 90)
AUTOPILOT_INTERVAL_MINUTES = env_int("AUTOPILOT_INTERVAL_MINUTES", 60, minimum=1)
AUTOPILOT_PENDING_TTL_HOURS = env_int("AUTOPILOT_PENDING_TTL_HOURS", 72, minimum=1)

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if TESTING:
    # Argon2 with minimal cost keeps the suite fast; production uses the library's defaults.
    PASSWORD_HASHERS = ["stratum.api.hashers.FastArgon2PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=30),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=14),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

LOGIN_LOCKOUT_ATTEMPTS = env_int("LOGIN_LOCKOUT_ATTEMPTS", 5, minimum=1)
LOGIN_LOCKOUT_IP_ATTEMPTS = env_int("LOGIN_LOCKOUT_IP_ATTEMPTS", 30, minimum=1)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
# One lock-out for the API and the console: django-axes with accounts.lockout's handler (atomic reservations in the
# shared cache, keyed on the canonical e-mail and the real client address).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "accounts.lockout.LockoutHandler"
AXES_CLIENT_IP_CALLABLE = "stratum.api.clientaddr.client_address"
AXES_USERNAME_CALLABLE = "accounts.lockout.client_username"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_FAILURE_LIMIT = LOGIN_LOCKOUT_ATTEMPTS
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_LOCKOUT_SECONDS)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_ENABLE_ADMIN = False  # the counters live in the cache, not in axes' tables
AXES_VERBOSE = False
OTP_TOTP_ISSUER = "Stratum"
PASSWORD_RESET_TIMEOUT = 3600
# Staff console two-factor (django-otp TOTP): staff may enrol a device; with 1 superusers must.
STAFF_REQUIRE_2FA = env_bool("STAFF_REQUIRE_2FA", False)

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "accounts.authentication.TenantJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "stratum.api.permissions.ApiKeyScopePermission",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["stratum.api.ratelimit.TierRateThrottle"],
    "DEFAULT_PARSER_CLASSES": [
        "stratum.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "stratum.api.negotiation.ApiContentNegotiation",
    "DEFAULT_FILTER_BACKENDS": ["stratum.api.filters.QueryFilterBackend"],  # list filters: stratum/api/filters.py
    "DEFAULT_PAGINATION_CLASS": "stratum.api.pagination.StratumPagination",
    "PAGE_SIZE": 20,
    "EXCEPTION_HANDLER": "stratum.api.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",
    "COERCE_DECIMAL_TO_STRING": False,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SPECTACULAR_SETTINGS = {
    "TITLE": "Stratum API",
    "DESCRIPTION": "Marketing-performance platform: campaigns, trust engine, CDP, workflow (Catalyst).",
    "VERSION": "2.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Swagger UI served from the app itself (drf-spectacular-sidecar): /docs works with no internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "SubscriptionStatusEnum": "billing.models.SubscriptionStatus",
        "PrivacyRequestTypeEnum": "cdp.models.PrivacyRequest.Type",
        "InvoiceStatusEnum": "billing.models.InvoiceStatus",
        "BillingPeriodEnum": "billing.plans.BillingPeriod",
        "TenantStatusEnum": "billing.serializers.TENANT_STATUSES",
        "TenantRoleEnum": "stratum.api.permissions.ROLES",
        "ClientRoleEnum": "workflow.models.ClientRole",
        "TaskStatusEnum": "workflow.models.TaskStatus",
        "SourceKindEnum": "cdp.models.SourceKind",
        "TaskTypeEnum": "workflow.models.TaskType",
        "TaskPriorityEnum": "workflow.models.TaskPriority",
        "AlertDataLevelEnum": "workflow.models.DataLevel",
        "AlertInstanceStatusEnum": "workflow.models.InstanceStatus",
        "LeadOutcomeEnum": "workflow.models.LeadOutcome",
        "LeadScoringMethodEnum": "workflow.models.ScoringMethod",
        "CreativeStatusEnum": "workflow.models.CreativeStatus",
        "JobStatusEnum": "analytics.models.ReportStatus",
        "ReportFormatEnum": "analytics.models.ReportFormat",
        "ReportKindEnum": "analytics.reporting.templates.KINDS",
        "ScheduleFrequencyEnum": "analytics.models.ScheduleFrequency",
        "AutopilotModeEnum": "trust.models.AutopilotMode",
        "RuleFrequencyEnum": "trust.models.RuleFrequency",
        "SignalSnapshotTriggerEnum": "trust.models.SnapshotTrigger",
        "RuleRunTriggerEnum": "trust.models.RunTrigger",
        "SignalStatusEnum": "trust.models.SignalStatus",
        "AutopilotActionStatusEnum": "trust.models.ActionStatus",
    },
    "PREPROCESSING_HOOKS": ["stratum.api.schema.normalize_paths"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "stratum.api.schema.document_errors",
                             "cdp.openapi.tracking_paths"],
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
    },
}

# An open alert instance whose object has no data in the alert's window resolves after this many runs in a row,
# with a "no data" note (a campaign that stopped delivering, or whose rows were deleted, does not stay open forever).
ALERT_NO_DATA_RUNS = env_int("ALERT_NO_DATA_RUNS", 3)

# Rate limits per tier: (requests per minute, burst). Token bucket, atomic in Redis.
RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", True)
RATELIMIT_TIERS = {
    "starter": (60, 20),
    "professional": (300, 50),
    "enterprise": (1000, 100),
}
RATELIMIT_ANONYMOUS = (60, 20)

# `make load` only: serves a minimal Django JSON view at /_probe/json (not part of the API) as the ceiling
# the load test compares the API with.
LOAD_PROBE_ENABLED = env_bool("LOAD_PROBE_ENABLED", False)

# Request bodies under /api/: default ceiling (bytes); views may declare their own max_body_bytes.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 1024 * 1024, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Stratum <no-reply@stratum.local>")
# Every mail is sent by a Celery task after commit (stratum/api/mail.py); SMTP failures are retried this many times.
MAIL_MAX_RETRIES = env_int("MAIL_MAX_RETRIES", 6)
FRONTEND_URL = (env("FRONTEND_URL", "http://127.0.0.1:8000") or "").rstrip("/")

# --- Secrets at rest ------------------------------------------------------------------------
FERNET_KEYS = env_list("FERNET_KEYS")
if not FERNET_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("FERNET_KEYS is required when DEBUG=0 (comma-separated Fernet keys, newest first).")
    # Development only: a key derived from the development SECRET_KEY.
    FERNET_KEYS = [base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()]

# --- Payments -------------------------------------------------------------------------------
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env("STRIPE_API_BASE")
# Stripe Price ids per plan and billing period (STRIPE_PRICE_PROFESSIONAL_MONTHLY=price_…).
STRIPE_PRICES = {
    f"{plan}_{period}": env(f"STRIPE_PRICE_{plan.upper()}_{period.upper()}")
    for plan in ("starter", "professional", "enterprise") for period in ("monthly", "annual")
}

# --- Outbound webhooks ----------------------------------------------------------------------
WEBHOOK_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", False)

# --- Integrations: OAuth apps of the ad platforms and CRMs (unset -> 503 PROVIDER_NOT_CONFIGURED) ---
META_CLIENT_ID = env("META_CLIENT_ID")
META_CLIENT_SECRET = env("META_CLIENT_SECRET")
# API versions: defaults from the one table in integrations/versions.py (sunset dates and sources beside them;
# a test fails when a default comes within 60 days of its sunset). Overriding one here is on the operator.
META_GRAPH_VERSION = env("META_GRAPH_VERSION", _API_VERSIONS["meta"])
# Where the Meta connector calls the Graph API (the cluster test points it at a local stand-in; nobody else should).
META_GRAPH_URL = (env("META_GRAPH_URL", "https://graph.facebook.com") or "").rstrip("/")
# Facebook Login for Business configuration id: when set, Meta connections ask for the configuration's
# (system-user, non-expiring) token instead of a 60-day user token.
META_LOGIN_CONFIG_ID = env("META_LOGIN_CONFIG_ID")
GOOGLE_CLIENT_ID = env("GOOGLE_CLIENT_ID")
GOOGLE_CLIENT_SECRET = env("GOOGLE_CLIENT_SECRET")
GOOGLE_ADS_DEVELOPER_TOKEN = env("GOOGLE_ADS_DEVELOPER_TOKEN")
GOOGLE_ADS_API_VERSION = env("GOOGLE_ADS_API_VERSION", _API_VERSIONS["google"])
# EU user consent sent with Customer Match jobs unless a connection declares its own (GRANTED, DENIED, UNSPECIFIED).
GOOGLE_ADS_CUSTOMER_MATCH_CONSENT = env("GOOGLE_ADS_CUSTOMER_MATCH_CONSENT", "UNSPECIFIED")
TIKTOK_CLIENT_ID = env("TIKTOK_CLIENT_ID")  # the TikTok for Business app_id
TIKTOK_CLIENT_SECRET = env("TIKTOK_CLIENT_SECRET")
SNAPCHAT_CLIENT_ID = env("SNAPCHAT_CLIENT_ID")
SNAPCHAT_CLIENT_SECRET = env("SNAPCHAT_CLIENT_SECRET")
HUBSPOT_CLIENT_ID = env("HUBSPOT_CLIENT_ID")
HUBSPOT_CLIENT_SECRET = env("HUBSPOT_CLIENT_SECRET")
PIPEDRIVE_CLIENT_ID = env("PIPEDRIVE_CLIENT_ID")
PIPEDRIVE_CLIENT_SECRET = env("PIPEDRIVE_CLIENT_SECRET")
SALESFORCE_CLIENT_ID = env("SALESFORCE_CLIENT_ID")
SALESFORCE_CLIENT_SECRET = env("SALESFORCE_CLIENT_SECRET")
SALESFORCE_LOGIN_URL = (env("SALESFORCE_LOGIN_URL", "https://login.salesforce.com") or "").rstrip("/")
SALESFORCE_API_VERSION = env("SALESFORCE_API_VERSION", _API_VERSIONS["salesforce"])
ZOHO_CLIENT_ID = env("ZOHO_CLIENT_ID")
ZOHO_CLIENT_SECRET = env("ZOHO_CLIENT_SECRET")
# Where providers send the browser back: <OAUTH_REDIRECT_BASE_URL>/api/v1/oauth/<platform>/callback.
OAUTH_REDIRECT_BASE_URL = (env("OAUTH_REDIRECT_BASE_URL", FRONTEND_URL) or "").rstrip("/")
INTEGRATIONS_HTTP_TIMEOUT = env_float("INTEGRATIONS_HTTP_TIMEOUT", 30.0, minimum=0.1)
# How often the scheduler looks for CRM connections whose sync (hourly/daily, per connection) is due.
CRM_SYNC_SCHEDULER_MINUTES = env_int("CRM_SYNC_SCHEDULER_MINUTES", 15, minimum=1)

# --- I18N / static --------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
# Static files (admin, API docs) are served by WhiteNoise, also under gunicorn with DEBUG=0; it also finds them in
# the apps, so a missing collectstatic never leaves the docs or the admin unstyled.
WHITENOISE_USE_FINDERS = True
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))

# --- Files: reports, CDP exports, creatives (Django's storage API, stratum/api/files.py) --------------------------
# `local` (files under MEDIA_ROOT: one host only) or `s3` (any S3-compatible store through django-storages: every web
# and worker host sees the same files). Setting AWS_STORAGE_BUCKET_NAME alone selects `s3`.
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME")
STORAGE_BACKEND = env("STORAGE_BACKEND", "s3" if AWS_STORAGE_BUCKET_NAME else "local")
if STORAGE_BACKEND not in ("local", "s3"):
    raise bad_env("STORAGE_BACKEND", STORAGE_BACKEND, "local or s3")
if STORAGE_BACKEND == "s3" and not AWS_STORAGE_BUCKET_NAME:
    raise bad_env("AWS_STORAGE_BUCKET_NAME", "", "a bucket name when STORAGE_BACKEND=s3")
# Downloads: `stream` (through the web process from the storage) or `redirect` (302 to a presigned URL, S3 only).
STORAGE_DOWNLOADS = env("STORAGE_DOWNLOADS", "stream")
if STORAGE_DOWNLOADS not in ("stream", "redirect"):
    raise bad_env("STORAGE_DOWNLOADS", STORAGE_DOWNLOADS, "stream or redirect")
if STORAGE_DOWNLOADS == "redirect" and STORAGE_BACKEND != "s3":
    raise bad_env("STORAGE_DOWNLOADS", STORAGE_DOWNLOADS, "stream unless STORAGE_BACKEND=s3 (local files have no "
                  "signed URLs)")
STORAGE_SIGNED_URL_SECONDS = env_int("STORAGE_SIGNED_URL_SECONDS", 300, minimum=1)
if STORAGE_BACKEND == "s3":
    AWS_S3_ADDRESSING_STYLE = env("AWS_S3_ADDRESSING_STYLE")
    if AWS_S3_ADDRESSING_STYLE not in (None, "auto", "path", "virtual"):
        raise bad_env("AWS_S3_ADDRESSING_STYLE", AWS_S3_ADDRESSING_STYLE, "auto, path or virtual")
    _DEFAULT_STORAGE = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": AWS_STORAGE_BUCKET_NAME,
        "endpoint_url": env("AWS_S3_ENDPOINT_URL"),  # e.g. MinIO, R2, moto; unset: AWS itself
        "region_name": env("AWS_S3_REGION_NAME"),
        "access_key": env("AWS_ACCESS_KEY_ID"),  # unset: boto3's own chain (instance role, ~/.aws, …)
        "secret_key": env("AWS_SECRET_ACCESS_KEY"),
        "location": env("AWS_LOCATION", ""),  # key prefix inside the bucket
        "addressing_style": AWS_S3_ADDRESSING_STYLE,
        "default_acl": None,  # private objects (the bucket's policy), read only through this app
        "querystring_auth": True,
        "querystring_expire": STORAGE_SIGNED_URL_SECONDS,
        "signature_version": "s3v4",
        "file_overwrite": True,
    }}
else:
    _DEFAULT_STORAGE = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _DEFAULT_STORAGE,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# CDP export files hold personal data: deleted this many days after they were written (cdp.tasks.exports_expire_all).
EXPORT_RETENTION_DAYS = env_int("EXPORT_RETENTION_DAYS", 7, minimum=1)
# PostgreSQL: monthly partitions of the events table kept ready this many months past the current one (daily task).
CDP_EVENT_PARTITIONS_AHEAD = env_int("CDP_EVENT_PARTITIONS_AHEAD", 3, minimum=1)
# Largest creative upload (workflow creative submissions), bytes; larger files are refused with 413.
CREATIVE_MAX_UPLOAD_BYTES = env_int("CREATIVE_MAX_UPLOAD_BYTES", 50 * 1024 * 1024, minimum=1)

# --- Operations: metrics ----------------------------------------------------------------------
# GET /metrics (Prometheus) answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, the route is a 404.
METRICS_TOKEN = env("METRICS_TOKEN")
if METRICS_TOKEN is not None and len(METRICS_TOKEN) < 16:
    raise bad_env("METRICS_TOKEN", "<hidden>", "at least 16 characters")
# Several processes per host (gunicorn workers, Celery workers): PROMETHEUS_MULTIPROC_DIR (read by prometheus_client
# itself) names a shared directory, emptied before they start; /metrics then adds up every process's values.
PROMETHEUS_MULTIPROC_DIR = env("PROMETHEUS_MULTIPROC_DIR")
if PROMETHEUS_MULTIPROC_DIR is not None and not Path(PROMETHEUS_MULTIPROC_DIR).is_dir():
    raise bad_env("PROMETHEUS_MULTIPROC_DIR", PROMETHEUS_MULTIPROC_DIR, "an existing directory")

# --- Operations: traces and error reports (stratum/api/telemetry.py), each off unless configured ---------------
# OpenTelemetry over OTLP/HTTP, e.g. http://otel-collector:4318 (the SDK's other OTEL_* variables apply too).
OTEL_EXPORTER_OTLP_ENDPOINT = env("OTEL_EXPORTER_OTLP_ENDPOINT")
if OTEL_EXPORTER_OTLP_ENDPOINT is not None and not re.match(r"https?://[^/\s]+", OTEL_EXPORTER_OTLP_ENDPOINT):
    raise bad_env("OTEL_EXPORTER_OTLP_ENDPOINT", OTEL_EXPORTER_OTLP_ENDPOINT, "an http(s):// URL of an OTLP/HTTP collector")
OTEL_SERVICE_NAME = env("OTEL_SERVICE_NAME", "stratum")
SENTRY_DSN = env("SENTRY_DSN")
if SENTRY_DSN is not None and not re.match(r"https?://[^@\s]+@[^/\s]+/\S+", SENTRY_DSN):
    raise bad_env("SENTRY_DSN", "<hidden>", "a Sentry DSN such as https://key@o1.ingest.sentry.io/123")
SENTRY_ENVIRONMENT = env("SENTRY_ENVIRONMENT", ENVIRONMENT)
SENTRY_TRACES_SAMPLE_RATE = env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0)
if SENTRY_TRACES_SAMPLE_RATE > 1:
    raise bad_env("SENTRY_TRACES_SAMPLE_RATE", str(SENTRY_TRACES_SAMPLE_RATE), "a number from 0 to 1")

LOG_LEVEL = (env("LOG_LEVEL", "INFO") or "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise bad_env("LOG_LEVEL", LOG_LEVEL, "DEBUG, INFO, WARNING, ERROR or CRITICAL")
# Log lines: `json` (one object a line, the default with DEBUG=0) or `text` (the default under `make run`). Every
# record carries the request id, tenant id and user / API-key id when known (stratum/api/observability.py).
LOG_FORMAT = env("LOG_FORMAT", "text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise bad_env("LOG_FORMAT", LOG_FORMAT, "json or text")
ACCESS_LOG_LEVEL = env("ACCESS_LOG_LEVEL", "WARNING" if DEBUG else "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "stratum.api.observability.RequestContextFilter"}},
    "formatters": {"json": {"()": "stratum.api.observability.JsonFormatter"},
                   "text": {"()": "stratum.api.observability.TextFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT,
                             "filters": ["request_context"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # The access lines — one per request (stratum.request) and a start and an end per task (stratum.tasks, and
    # Celery's own trace line): on in production; under DEBUG (`make run`: runserver prints its own request line,
    # tasks run in-process) they would bury the console. Failures log at ERROR whatever the level.
    "loggers": {"django.request": {"level": "ERROR"},
                "stratum.request": {"level": ACCESS_LOG_LEVEL},
                "stratum.tasks": {"level": ACCESS_LOG_LEVEL},
                "celery.app.trace": {"level": ACCESS_LOG_LEVEL},
                "celery.beat": {"level": ACCESS_LOG_LEVEL}},  # "Sending due task …" every half minute
}
