"""Review rounds and the one current decision per finding.

Existing data: every decision but the latest on its finding (or the latest confirmation
of its photo) stops being current; a case with a reviewed report gets a finished round 1
(finished when its last report was written), a case with decisions and no report an open
round 1. The constraints come in the next migration, after this data is in place.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def backfill(apps, schema_editor):  # type: ignore[no-untyped-def]
    ReviewDecision = apps.get_model("review", "ReviewDecision")
    ReviewedReport = apps.get_model("review", "ReviewedReport")
    ReviewRound = apps.get_model("review", "ReviewRound")
    latest: dict[tuple[str, int], int] = {}
    case_ids: set[int] = set()
    for pk, finding_id, photo_id, action, case_id in (
        ReviewDecision.objects.order_by("decided_at", "pk")
        .values_list("pk", "finding_id", "photo_id", "action", "case_id")
        .iterator()
    ):
        case_ids.add(case_id)
        if finding_id is not None:
            latest[("finding", finding_id)] = pk
        elif action == "confirm_set_aside":
            latest[("photo", photo_id)] = pk
    keep = set(latest.values())
    superseded = ReviewDecision.objects.exclude(action="add").exclude(pk__in=keep)
    superseded.update(current=False)
    reported: dict[int, tuple[object, int]] = {}
    for case_id, created_at, by in ReviewedReport.objects.order_by("created_at", "pk").values_list(
        "case_id", "created_at", "reviewed_by_id"
    ):
        reported[case_id] = (created_at, by)
    for case_id in case_ids | set(reported):
        finished_at, by = reported.get(case_id, (None, None))
        ReviewRound.objects.create(
            case_id=case_id, number=1, finished_at=finished_at, finished_by_id=by
        )


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0003_webhook_delivery"),
        ("review", "0002_maskedit_shape"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ReviewRound",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("number", models.PositiveSmallIntegerField()),
                ("opened_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "reason",
                    models.TextField(
                        blank=True, help_text="Why the case was reopened (rounds after 1)."
                    ),
                ),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "case",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="review_rounds",
                        to="claims.case",
                    ),
                ),
                (
                    "finished_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "opened_by",
                    models.ForeignKey(
                        blank=True,
                        help_text="Empty for rounds that existed before rounds were recorded.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="reviewdecision",
            name="current",
            field=models.BooleanField(
                default=True,
                help_text="The decision that counts; false once a later decision replaced it.",
            ),
        ),
        migrations.AddField(
            model_name="reviewdecision",
            name="round",
            field=models.PositiveSmallIntegerField(
                default=1, help_text="The review round it was made in."
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
