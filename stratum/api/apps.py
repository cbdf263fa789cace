from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "stratum.api"
    label = "api"
    verbose_name = "API plumbing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.checks import Tags, register
        from django.db.models import Field, ForeignObject

        from . import replicas, schema  # noqa: F401  (schema registers the OpenAPI authentication extensions)
        from .db import AnyOf
        from .middleware import browser_csrf_check
        from .telemetry import sentry_setup, tracing_setup

        register(browser_csrf_check, Tags.security, deploy=True)
        Field.register_lookup(AnyOf)
        ForeignObject.register_lookup(AnyOf)  # relations look up only their own class's registrations
        replicas.install()  # DATABASE_REPLICA_URLS set: the primary's writes are watched for read-your-writes
        tracing_setup()  # OTEL_EXPORTER_OTLP_ENDPOINT set: traces; otherwise nothing
        sentry_setup()  # SENTRY_DSN set: error reports; otherwise nothing
