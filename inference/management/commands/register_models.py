from typing import Any

from django.core.management.base import BaseCommand

from inference.services import models_register_shipped


class Command(BaseCommand):
    help = "Register the shipped model versions (idempotent); the newest becomes active if none is."

    def handle(self, *args: Any, **options: Any) -> None:
        for version in models_register_shipped():
            self.stdout.write(
                f"{version} [{version.status}] {version.damage_backend} "
                f"threshold {version.threshold}"
            )
