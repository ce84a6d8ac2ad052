from django.contrib import admin

from inference.models import Finding, InferenceRun, ModelVersion


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "name",
        "version",
        "status",
        "damage_backend",
        "threshold",
        "target_precision",
        "calibrated",
        "created_at",
    ]
    list_filter = ["status", "damage_backend"]


@admin.register(InferenceRun)
class InferenceRunAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["photo", "model_version", "status", "attempts", "queued_at"]
    list_filter = ["status"]


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "case",
        "photo",
        "part",
        "damage",
        "shape",
        "c_base",
        "confidence",
        "k_agree",
        "c_refined",
        "needs_review",
    ]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
