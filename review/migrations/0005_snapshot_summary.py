"""A summary on each label snapshot (labels by class and source, reviewers, review dates),
filled for existing snapshots from their annotations.json and the cases' reviewed
reports; a snapshot whose folder is gone keeps an empty summary."""

import json
from collections import Counter
from pathlib import Path

from django.db import migrations, models


def backfill(apps, schema_editor):  # type: ignore[no-untyped-def]
    DatasetSnapshot = apps.get_model("review", "DatasetSnapshot")
    ReviewedReport = apps.get_model("review", "ReviewedReport")
    for snapshot in DatasetSnapshot.objects.all():
        try:
            document = json.loads((Path(snapshot.path) / "annotations.json").read_text())
        except (OSError, ValueError):
            continue
        names = {c["id"]: c["name"] for c in document.get("categories", [])}
        by_class: Counter[str] = Counter()
        by_source: Counter[str] = Counter()
        for annotation in document.get("annotations", []):
            by_class[names.get(annotation.get("category_id"), "?")] += 1
            by_source[(annotation.get("attributes") or {}).get("source", "")] += 1
        reports = ReviewedReport.objects.filter(case_id__in=snapshot.cases or [])
        dates = sorted(r.created_at for r in reports)
        snapshot.summary = {
            "by_class": dict(sorted(by_class.items())),
            "by_source": dict(sorted(by_source.items())),
            "reviewers": sorted({r.reviewed_by.username for r in reports}),
            "reviewed_from": dates[0].isoformat() if dates else None,
            "reviewed_to": dates[-1].isoformat() if dates else None,
        }
        snapshot.save(update_fields=["summary"])


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0004_review_round_constraints"),
    ]

    operations = [
        migrations.AddField(
            model_name="datasetsnapshot",
            name="summary",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text=(
                    "Labels by class and by source, who reviewed the cases and when (first "
                    "and last finished review), for the snapshot list."
                ),
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
