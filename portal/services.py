"""Writes of the customer's pages that read what review decided: the annotated photo a
customer sees (the reviewed report's overlays once a review covers the photo)."""

from __future__ import annotations

import io

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models.fields.files import FieldFile
from PIL import Image, ImageOps

from claims.models import Photo
from claims.wording import damage_words
from damage_vision.taxonomy import load_taxonomy
from inference.services.rendering import JPEG_QUALITY, render
from portal.report_items import photo_review_round, photo_reviewed_regions


def photo_annotated(*, photo: Photo) -> FieldFile | None:
    """The annotated photo a customer sees: once an adjuster has finished a review that
    covers the photo, the reviewed report's overlays (what was kept, redrawn and added,
    never what was rejected), drawn the first time they are asked for; else the model's.
    None while the photo has no overlays yet."""
    round_number = photo_review_round(photo=photo)
    if round_number is None or not photo.annotated:
        return photo.annotated or None
    if photo.annotated_reviewed and photo.annotated_round == round_number:
        return photo.annotated_reviewed
    version = photo.case.model_version
    assert version is not None  # a photo with overlays was processed by a version
    regions = photo_reviewed_regions(photo=photo, round_number=round_number)
    source = photo.display or photo.original
    with source.open("rb") as fh, Image.open(fh) as img:
        drawn = render(
            ImageOps.exif_transpose(img),
            regions,
            (photo.width, photo.height),
            load_taxonomy(version.damage_taxonomy),
            words=damage_words,
        )
    buffer = io.BytesIO()
    drawn.image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    name = default_storage.save(
        f"cases/{photo.case.public_id}/derived/{photo.pk}-reviewed-r{round_number}.jpg",
        ContentFile(buffer.getvalue()),
    )
    # Two requests may draw it at once: the last one's file is kept, the other one's is
    # left to the orphan sweep (`inference.services.derived_files_sweep`).
    Photo.objects.filter(pk=photo.pk).update(annotated_reviewed=name, annotated_round=round_number)
    photo.annotated_reviewed.name = name
    photo.annotated_round = round_number
    return photo.annotated_reviewed
