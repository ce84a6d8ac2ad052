from django.contrib import admin

from review.models import (
    Contest,
    Lease,
    ReviewDecision,
    ReviewedReport,
    ReviewRound,
)


class ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    """Human decisions are history: the Django admin shows them and never edits them."""

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(ReadOnly):
    list_display = ("id", "case", "action", "damage_type", "part", "reviewer", "decided_at")
    list_filter = ("action",)


@admin.register(ReviewedReport)
class ReviewedReportAdmin(ReadOnly):
    list_display = ("id", "case", "dsi", "kept", "rejected", "added", "reviewed_by", "created_at")


@admin.register(Lease)
class LeaseAdmin(ReadOnly):
    list_display = ("case", "holder", "expires_at")


@admin.register(ReviewRound)
class ReviewRoundAdmin(ReadOnly):
    list_display = ("case", "number", "opened_by", "opened_at", "finished_by", "finished_at")


@admin.register(Contest)
class ContestAdmin(ReadOnly):
    list_display = (
        "id",
        "case",
        "finding",
        "created_by",
        "created_at",
        "answered_by",
        "answered_at",
    )
    list_filter = ("answered_at",)
