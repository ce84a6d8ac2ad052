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


class DecisionOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.CharField()
    finding = serializers.IntegerField(source="finding_id")
    reviewer = serializers.CharField(source="reviewer.username")
    decided_at = serializers.DateTimeField()
