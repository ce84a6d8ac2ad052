"""A model version's damage back end (segmentation masks or detector boxes) and a finding's
shape (mask or box).

Every version registered before this migration is a segmentation version and every finding
it wrote is a mask, which is what the defaults say.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inference", "0002_calibrated_confidence"),
    ]

    operations = [
        migrations.AddField(
            model_name="finding",
            name="shape",
            field=models.CharField(
                choices=[("mask", "mask"), ("box", "box")], default="mask", max_length=4
            ),
        ),
        migrations.AddField(
            model_name="modelversion",
            name="damage_backend",
            field=models.CharField(
                choices=[
                    ("segmentation", "Segmentation (masks)"),
                    ("detection", "Detection (boxes)"),
                ],
                default="segmentation",
                max_length=12,
            ),
        ),
    ]
