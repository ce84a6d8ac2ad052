"""The model lifecycle's rows, in the loop's order: label snapshots (the reviewed labels
exported), training runs started from the browser (a model version fine-tuned on them), and
shadow evaluations (a candidate and the active version scored on reviewed cases) with their
findings.

The snapshots and the shadow evaluations were the review app's until the model lifecycle
left it (issue 21): `db_table` keeps them in the tables review created, with their rows.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class DatasetSnapshot(models.Model):
    """A versioned export of reviewed labels under `settings.REVIEW_EXPORT_ROOT`."""

    version = models.CharField(max_length=64, unique=True)
    path = models.CharField(max_length=500)
    images = models.PositiveIntegerField()
    annotations = models.PositiveIntegerField()
    categories = models.JSONField()
    cases = models.JSONField()
    summary = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            "Labels by class and by source, who reviewed the cases and when (first and "
            "last finished review), for the snapshot list."
        ),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty when the management command wrote it.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "review_datasetsnapshot"

    def __str__(self) -> str:
        return f"snapshot {self.version}"


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
    snapshots = models.ManyToManyField(DatasetSnapshot, blank=True, related_name="training_runs")
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


class ShadowEvaluation(models.Model):
    """A candidate version and the active one run in shadow on the same reviewed cases and
    scored against what the adjusters decided. Nothing of it reaches a customer, a report,
    the review queue or a webhook: its findings are `ShadowFinding` rows, not
    `inference.Finding`."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    candidate = models.ForeignKey(
        "inference.ModelVersion", on_delete=models.PROTECT, related_name="shadow_evaluations"
    )
    baseline = models.ForeignKey(
        "inference.ModelVersion",
        on_delete=models.PROTECT,
        related_name="shadow_baselines",
        help_text="The active version when the evaluation was asked for.",
    )
    n_cases = models.PositiveIntegerField(help_text="How many of the last reviewed cases.")
    case_ids = models.JSONField(default=list, help_text="The reviewed cases both ran on.")
    excluded_case_ids = models.JSONField(
        default=list,
        help_text="Cases among the last N left out because the candidate was trained on them.",
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    figures = models.JSONField(
        default=dict,
        blank=True,
        help_text="Per version ('candidate', 'baseline') and their comparison, once done.",
    )
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "review_shadowevaluation"
        indexes = [
            models.Index(fields=["candidate", "-created_at"], name="review_shadow_candidate")
        ]
        constraints = [
            # One evaluation of a candidate at a time, whatever double clicks.
            models.UniqueConstraint(
                fields=["candidate"],
                condition=models.Q(status__in=["queued", "running"]),
                name="review_shadow_one_open_per_candidate",
            ),
        ]

    def __str__(self) -> str:
        return f"shadow evaluation {self.pk} of {self.candidate_id} ({self.status})"


class ShadowFinding(models.Model):
    """A finding a version made in shadow, judged against the adjusters' decisions."""

    class Outcome(models.TextChoices):
        CORRECT = "correct", "matches a kept region"
        REJECTED = "rejected", "on a region the adjusters rejected"
        FALSE = "false", "matches nothing kept"

    evaluation = models.ForeignKey(
        ShadowEvaluation, on_delete=models.CASCADE, related_name="findings"
    )
    model_version = models.ForeignKey(
        "inference.ModelVersion", on_delete=models.PROTECT, related_name="+"
    )
    case = models.ForeignKey("claims.Case", on_delete=models.CASCADE, related_name="+")
    photo = models.ForeignKey("claims.Photo", on_delete=models.CASCADE, related_name="+")
    index = models.PositiveSmallIntegerField()
    part = models.CharField(max_length=50)
    damage = models.CharField(max_length=50)
    shape = models.CharField(max_length=4, default="mask")
    mask_rle = models.JSONField(help_text="COCO compressed RLE in the processed grid.")
    mask_size = models.JSONField(help_text="[width, height] of the processed grid.")
    box = models.JSONField(help_text="[x0, y0, x1, y1] in the processed grid.")
    confidence = models.FloatField()
    c_refined = models.FloatField()
    dsi_score = models.FloatField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    matched_truth = models.CharField(
        max_length=20,
        blank=True,
        help_text="The truth region it matched: 'f<finding id>' or 'a<decision id>'.",
    )
    match_iou = models.FloatField(default=0.0)

    class Meta:
        db_table = "review_shadowfinding"
        constraints = [
            models.UniqueConstraint(
                fields=["evaluation", "model_version", "photo", "index"],
                name="review_shadow_finding_unique",
            )
        ]

    def __str__(self) -> str:
        return f"shadow {self.damage} on {self.part} ({self.outcome})"
