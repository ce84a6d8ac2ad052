"""The model lifecycle leaves the review app (issue 21): label snapshots and shadow
evaluations are deleted from review's state only, after learning's 0002 took them over
(their tables and rows stay, now learning's models)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("learning", "0002_lifecycle_from_review"),
        ("review", "0007_shadow_evaluation"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name="ShadowFinding"),
                migrations.DeleteModel(name="ShadowEvaluation"),
                migrations.DeleteModel(name="DatasetSnapshot"),
            ],
        ),
    ]
