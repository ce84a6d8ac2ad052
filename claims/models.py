"""Cases, their photos, API clients and the append-only audit trail."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models


class Case(models.Model):
    class Status(models.TextChoices):
        PROCESSING = "processing", "Processing photos"
        NEEDS_REVIEW = "needs_review", "Waiting for an adjuster"
        RELEASED = "released", "Report ready"
        REVIEWED = "reviewed", "Reviewed by an adjuster"
        NEEDS_PHOTOS = "needs_photos", "Needs more photos"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="cases"
    )
    policy_number = models.CharField(max_length=40)
    loss_date = models.DateField()
    loss_place = models.CharField(max_length=200)
    description = models.TextField(max_length=5000)
    contact_phone = models.CharField(max_length=40, blank=True)
    contact_email = models.EmailField(blank=True)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PROCESSING, db_index=True
    )
    dsi = models.FloatField(null=True, blank=True)
    model_version = models.ForeignKey(
        "inference.ModelVersion", on_delete=models.PROTECT, null=True, related_name="cases"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    webhook_sent_at = models.DateTimeField(null=True, blank=True)
    # A review round is open (an adjuster's first decision, a reopen or a contest opened
    # it; finishing closes it). Written by the review app with its rounds, read by claims'
    # rule for the status after processing, so claims never queries review's tables.
    review_round_open = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Case {self.reference}"

    @property
    def reference(self) -> str:
        return str(self.public_id)[:8].upper()

    @property
    def is_finished(self) -> bool:
        return self.status not in (self.Status.PROCESSING,)


def _photo_path(instance: Photo, filename: str) -> str:
    # Stored under a random name: the customer's file name is kept in `original_name`.
    return f"cases/{instance.case.public_id}/originals/{uuid.uuid4().hex}.{instance.extension}"


class Photo(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Processing"
        DONE = "done", "Done"
        SET_ASIDE = "set_aside", "Set aside"
        FAILED = "failed", "Failed"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="photos")
    position = models.PositiveSmallIntegerField()
    original = models.FileField(upload_to=_photo_path, max_length=300)
    original_name = models.CharField(max_length=255)
    extension = models.CharField(max_length=8)
    content_type = models.CharField(max_length=40)
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField()  # after EXIF orientation
    height = models.PositiveIntegerField()
    display = models.FileField(max_length=300, blank=True)  # oriented JPEG without EXIF
    thumbnail = models.FileField(max_length=300, blank=True)
    annotated = models.FileField(max_length=300, blank=True)  # part and damage overlays
    # The overlays of the reviewed report finished in review round `annotated_round`
    # (what the adjuster kept, changed and added), drawn when first asked for.
    annotated_reviewed = models.FileField(max_length=300, blank=True)
    annotated_round = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    set_aside_reason = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    dsi = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case", "position"]
        constraints = [
            models.UniqueConstraint(fields=["case", "position"], name="photo_unique_position")
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.case.reference})"

    @property
    def is_final(self) -> bool:
        """Processing is over for this photo (done, set aside or failed)."""
        return self.status in FINAL_PHOTO_STATES


class ApiClient(models.Model):
    """An integrator: the user whose token calls the API, and where to notify it."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_client"
    )
    webhook_url = models.URLField(blank=True)
    webhook_secret = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return f"API client {self.user}"


class AuditEvent(models.Model):
    """Append-only record of what a person or the system did."""

    case = models.ForeignKey(
        Case, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    verb = models.CharField(max_length=60, db_index=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.verb} at {self.created_at:%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Guard, not logic: an audit event is written once and never changed.
        if not self._state.adding:
            raise ValueError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("audit events are append-only")


class WebhookDelivery(models.Model):
    """One finished case's webhook in the outbox: sent, retried with backoff, or given up.

    The row is written in the transaction that finishes the case, so a message the broker
    loses is found again by the sweep; a conditional update claims it for one attempt.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        REFUSED = "refused", "Refused (target not allowed)"
        FAILED = "failed", "Failed (gave up)"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="webhook_deliveries")
    url = models.URLField(max_length=2000)  # the client's webhook URL when it was enqueued
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the next attempt may start; while one runs, the end of its lease.
    next_attempt_at = models.DateTimeField(db_index=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["case"],
                condition=models.Q(status="pending"),
                name="webhook_delivery_one_pending_per_case",
            )
        ]

    def __str__(self) -> str:
        return f"Webhook for {self.case} ({self.status})"


class ApiToken(models.Model):
    """A named secret that an API client sends as `Authorization: Bearer dcr_...`.

    Only the sha256 of the token is stored; the token itself is shown once, when it is
    created. `prefix` (the token's first characters) names it on the settings page and
    finds the row, whose digest is then compared in constant time.
    """

    class Scope(models.TextChoices):
        READ = "read", "Read only"
        WRITE = "write", "Read and write"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.WRITE)
    prefix = models.CharField(max_length=12, db_index=True)
    digest = models.CharField(max_length=64, unique=True)  # sha256 of the whole token, hex
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class FormSubmission(models.Model):
    """A form that created something (a claim, a photo, a contest, an API token), by the
    key it carried: a hidden field made when the form was rendered (`claims.submissions`).
    The same key sent again answers with what the first sending made (`object_id`, a row
    of the model named by `kind`) instead of making another; the unique constraint, not a
    lookup, decides between two sendings at the same moment."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=32)
    kind = models.CharField(max_length=40)  # the created model's label, e.g. "claims.case"
    object_id = models.PositiveBigIntegerField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="form_submission_once"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id} from form {self.key}"


# A photo in one of these states is no longer processed; a case whose photos are all in
# them can be synthesised.
FINAL_PHOTO_STATES = (Photo.Status.DONE, Photo.Status.SET_ASIDE, Photo.Status.FAILED)
