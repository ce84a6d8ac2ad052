"""Writes and business rules for cases and photos."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from claims.audit import audit_record
from claims.models import Case, Photo
from claims.uploads import CheckedPhoto, UploadRejectedError, check_photo
from common.access import RequestUser, is_staff_role, require_customer_filing
from common.errors import ApplicationError
from inference.services import model_version_active, run_requeue, runs_create


@dataclass(frozen=True)
class Upload:
    """One uploaded file as the service sees it: a name, a stream and its declared size."""

    name: str
    stream: IO[bytes]
    size: int | None = None


def photos_check(
    *, uploads: Sequence[Upload], already: int = 0, already_bytes: int = 0
) -> list[CheckedPhoto]:
    """Check every file first, so a rejection stores nothing; errors name each file.

    `already` and `already_bytes` count the photos the case holds before these.
    """
    max_photos = settings.CLAIMS_MAX_PHOTOS
    if not uploads and already == 0:
        raise ApplicationError(
            "Add at least one photo: a few full views of the car and a close-up of each damage.",
            {"photos": ["Add at least one photo."]},
        )
    if already + len(uploads) > max_photos:
        raise ApplicationError(
            f"A case holds at most {max_photos} photos; you sent {already + len(uploads)}. "
            "Keep the clearest ones.",
            {"photos": [f"At most {max_photos} photos a case."]},
        )
    # Refuse on the declared sizes before reading anything: 30 large files are not read in vain.
    _case_bytes_check(already_bytes + sum(u.size for u in uploads if u.size is not None))
    checked: list[CheckedPhoto] = []
    errors: dict[str, list[str]] = {}
    for upload in uploads:
        try:
            checked.append(check_photo(upload.name, upload.stream, upload.size))
        except UploadRejectedError as exc:
            errors.setdefault("photos", []).append(f"{exc.filename}: {exc.reason}")
    if errors:
        raise ApplicationError(
            "Some photos could not be accepted; nothing was filed. Fix or remove them and "
            "send again.",
            errors,
        )
    _case_bytes_check(already_bytes + sum(len(c.data) for c in checked))
    return checked


def _case_bytes_check(total: int) -> None:
    if total > settings.CLAIMS_MAX_CASE_BYTES:
        limit_mb = settings.CLAIMS_MAX_CASE_BYTES / (1024 * 1024)
        raise ApplicationError(
            f"The photos add up to {total / (1024 * 1024):.1f} MB; a case takes at most "
            f"{limit_mb:.1f} MB. Send fewer or smaller photos.",
            {"photos": [f"At most {limit_mb:.1f} MB of photos a case."]},
        )


def _photo_create(*, case: Case, checked: CheckedPhoto, position: int) -> Photo:
    photo = Photo(
        case=case,
        position=position,
        original_name=checked.name,
        extension=checked.extension,
        content_type=checked.content_type,
        size_bytes=len(checked.data),
        sha256=checked.sha256,
        width=checked.width,
        height=checked.height,
    )
    photo.original.save(f"photo.{checked.extension}", ContentFile(checked.data), save=False)
    photo.save()
    return photo


def _files_delete(photos: Sequence[Photo]) -> None:
    for photo in photos:
        if photo.original.name:
            default_storage.delete(photo.original.name)


def _store_photos(
    *, case: Case, checked: Sequence[CheckedPhoto], start: int, stored: list[Photo]
) -> None:
    """Create the rows and files, appending each to `stored` so the caller can clean up."""
    for offset, item in enumerate(checked):
        stored.append(_photo_create(case=case, checked=item, position=start + offset))


def case_submit(
    *,
    customer: User,
    policy_number: str,
    loss_date: dt.date,
    loss_place: str,
    description: str,
    uploads: Sequence[Upload],
    contact_phone: str = "",
    contact_email: str = "",
) -> Case:
    """File a claim: all photos are checked before anything is stored."""
    require_customer_filing(customer)
    if loss_date > timezone.localdate():
        raise ApplicationError(
            "The date of loss is in the future; give the day the damage happened.",
            {"loss_date": ["The date of loss cannot be in the future."]},
        )
    checked = photos_check(uploads=uploads)
    model_version = model_version_active()
    photos: list[Photo] = []
    try:
        with transaction.atomic():
            case = Case.objects.create(
                customer=customer,
                policy_number=policy_number.strip(),
                loss_date=loss_date,
                loss_place=loss_place.strip(),
                description=description.strip(),
                contact_phone=contact_phone.strip(),
                contact_email=contact_email.strip(),
                model_version=model_version,
            )
            _store_photos(case=case, checked=checked, start=0, stored=photos)
            audit_record(
                verb="case.submitted",
                case=case,
                actor=customer,
                data={"photos": len(photos), "model_version": str(model_version)},
            )
            runs_create(photos=photos, model_version=model_version)
    except BaseException:
        _files_delete(photos)  # the rows rolled back; their files must go too
        raise
    return case


def photo_add(*, case: Case, user: User, upload: Upload) -> Photo:
    """Add a photo to an existing case (a retake of one set aside, or one more view)."""
    if case.status == Case.Status.REVIEWED:
        raise ApplicationError("This case has been reviewed; contact your adjuster to add photos.")
    stored: list[Photo] = []
    try:
        with transaction.atomic():
            case = Case.objects.select_for_update().get(pk=case.pk)
            held = case.photos.aggregate(count=Count("pk"), size=Sum("size_bytes"))
            (checked,) = photos_check(
                uploads=[upload], already=held["count"], already_bytes=held["size"] or 0
            )
            last = case.photos.order_by("-position").values_list("position", flat=True).first()
            _store_photos(case=case, checked=[checked], start=(last or 0) + 1, stored=stored)
            (photo,) = stored
            case.status = Case.Status.PROCESSING
            case.finished_at = None
            case.save(update_fields=["status", "finished_at", "updated_at"])
            audit_record(verb="photo.added", case=case, actor=user, data={"photo": photo.pk})
            assert case.model_version is not None
            runs_create(photos=[photo], model_version=case.model_version)
    except BaseException:
        _files_delete(stored)
        raise
    return photo


def photo_retry(*, photo: Photo, user: User) -> None:
    """Queue a failed photo again."""
    if photo.status != Photo.Status.FAILED:
        raise ApplicationError("Only a photo whose processing failed can be retried.")
    run_requeue(photo=photo)
    audit_record(verb="photo.retried", case=photo.case, actor=user, data={"photo": photo.pk})


def can_view_case(*, user: RequestUser, case: Case) -> bool:
    return bool(user.is_authenticated and (case.customer_id == user.pk or is_staff_role(user)))
