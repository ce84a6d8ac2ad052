"""What the site shows of an uploaded photo: an oriented display copy and a thumbnail,
re-encoded without any EXIF (the original is kept as it came)."""

from __future__ import annotations

import io

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageOps

from claims.models import Photo


def photo_derive(*, photo: Photo) -> None:
    """Write the oriented display copy and the thumbnail, re-encoded without any EXIF."""
    with photo.original.open("rb") as fh, Image.open(fh) as image:
        image.load()
        oriented = ImageOps.exif_transpose(image) or image
        rgb = oriented.convert("RGB")
    display = rgb.copy()
    display.thumbnail((settings.CLAIMS_DERIVED_LONG_SIDE, settings.CLAIMS_DERIVED_LONG_SIDE))
    thumb = rgb.copy()
    thumb.thumbnail((320, 320))
    base = f"cases/{photo.case.public_id}/derived/{photo.pk}"
    for field, img, suffix in (
        (photo.display, display, "display"),
        (photo.thumbnail, thumb, "thumb"),
    ):
        buffer = io.BytesIO()
        img.save(buffer, "JPEG", quality=88)  # no exif= argument: nothing personal is copied
        if field.name:
            default_storage.delete(field.name)
        field.save(f"{base}-{suffix}.jpg", ContentFile(buffer.getvalue()), save=False)
    photo.save(update_fields=["display", "thumbnail"])


def photo_status_set(
    *,
    photo_id: int,
    status: Photo.Status,
    error: str = "",
    set_aside_reason: str = "",
    annotated: str = "",
    dsi: float | None = None,
) -> None:
    """The one writer of a photo's processing status, which follows the status of the
    photo's inference run (the caller writes both in one transaction). A failed photo
    keeps the customer's `error` (cleared in every other status); a finished one (done or
    set aside) its set-aside reason, annotated copy and DSI."""
    fields: dict[str, object] = {
        "status": status,
        "error": error[:5000] if status == Photo.Status.FAILED else "",
    }
    if status in (Photo.Status.DONE, Photo.Status.SET_ASIDE):
        fields |= {"set_aside_reason": set_aside_reason, "annotated": annotated, "dsi": dsi}
    Photo.objects.filter(pk=photo_id).update(**fields)
