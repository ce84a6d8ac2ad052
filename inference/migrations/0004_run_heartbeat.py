"""A run's heartbeat, so the sweeper tells a dead worker from a slow photo.

A run that is running when this migration is applied has no heartbeat; the sweeper then
judges it by `started_at`, as before.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inference", "0003_damage_backend_and_shape"),
    ]

    operations = [
        migrations.AddField(
            model_name="inferencerun",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
