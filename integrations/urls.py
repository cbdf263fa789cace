from django.urls import path

from . import views

urlpatterns = [
    path("oauth/<str:platform>/authorize", views.OAuthAuthorizeView.as_view(), name="oauth-authorize"),
    path("oauth/<str:platform>/callback", views.OAuthCallbackView.as_view(), name="oauth-callback"),
    path("oauth/<str:platform>/disconnect", views.OAuthDisconnectView.as_view(), name="oauth-disconnect"),
    path("integrations/connections", views.ConnectionListView.as_view(), name="integrations-connections"),
    path("integrations/crm/sync", views.CrmSyncView.as_view(), name="integrations-crm-sync"),
    path("integrations/crm/status", views.CrmStatusView.as_view(), name="integrations-crm-status"),
    path("integrations/crm/runs", views.CrmRunListView.as_view(), name="integrations-crm-runs"),
    path("integrations/crm/<str:provider>/settings", views.CrmSettingsView.as_view(), name="integrations-crm-settings"),
    path("integrations/<str:platform>/accounts", views.PlatformAccountsView.as_view(), name="integrations-accounts"),
]
