from django.contrib import admin

from learning.models import TrainingRun


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["pk", "start_version", "status", "attempts", "candidate", "created_at"]
    list_filter = ["status"]
    readonly_fields = ["progress", "heartbeat_at", "attempts"]
