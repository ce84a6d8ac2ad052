"""Whether a person drew a correction as a box; every mask drawn before is a mask."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="maskedit",
            name="shape",
            field=models.CharField(
                choices=[("mask", "mask"), ("box", "box")],
                default="mask",
                help_text="'box' when the person drew a box (the mask is the filled box).",
                max_length=4,
            ),
        ),
    ]
