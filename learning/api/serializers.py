from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers


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
        return reverse("learning:api_snapshot_archive", args=[snapshot.version])
