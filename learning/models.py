"""Training runs started from the browser: fine-tune a model version on reviewed labels."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class TrainingRun(models.Model):
    """One fine-tuning run on the `training` queue; it ends by registering a candidate."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        CANCELLING = "cancelling", "Cancelling"
        CANCELLED = "cancelled", "Cancelled"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    start_version = models.ForeignKey(
        "inference.ModelVersion", on_delete=models.PROTECT, related_name="training_runs"
    )
    snapshots = models.ManyToManyField(
        "review.DatasetSnapshot", blank=True, related_name="training_runs"
    )
    # [{"name": "damage-bilgi train", "limit": 200}]: public datasets under the data root.
    public_sources = models.JSONField(default=list, blank=True)
    # {"epochs", "resize", "crop", "max_steps_per_epoch", "batch_size", "lr"}
    schedule = models.JSONField(default=dict)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    # {"phase", "epoch", "epochs", "step", "steps", "train_loss", "validation",
    #  "history", "seconds_elapsed", "seconds_left", "resumed_from_epoch"}
    progress = models.JSONField(default=dict, blank=True)
    out_dir = models.CharField(max_length=500, blank=True)
    log_path = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Renewed while a worker trains: a running run whose heartbeat is stale lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    candidate = models.ForeignKey(
        "inference.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="trained_by",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="training_runs"
    )
    created_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"training run {self.pk}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.CANCELLED, self.Status.DONE, self.Status.FAILED)
