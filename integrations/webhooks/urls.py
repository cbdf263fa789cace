from django.urls import path

from stratum.api.routers import ApiRouter

from . import views

router = ApiRouter()
router.register("webhooks", views.WebhookViewSet, basename="webhooks")

urlpatterns = [
    path("notifications/slack", views.SlackDestinationView.as_view(), name="notifications-slack"),
    path("notifications/slack/tenant", views.TenantSlackDestinationView.as_view(), name="notifications-slack-tenant"),
    *router.urls,
]
