"""Long and one piece because Django expects an app's models in one module: the review app's leases,
mask edits, review rounds, decisions, reviewed reports and contests. (Label snapshots and
shadow evaluations are the learning app's: `learning.models`.)

Human judgement, kept apart from model output.

The model's `inference.Finding` rows are never changed: a decision, a mask edit or a
recomputed report is a new row that records who and when. One decision per finding is
`current` (the database refuses a second); older ones stay as history.

A case is reviewed in rounds: the first decision opens round 1, an adjuster finishes it
explicitly (which writes the reviewed report once), and a reviewed case changes only after
an adjuster reopens it, which opens the next round.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from review.rle import Rle


class Lease(models.Model):
    """Who works on a case now. One row per case, taken with a conditional update."""

    case = models.OneToOneField(
        "claims.Case", on_delete=models.CASCADE, related_name="review_lease"
    )
    holder = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="review_leases",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["holder", "expires_at"], name="review_lease_holder_exp")]

    def __str__(self) -> str:
        return f"lease on case {self.case_id} by {self.holder_id} until {self.expires_at}"


class MaskEdit(models.Model):
    """A mask drawn by a person, at the photo's full size, as COCO compressed RLE."""

    class Shape(models.TextChoices):
        MASK = "mask", "mask"  # painted or outlined pixels
        BOX = "box", "box"  # drawn with the box tool: the mask is exactly the filled box

    photo = models.ForeignKey("claims.Photo", on_delete=models.PROTECT, related_name="mask_edits")
    finding = models.ForeignKey(
        "inference.Finding",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="mask_edits",
        help_text="The model finding this mask corrects; empty for a damage the model missed.",
    )
    damage_type = models.CharField(max_length=64)
    part = models.CharField(max_length=64)
    height = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    counts = models.TextField(help_text="COCO compressed RLE counts, column-major.")
    area_px = models.PositiveIntegerField()
    box = models.JSONField(help_text="[x0, y0, x1, y1], exclusive, at the photo's full size.")
    shape = models.CharField(
        max_length=4,
        choices=Shape.choices,
        default=Shape.MASK,
        help_text="'box' when the person drew a box (the mask is the filled box).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"mask edit {self.pk} on photo {self.photo_id}"

    def as_coco(self) -> dict[str, object]:
        return self.rle.as_coco()

    @property
    def rle(self) -> Rle:
        """The drawn mask, at the photo's full size."""
        return Rle(height=self.height, width=self.width, counts=self.counts)


class ReviewRound(models.Model):
    """One pass of review over a case: opened by its first decision (or a reopen),
    finished once by an adjuster. At most one round of a case is open."""

    case = models.ForeignKey("claims.Case", on_delete=models.PROTECT, related_name="review_rounds")
    number = models.PositiveSmallIntegerField()
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty for rounds that existed before rounds were recorded.",
    )
    opened_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField(blank=True, help_text="Why the case was reopened (rounds after 1).")
    finished_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "number"], name="review_round_number"),
            models.UniqueConstraint(
                fields=["case"],
                condition=models.Q(finished_at__isnull=True),
                name="review_round_one_open",
            ),
        ]

    def __str__(self) -> str:
        state = "open" if self.finished_at is None else "finished"
        return f"review round {self.number} of case {self.case_id} ({state})"


