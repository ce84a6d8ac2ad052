from django.db import migrations, models


def fill(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Cases with a round not finished yet, from review's rounds, once."""
    Case = apps.get_model("claims", "Case")
    ReviewRound = apps.get_model("review", "ReviewRound")
    open_cases = ReviewRound.objects.filter(finished_at__isnull=True).values("case_id")
    Case.objects.filter(pk__in=open_cases).update(review_round_open=True)


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0006_case_status_without_failed"),
        ("review", "0007_shadow_evaluation"),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="review_round_open",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
