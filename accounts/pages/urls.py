from django.urls import path

from . import views

urlpatterns = [
    path("verify-email", views.verify_email, name="page-verify-email"),
    path("reset-password", views.reset_password, name="page-reset-password"),
    path("accept-invite", views.accept_invite, name="page-accept-invite"),
    path("forgot-password", views.forgot_password, name="page-forgot-password"),
    path("resend-verification", views.resend_verification, name="page-resend-verification"),
    path("login", views.login, name="page-login"),
    path("notifications", views.notifications, name="page-notifications"),
    path("settings/notifications", views.notification_settings, name="page-notification-settings"),
    path("unsubscribe", views.unsubscribe, name="page-unsubscribe"),
]