class ReviewDecision(models.Model):
    """One human decision about a finding, a missed damage or a set-aside photo."""

    class Action(models.TextChoices):
        ACCEPT = "accept", "accepted"
        REJECT = "reject", "rejected"
        EDIT = "edit", "edited"
        ADD = "add", "added"
        REMOVE = "remove", "removed"  # an added damage taken off again (`replaces` it)
        CONFIRM_SET_ASIDE = "confirm_set_aside", "set aside confirmed"

    case = models.ForeignKey(
        "claims.Case", on_delete=models.PROTECT, related_name="review_decisions"
    )
    finding = models.ForeignKey(
        "inference.Finding",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="review_decisions",
    )
    photo = models.ForeignKey(
        "claims.Photo", on_delete=models.PROTECT, related_name="review_decisions"
    )
    mask_edit = models.OneToOneField(
        MaskEdit, null=True, blank=True, on_delete=models.PROTECT, related_name="decision"
    )
    action = models.CharField(max_length=24, choices=Action.choices)
    damage_type = models.CharField(max_length=64, blank=True)
    part = models.CharField(max_length=64, blank=True)
    c_refined = models.FloatField(
        null=True, blank=True, help_text="The finding's confidence when it was decided."
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_decisions"
    )
    decided_at = models.DateTimeField(default=timezone.now)
    round = models.PositiveSmallIntegerField(
        default=1, help_text="The review round it was made in."
    )
    current = models.BooleanField(
        default=True,
        help_text="The decision that counts; false once a later decision replaced it.",
    )
    # An added damage redrawn, re-typed, moved to another part ("add") or taken off
    # ("remove") is a new decision replacing the one before: the chain is its history.
    replaces = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="replaced_by",
        help_text="The added damage's decision this one replaces (an edit or a removal).",
    )

    class Meta:
        indexes = [
            models.Index(fields=["finding", "-decided_at"], name="review_dec_finding_latest"),
            models.Index(fields=["case", "-decided_at"], name="review_dec_case_latest"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(action__in=["edit", "add"], mask_edit__isnull=False)
                    | (~models.Q(action__in=["edit", "add"]) & models.Q(mask_edit__isnull=True))
                ),
                name="review_dec_mask_iff_drawn",
            ),
            models.CheckConstraint(
                condition=models.Q(action__in=["add", "remove"], finding__isnull=True)
                | models.Q(action="confirm_set_aside", finding__isnull=True)
                | (
                    ~models.Q(action__in=["add", "remove", "confirm_set_aside"])
                    & models.Q(finding__isnull=False)
                ),
                name="review_dec_finding_iff_model",
            ),
            # A removal replaces an added damage; only added damages are replaced.
            models.CheckConstraint(
                condition=~models.Q(action="remove") | models.Q(replaces__isnull=False),
                name="review_dec_remove_replaces",
            ),
            # One decision counts per finding and per set-aside photo, whatever races.
            models.UniqueConstraint(
                fields=["finding"],
                condition=models.Q(current=True, finding__isnull=False),
                name="review_dec_one_current_per_finding",
            ),
            models.UniqueConstraint(
                fields=["photo"],
                condition=models.Q(current=True, action="confirm_set_aside"),
                name="review_dec_one_current_confirm",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.reviewer_id} on case {self.case_id}"

    @property
    def kept(self) -> bool:
        return self.action in {self.Action.ACCEPT, self.Action.EDIT, self.Action.ADD}


class ReviewedReport(models.Model):
    """The case report computed from the human decisions when a review round is finished;
    one row per finished round, never changed. `outcome` is what the readers read (the
    customer's page and PDF, the reviewed overlays, the label export); the figures beside
    it are the same value's, kept as columns for the admin, the API and the screen."""

    case = models.ForeignKey(
        "claims.Case", on_delete=models.PROTECT, related_name="reviewed_reports"
    )
    round = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="The review round it finished; empty for reports older than the rounds.",
    )
    outcome = models.JSONField(
        null=True,
        blank=True,
        help_text=(
            "What the report keeps and its figures (review.outcome.ReviewOutcome); empty "
            "for an older report its decisions no longer give (review 0009)."
        ),
    )
    damaged_parts = models.JSONField()
    dsi = models.FloatField()
    kept = models.PositiveIntegerField()
    rejected = models.PositiveIntegerField()
    added = models.PositiveIntegerField()
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["case", "-created_at"], name="review_report_latest")]
        constraints = [
            models.UniqueConstraint(fields=["case", "round"], name="review_report_one_per_round")
        ]

    def __str__(self) -> str:
        return f"reviewed report {self.pk} of case {self.case_id}"


class Contest(models.Model):
    """A customer's objection to a finding of their report, or ("missed damage") to what
    it left out; an adjuster answers it before the review can be finished again."""

    case = models.ForeignKey("claims.Case", on_delete=models.PROTECT, related_name="contests")
    finding = models.ForeignKey(
        "inference.Finding",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="contests",
        help_text="The contested finding; empty when the customer says damage was missed.",
    )
    photo = models.ForeignKey(
        "claims.Photo",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The photo the customer added with the contest, if any.",
    )
    reason = models.TextField(max_length=500)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="contests"
    )
    created_at = models.DateTimeField(default=timezone.now)
    answer = models.TextField(blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["case", "created_at"], name="review_contest_case")]
        constraints = [
            # One open contest per finding, whatever races.
            models.UniqueConstraint(
                fields=["finding"],
                condition=models.Q(answered_at__isnull=True, finding__isnull=False),
                name="review_contest_one_open_per_finding",
            ),
        ]

    def __str__(self) -> str:
        state = "open" if self.answered_at is None else "answered"
        return f"contest {self.pk} of case {self.case_id} ({state})"

    @property
    def is_open(self) -> bool:
        return self.answered_at is None
