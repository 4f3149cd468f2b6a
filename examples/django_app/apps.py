"""Opens the shared services when Django starts."""

from __future__ import annotations

from django.apps import AppConfig

from .services import services


class ExampleConfig(AppConfig):
    name = "examples.django_app"

    def ready(self) -> None:
        services.open()
