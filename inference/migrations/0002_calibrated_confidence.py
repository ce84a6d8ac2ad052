"""Calibrated confidence per finding; target precision, calibrator flag and threshold promise
per model version.

Findings written before calibrators existed come from uncalibrated versions, whose
confidence is by definition their C_base; their C_refined (C_base * K_agree) is therefore
already confidence * K_agree and stays as it is.
"""

from django.db import migrations, models
from django.db.models import F


def confidence_from_c_base(apps, schema_editor):
    Finding = apps.get_model("inference", "Finding")
    Finding.objects.update(confidence=F("c_base"))


class Migration(migrations.Migration):

    dependencies = [
        ("inference", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="finding",
            name="confidence",
            field=models.FloatField(default=0.0),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="modelversion",
            name="target_precision",
            field=models.FloatField(default=0.9),
        ),
        migrations.AddField(
            model_name="modelversion",
            name="calibrated",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="modelversion",
            name="threshold_promise",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddConstraint(
            model_name="modelversion",
            constraint=models.CheckConstraint(
                condition=models.Q(("target_precision__gt", 0.0), ("target_precision__lt", 1.0)),
                name="model_version_target_precision_range",
            ),
        ),
        # Last: PostgreSQL refuses ALTER TABLE after a data update in the same transaction
        # when deferred constraint triggers are pending.
        migrations.RunPython(confidence_from_c_base, migrations.RunPython.noop),
    ]
