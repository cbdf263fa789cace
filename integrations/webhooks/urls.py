
from stratum.api.routers import ApiRouter

from . import views

router = ApiRouter()
router.register("webhooks", views.WebhookViewSet, basename="webhooks")

urlpatterns = [
    *router.urls,
]
