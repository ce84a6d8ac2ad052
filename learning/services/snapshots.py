"""Label snapshots: the reviewed labels exported as COCO, PNG label maps and Ultralytics YOLO,
and their zip archive."""

from __future__ import annotations

import os
import re
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from claims.audit import audit_record
from claims.models import Case
from common.access import require_admin
from common.errors import ApplicationError
from damage_vision.taxonomy import TaxonomyError, load_taxonomy
from inference.models import ModelVersion
from learning import labels as label_writers
from learning import selectors
from learning.models import DatasetSnapshot
from review.models import ReviewRound

VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def export_root() -> Path:
    return Path(settings.REVIEW_EXPORT_ROOT)


def snapshot_export(
    *, user: User | None, version: str | None = None, damage_taxonomy: str | None = None
) -> DatasetSnapshot:
    """Write the reviewed photos as a snapshot under `export_root()/<version>/`.

    `user` is None for the management command (run by an operator on the server).
    """
    if user is not None:
        require_admin(user)

    version = version or timezone.now().strftime("reviewed-%Y%m%d-%H%M%S")
    if not VERSION_PATTERN.match(version):
        raise ApplicationError(
            "A snapshot version uses letters, digits, '.', '_' and '-' (64 characters at most)."
        )
    if DatasetSnapshot.objects.filter(version=version).exists():
        raise ApplicationError(f"Snapshot {version} exists already; choose another version.")
    taxonomy_name = damage_taxonomy or _default_damage_taxonomy()
    try:
        categories = list(load_taxonomy(taxonomy_name).classes[1:])
    except TaxonomyError as exc:
        raise ApplicationError(str(exc)) from None
    images, case_ids = selectors.reviewed_label_images(damage_taxonomy=taxonomy_name)
    summary = _snapshot_summary(images, case_ids)
    target = export_root() / version
    try:
        manifest = label_writers.write_snapshot(
            target,
            images,
            categories,
            version=version,
            provenance={
                "cases": case_ids,
                "damage_taxonomy": taxonomy_name,
                "created_at": timezone.now().isoformat(),
                "summary": summary,
            },
        )
    except label_writers.LabelExportError as exc:
        raise ApplicationError(str(exc)) from None
    snapshot = DatasetSnapshot.objects.create(
        version=version,
        path=str(target),
        images=int(manifest["images"]),  # type: ignore[call-overload]
        annotations=int(manifest["annotations"]),  # type: ignore[call-overload]
        categories=categories,
        cases=case_ids,
        summary=summary,
        created_by=user,
    )
    audit_record(
        verb="labels.exported",
        actor=user,
        data={
            "snapshot": version,
            "path": str(target),
            "images": snapshot.images,
            "annotations": snapshot.annotations,
            "cases": case_ids,
        },
    )
    for case_id in case_ids:
        audit_record(
            verb="labels.exported",
            case=Case.objects.get(pk=case_id),
            actor=user,
            data={"snapshot": version},
        )
    return snapshot


ALREADY_COMPRESSED = {".jpg", ".jpeg", ".png", ".webp", ".heic"}


def snapshot_archive(*, snapshot: DatasetSnapshot, user: User | None) -> Path:
    """The snapshot as one zip (COCO with RLE, PNG label maps, YOLO labels and data.yaml,
    the images, manifest.json) under `<version>/`, built once next to the snapshot:
    snapshots never change, so the archive does not either."""
    if user is not None:
        require_admin(user)
    folder = Path(snapshot.path)
    if not (folder / "manifest.json").is_file():
        raise ApplicationError(
            f"Snapshot {snapshot.version}'s folder {folder} is gone from the server; "
            "export the labels again."
        )
    archive = export_root() / f"{snapshot.version}.zip"
    if archive.is_file():
        return archive
    partial = archive.with_name(f"{archive.name}.{os.getpid()}.partial")
    with zipfile.ZipFile(partial, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(
                    path,
                    arcname=f"{snapshot.version}/{path.relative_to(folder).as_posix()}",
                    compress_type=zipfile.ZIP_STORED
                    if path.suffix.lower() in ALREADY_COMPRESSED
                    else zipfile.ZIP_DEFLATED,
                )
    partial.replace(archive)  # concurrent builders each write their own, last one wins
    return archive


def _snapshot_summary(
    images: list[label_writers.LabelledImage], case_ids: list[int]
) -> dict[str, Any]:
    """What the snapshot list shows: labels by class and by source (accepted, edited,
    added), who finished the reviews and the first and last of them."""
    by_class: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    for image in images:
        for obj in image.objects:
            by_class[obj.category] += 1
            by_source[obj.source] += 1
    rounds = ReviewRound.objects.filter(case_id__in=case_ids, finished_at__isnull=False)
    dates = sorted(r.finished_at for r in rounds if r.finished_at is not None)
    return {
        "by_class": dict(sorted(by_class.items())),
        "by_source": dict(sorted(by_source.items())),
        "reviewers": sorted(
            {r.finished_by.username for r in rounds.select_related("finished_by") if r.finished_by}
        ),
        "reviewed_from": dates[0].isoformat() if dates else None,
        "reviewed_to": dates[-1].isoformat() if dates else None,
    }


def _default_damage_taxonomy() -> str:
    active = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    return active.damage_taxonomy if active else "damage_categorical"
