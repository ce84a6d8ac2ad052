from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers


class QueueCaseSerializer(serializers.Serializer):
    public_id = serializers.UUIDField()
    reference = serializers.CharField()
    created_at = serializers.DateTimeField()
    min_confidence = serializers.FloatField(allow_null=True)
    pending_findings = serializers.IntegerField()
    pending_photos = serializers.IntegerField()


class DecisionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["accept", "reject"])
    supersedes = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text=(
            "The id of the finding's current decision you are replacing; omit or null when "
            "it is undecided. A decision on a stale view is refused with 409."
        ),
    )


class ReopenSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=500, help_text="Why the review is reopened; goes to the audit trail."
    )


class ReviewedReportSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    dsi = serializers.FloatField()
    kept = serializers.IntegerField()
    rejected = serializers.IntegerField()
    added = serializers.IntegerField()
    reviewed_by = serializers.CharField(source="reviewed_by.username")
    created_at = serializers.DateTimeField()


class ReviewRoundSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    reason = serializers.CharField()
    opened_at = serializers.DateTimeField()


class DecisionOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.CharField()
    finding = serializers.IntegerField(source="finding_id")
    round = serializers.IntegerField()
    reviewer = serializers.CharField(source="reviewer.username")
    decided_at = serializers.DateTimeField()


class SnapshotSerializer(serializers.Serializer):
    version = serializers.CharField()
    images = serializers.IntegerField(help_text="Reviewed photos in the snapshot.")
    annotations = serializers.IntegerField(help_text="Labels (masks or boxes) in the snapshot.")
    categories = serializers.ListField(child=serializers.CharField())
    cases = serializers.ListField(child=serializers.IntegerField())
    summary = serializers.DictField(
        help_text="by_class and by_source label counts, reviewers, reviewed_from/reviewed_to."
    )
    created_at = serializers.DateTimeField()
    archive = serializers.SerializerMethodField(help_text="Where to download it as one zip.")

    def get_archive(self, snapshot: Any) -> str:
        return reverse("review:api_snapshot_archive", args=[snapshot.version])
