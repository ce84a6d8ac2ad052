from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.errors import ApplicationError
from learning.services import snapshot_export


class Command(BaseCommand):
    help = (
        "Export the reviewed photos as a versioned dataset snapshot (COCO with RLE, PNG "
        "masks, Ultralytics YOLO segmentation) under REVIEW_EXPORT_ROOT/<version>/."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--snapshot", default=None, help="snapshot version (default: a timestamp)"
        )
        parser.add_argument(
            "--damage-taxonomy",
            default=None,
            help="category names of the snapshot (default: the active model version's)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            snapshot = snapshot_export(
                user=None, version=options["snapshot"], damage_taxonomy=options["damage_taxonomy"]
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"snapshot {snapshot.version}: {snapshot.images} photos, "
            f"{snapshot.annotations} labels -> {snapshot.path}"
        )
