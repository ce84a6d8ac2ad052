from __future__ import annotations

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
