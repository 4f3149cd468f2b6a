"""The example's URLs."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("users", views.create_user),
    path("users/<str:email>", views.get_user),
    path("hello", views.hello),
]
