from django.urls import path

from stratum.api.routers import ApiRouter

from . import views
from .notifications import views as notification_views

router = ApiRouter()
router.register("users", views.UserViewSet, basename="users")
router.register("api-keys", views.ApiKeyViewSet, basename="api-keys")
router.register("notifications", notification_views.NotificationViewSet, basename="notifications")

urlpatterns = [
    path("auth/register", views.RegisterView.as_view(), name="auth-register"),
    path("auth/login", views.LoginView.as_view(), name="auth-login"),
    path("auth/refresh", views.RefreshView.as_view(), name="auth-refresh"),
    path("auth/logout", views.LogoutView.as_view(), name="auth-logout"),
    path("auth/forgot-password", views.ForgotPasswordView.as_view(), name="auth-forgot-password"),
    path("auth/reset-password", views.ResetPasswordView.as_view(), name="auth-reset-password"),
    path("auth/verify-email", views.VerifyEmailView.as_view(), name="auth-verify-email"),
    path("auth/resend-verification", views.ResendVerificationView.as_view(), name="auth-resend-verification"),
    path("users/me", views.MeView.as_view(), name="users-me"),
    path("users/me/change-password", views.ChangePasswordView.as_view(), name="users-change-password"),
    path("tenants/current", views.CurrentTenantView.as_view(), name="tenants-current"),
    path("notifications/slack", notification_views.SlackDestinationView.as_view(), name="notifications-slack"),
    path("notifications/slack/tenant", notification_views.TenantSlackDestinationView.as_view(), name="notifications-slack-tenant"),
    *router.urls,
]
