"""Model versions, inference runs (photo x model version) and the findings they produce."""

from __future__ import annotations

from typing import Any

from django.db import models


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    class DamageBackend(models.TextChoices):
        # damage_vision.versions.registry.DAMAGE_BACKENDS: per-pixel masks of the joint network
        # (paper 1) or boxes of the YOLOv9-CS detector (paper 2).
        SEGMENTATION = "segmentation", "Segmentation (masks)"
        DETECTION = "detection", "Detection (boxes)"

    name = models.CharField(max_length=100)
    version = models.CharField(max_length=50)
    weights_sha256 = models.CharField(max_length=64)
    part_taxonomy = models.CharField(max_length=50)
    damage_taxonomy = models.CharField(max_length=50)
    threshold = models.FloatField()
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.CANDIDATE, db_index=True
    )
    manifest_path = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    # Findings at or above `threshold` are released without review; the threshold is chosen
    # for this precision of released findings (Learn-then-Test, see `threshold_promise`).
    target_precision = models.FloatField(default=0.9)
    # True when the manifest names a calibrator; otherwise a finding's confidence is C_base.
    calibrated = models.BooleanField(default=False)
    # How the manifest's threshold was chosen: `ThresholdChoice.to_dict()` of
    # `damage_vision.pipeline.risk_control`, empty when the manifest does not say.
    threshold_promise = models.JSONField(default=dict, blank=True)
    # How the version finds damage (the manifest's `damage_backend`); its findings' shape.
    damage_backend = models.CharField(
        max_length=12, choices=DamageBackend.choices, default=DamageBackend.SEGMENTATION
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="model_version_unique"),
            models.UniqueConstraint(
                fields=["status"],
                condition=models.Q(status="active"),
                name="model_version_one_active",
            ),
            models.CheckConstraint(
                condition=models.Q(target_precision__gt=0.0, target_precision__lt=1.0),
                name="model_version_target_precision_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class InferenceRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    photo = models.ForeignKey("claims.Photo", on_delete=models.CASCADE, related_name="runs")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    timings_ms = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)  # the core's output, masks as RLE
    error = models.TextField(blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Renewed every INFERENCE_HEARTBEAT_S while a worker processes the run: a running run
    # whose heartbeat is older than INFERENCE_HEARTBEAT_STALE_S lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["photo", "model_version"], name="run_unique_photo")
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of photo {self.photo_id}"


class Finding(models.Model):
    """A damaged part one model version found in one photo; immutable once written."""

    class Shape(models.TextChoices):
        MASK = "mask", "mask"  # a region of pixels (segmentation back end)
        BOX = "box", "box"  # a detector box; `mask_rle` is the filled box (detection back end)

    case = models.ForeignKey("claims.Case", on_delete=models.CASCADE, related_name="findings")
    photo = models.ForeignKey("claims.Photo", on_delete=models.CASCADE, related_name="findings")
    run = models.ForeignKey(InferenceRun, on_delete=models.PROTECT, related_name="findings")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="findings"
    )
    index = models.PositiveSmallIntegerField()  # position among the photo's findings
    part = models.CharField(max_length=50, db_index=True)
    damage = models.CharField(max_length=50, db_index=True)
    mask_rle = models.JSONField()  # COCO compressed RLE in the processed grid
    mask_size = models.JSONField()  # [width, height] of the processed grid
    box = models.JSONField()  # [x0, y0, x1, y1] in the processed grid
    shape = models.CharField(max_length=4, choices=Shape.choices, default=Shape.MASK)
    area_px = models.PositiveIntegerField()
    share_of_part = models.FloatField()
    size_class = models.CharField(max_length=10)
    area_cm2 = models.FloatField(null=True, blank=True)
    area_cm2_uncertainty = models.FloatField(null=True, blank=True)
    c_base = models.FloatField()  # mean damage-class probability over the region (Ma et al.)
    # Calibrated probability that the finding is correct; C_base for an uncalibrated version.
    confidence = models.FloatField()
    k_agree = models.FloatField()
    c_refined = models.FloatField(db_index=True)  # confidence * k_agree; routes to review
    needs_review = models.BooleanField(db_index=True)
    dsi_area = models.FloatField()
    dsi_confidence = models.FloatField()
    dsi_type_weight = models.FloatField()
    dsi_score = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["photo", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["photo", "model_version", "index"], name="finding_unique_index"
            )
        ]

    def __str__(self) -> str:
        return f"{self.damage} on {self.part}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Guard, not logic: model output is never edited; reviews are separate rows.
        if not self._state.adding:
            raise ValueError("findings are immutable; record a review decision instead")
        super().save(*args, **kwargs)
