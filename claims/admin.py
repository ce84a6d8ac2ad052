from django.contrib import admin

from claims.models import ApiClient, AuditEvent, Case, Photo, WebhookDelivery


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["reference", "customer", "status", "dsi", "created_at"]
    list_filter = ["status"]


@admin.register(Photo)
class PhotoAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["original_name", "case", "status"]
    exclude = ["original"]


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["user", "webhook_url"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["verb", "case", "actor", "created_at"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "case",
        "status",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    ]
    list_filter = ["status", "created_at"]
    search_fields = ["url", "last_error"]
    list_select_related = ["case"]
    readonly_fields = [
        "case",
        "url",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "created_at",
        "delivered_at",
    ]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False  # deliveries are written when a case finishes
