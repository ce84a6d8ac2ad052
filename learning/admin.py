from django.contrib import admin

from learning.models import DatasetSnapshot, TrainingRun
from review.admin import ReadOnly


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(ReadOnly):
    list_display = ("version", "images", "annotations", "created_by", "created_at")


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["pk", "start_version", "status", "attempts", "candidate", "created_at"]
    list_filter = ["status"]
    readonly_fields = ["progress", "heartbeat_at", "attempts"]
