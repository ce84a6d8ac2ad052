"""What the database enforces from now on: one current decision per finding and per
set-aside photo, round numbers unique per case, at most one open round per case."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0003_review_rounds"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="reviewdecision",
            constraint=models.UniqueConstraint(
                condition=models.Q(("current", True), ("finding__isnull", False)),
                fields=("finding",),
                name="review_dec_one_current_per_finding",
            ),
        ),
        migrations.AddConstraint(
            model_name="reviewdecision",
            constraint=models.UniqueConstraint(
                condition=models.Q(("action", "confirm_set_aside"), ("current", True)),
                fields=("photo",),
                name="review_dec_one_current_confirm",
            ),
        ),
        migrations.AddConstraint(
            model_name="reviewround",
            constraint=models.UniqueConstraint(
                fields=("case", "number"), name="review_round_number"
            ),
        ),
        migrations.AddConstraint(
            model_name="reviewround",
            constraint=models.UniqueConstraint(
                condition=models.Q(("finished_at__isnull", True)),
                fields=("case",),
                name="review_round_one_open",
            ),
        ),
    ]
