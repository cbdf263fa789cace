from django.urls import path

from . import views

urlpatterns = [
    path("features", views.FeatureFlagsView.as_view(), name="features"),
]
