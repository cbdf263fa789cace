from django.urls import path

from stratum.api.routers import ApiRouter

from . import views

router = ApiRouter()
router.register("payments/history", views.BillingHistoryViewSet, basename="payments-history")
router.register("superadmin/tenants", views.SuperAdminTenantViewSet, basename="superadmin-tenants")

urlpatterns = [
    path("features", views.FeatureFlagsView.as_view(), name="features"),
    path("subscription", views.SubscriptionView.as_view(), name="subscription"),
    path("subscription/plans", views.PlansView.as_view(), name="subscription-plans"),
    path("subscription/cancel", views.CancelSubscriptionView.as_view(), name="subscription-cancel"),
    path("payments/checkout", views.CheckoutView.as_view(), name="payments-checkout"),
    path("payments/webhook", views.StripeWebhookView.as_view(), name="payments-webhook"),
    *router.urls,
]
