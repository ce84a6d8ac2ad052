"""Derived files (display copies, thumbnails, overlays, label maps) no row refers to: what
an attempt wrote before its worker died, deleted by an hourly sweep."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from claims.models import Case, Photo
from inference.models import InferenceRun

logger = logging.getLogger(__name__)


def _derived_referenced(*, case: Case) -> set[str]:
    """Every file name the case's rows refer to (originals included, to be safe)."""
    names: set[str] = set()
    for row in Photo.objects.filter(case=case).values(
        "original", "display", "thumbnail", "annotated", "annotated_reviewed"
    ):
        names.update(str(name) for name in row.values() if name)
    for result in InferenceRun.objects.filter(photo__case=case).values_list("result", flat=True):
        files = result.get("files") if isinstance(result, dict) else None
        names.update(str(name) for name in (files or {}).values())
    return names


def _storage_listdir(folder: str) -> tuple[list[str], list[str]]:
    """(folders, files) in `folder`; empty when there is none. A bucket has no folders, only
    key prefixes, so `exists(folder)` is False there: ask for the listing instead."""
    try:
        return default_storage.listdir(folder)
    except FileNotFoundError:  # the file system's answer for a folder not made yet
        return [], []


def derived_files_sweep(*, now: dt.datetime | None = None) -> list[str]:
    """Delete derived files (display copies, thumbnails, overlays, label maps) that no row
    refers to and that are older than INFERENCE_ORPHAN_AGE_S: what an attempt wrote before
    its worker died. Returns the names deleted.

    Only `cases/<case>/derived/` folders of cases that exist are looked at: an uploaded
    original (`cases/<case>/originals/`) is never touched, and neither is anything of a
    folder the database does not know.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.INFERENCE_ORPHAN_AGE_S)
    deleted: list[str] = []
    for public_id in _storage_listdir("cases")[0]:
        folder = f"cases/{public_id}/derived"
        try:
            case = Case.objects.filter(public_id=uuid.UUID(public_id)).first()
        except ValueError:
            continue  # not a case folder
        if case is None:
            continue
        old = [
            f"{folder}/{name}"
            for name in _storage_listdir(folder)[1]
            if default_storage.get_modified_time(f"{folder}/{name}") < cutoff
        ]
        if not old:
            continue
        referenced = _derived_referenced(case=case)
        for name in old:
            if name not in referenced:
                default_storage.delete(name)
                deleted.append(name)
    if deleted:
        logger.info("deleted %s derived files no row refers to", len(deleted))
    return deleted
