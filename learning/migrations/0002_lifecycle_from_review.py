"""The model lifecycle leaves the review app (issue 21): label snapshots and shadow
evaluations become learning's models in Django's state only. Their tables keep their names
(`db_table`) and their rows, and every foreign key, to them (training runs' snapshots) and
from them, keeps pointing at the same tables, so the database is not touched; review's
0008 then deletes the models from review's state. Their content types follow them, so that
permissions and admin history stay attached."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

MOVED = ("datasetsnapshot", "shadowevaluation", "shadowfinding")


def _content_types_move(apps, source, target):  # type: ignore[no-untyped-def]
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        if not ContentType.objects.filter(app_label=target, model=model).exists():
            ContentType.objects.filter(app_label=source, model=model).update(app_label=target)
    ContentType.objects.clear_cache()


def content_types_to_learning(apps, schema_editor):  # type: ignore[no-untyped-def]
    _content_types_move(apps, "review", "learning")


def content_types_to_review(apps, schema_editor):  # type: ignore[no-untyped-def]
    _content_types_move(apps, "learning", "review")


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0004_api_token"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("inference", "0004_run_heartbeat"),
        ("learning", "0001_initial"),
        ("review", "0007_shadow_evaluation"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="DatasetSnapshot",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("version", models.CharField(max_length=64, unique=True)),
                        ("path", models.CharField(max_length=500)),
                        ("images", models.PositiveIntegerField()),
                        ("annotations", models.PositiveIntegerField()),
                        ("categories", models.JSONField()),
                        ("cases", models.JSONField()),
                        (
                            "summary",
                            models.JSONField(
                                blank=True,
                                default=dict,
                                help_text="Labels by class and by source, who reviewed the cases and when (first and last finished review), for the snapshot list.",
                            ),
                        ),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "created_by",
                            models.ForeignKey(
                                blank=True,
                                help_text="Empty when the management command wrote it.",
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "review_datasetsnapshot",
                    },
                ),
                migrations.AlterField(
                    model_name="trainingrun",
                    name="snapshots",
                    field=models.ManyToManyField(
                        blank=True, related_name="training_runs", to="learning.datasetsnapshot"
                    ),
                ),
                migrations.CreateModel(
                    name="ShadowEvaluation",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "n_cases",
                            models.PositiveIntegerField(
                                help_text="How many of the last reviewed cases."
                            ),
                        ),
                        (
                            "case_ids",
                            models.JSONField(
                                default=list, help_text="The reviewed cases both ran on."
                            ),
                        ),
                        (
                            "excluded_case_ids",
                            models.JSONField(
                                default=list,
                                help_text="Cases among the last N left out because the candidate was trained on them.",
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("queued", "Queued"),
                                    ("running", "Running"),
                                    ("done", "Done"),
                                    ("failed", "Failed"),
                                ],
                                db_index=True,
                                default="queued",
                                max_length=10,
                            ),
                        ),
                        (
                            "figures",
                            models.JSONField(
                                blank=True,
                                default=dict,
                                help_text="Per version ('candidate', 'baseline') and their comparison, once done.",
                            ),
                        ),
                        ("error", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("started_at", models.DateTimeField(blank=True, null=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "baseline",
                            models.ForeignKey(
                                help_text="The active version when the evaluation was asked for.",
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="shadow_baselines",
                                to="inference.modelversion",
                            ),
                        ),
                        (
                            "candidate",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="shadow_evaluations",
                                to="inference.modelversion",
                            ),
                        ),
                        (
                            "created_by",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "review_shadowevaluation",
                    },
                ),
                migrations.CreateModel(
                    name="ShadowFinding",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("index", models.PositiveSmallIntegerField()),
                        ("part", models.CharField(max_length=50)),
                        ("damage", models.CharField(max_length=50)),
                        ("shape", models.CharField(default="mask", max_length=4)),
                        (
                            "mask_rle",
                            models.JSONField(
                                help_text="COCO compressed RLE in the processed grid."
                            ),
                        ),
                        (
                            "mask_size",
                            models.JSONField(help_text="[width, height] of the processed grid."),
                        ),
                        (
                            "box",
                            models.JSONField(help_text="[x0, y0, x1, y1] in the processed grid."),
                        ),
                        ("confidence", models.FloatField()),
                        ("c_refined", models.FloatField()),
                        ("dsi_score", models.FloatField()),
                        (
                            "outcome",
                            models.CharField(
                                choices=[
                                    ("correct", "matches a kept region"),
                                    ("rejected", "on a region the adjusters rejected"),
                                    ("false", "matches nothing kept"),
                                ],
                                max_length=10,
                            ),
                        ),
                        (
                            "matched_truth",
                            models.CharField(
                                blank=True,
                                help_text="The truth region it matched: 'f<finding id>' or 'a<decision id>'.",
                                max_length=20,
                            ),
                        ),
                        ("match_iou", models.FloatField(default=0.0)),
                        (
                            "case",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="claims.case",
                            ),
                        ),
                        (
                            "evaluation",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="findings",
                                to="learning.shadowevaluation",
                            ),
                        ),
                        (
                            "model_version",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="inference.modelversion",
                            ),
                        ),
                        (
                            "photo",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="claims.photo",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "review_shadowfinding",
                    },
                ),
                migrations.AddIndex(
                    model_name="shadowevaluation",
                    index=models.Index(
                        fields=["candidate", "-created_at"], name="review_shadow_candidate"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="shadowevaluation",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("status__in", ["queued", "running"])),
                        fields=("candidate",),
                        name="review_shadow_one_open_per_candidate",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="shadowfinding",
                    constraint=models.UniqueConstraint(
                        fields=("evaluation", "model_version", "photo", "index"),
                        name="review_shadow_finding_unique",
                    ),
                ),
            ],
        ),
        migrations.RunPython(content_types_to_learning, content_types_to_review),
    ]
