"""The model lifecycle's move from review to learning (learning 0002, review 0008) keeps the
rows: snapshots, training runs' snapshots, shadow evaluations and their findings are read
through learning's models from the same tables, and their content types follow them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.conftest import migrate_to

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("learning", "0001_initial")  # unapplies review 0008 too, which depends on it
AFTER = ("review", "0008_lifecycle_to_learning")


def test_snapshots_and_shadow_evaluations_keep_their_rows_and_content_types() -> None:
    try:
        old = migrate_to(BEFORE)
        content_types = old.get_model("contenttypes", "ContentType").objects
        snapshot_type = content_types.get_or_create(app_label="review", model="datasetsnapshot")[0]
        user = old.get_model("auth", "User").objects.create(username="dana")
        version = old.get_model("inference", "ModelVersion").objects.create(
            name="old",
            version="0.1.0",
            weights_sha256="0" * 64,
            part_taxonomy="parts_reduced_dsmlr",
            damage_taxonomy="damage_categorical",
            threshold=0.5,
            manifest_path="",
        )
        case = old.get_model("claims", "Case").objects.create(
            customer=user,
            policy_number="P-1",
            loss_date=dt.date(2026, 1, 2),
            loss_place="Lyon",
            description="before the move",
            model_version=version,
        )
        photo = old.get_model("claims", "Photo").objects.create(
            case=case,
            position=0,
            original="cases/p/p0.jpg",
            original_name="p0.jpg",
            extension="jpg",
            content_type="image/jpeg",
            size_bytes=10,
            sha256="0" * 64,
            width=64,
            height=48,
        )
        snapshot = old.get_model("review", "DatasetSnapshot").objects.create(
            version="s1",
            path="/srv/exports/s1",
            images=1,
            annotations=2,
            categories=["deformity"],
            cases=[case.pk],
            created_by=user,
        )
        run = old.get_model("learning", "TrainingRun").objects.create(
            start_version=version, created_by=user
        )
        run.snapshots.add(snapshot)
        evaluation = old.get_model("review", "ShadowEvaluation").objects.create(
            candidate=version, baseline=version, n_cases=1, case_ids=[case.pk], created_by=user
        )
        old.get_model("review", "ShadowFinding").objects.create(
            evaluation=evaluation,
            model_version=version,
            case=case,
            photo=photo,
            index=0,
            part="hood",
            damage="deformity",
            mask_rle={"size": [48, 64], "counts": "0"},
            mask_size=[64, 48],
            box=[0, 0, 1, 1],
            confidence=0.4,
            c_refined=0.4,
            dsi_score=30.0,
            outcome="correct",
        )

        new = migrate_to(AFTER)
        moved = new.get_model("learning", "DatasetSnapshot").objects.get()
        assert (moved.pk, moved.version, moved.created_by_id) == (snapshot.pk, "s1", user.pk)
        trained = new.get_model("learning", "TrainingRun").objects.get(pk=run.pk)
        assert list(trained.snapshots.values_list("version", flat=True)) == ["s1"]
        shadow = new.get_model("learning", "ShadowEvaluation").objects.get()
        assert (shadow.pk, shadow.candidate_id, shadow.case_ids) == (
            evaluation.pk,
            version.pk,
            [case.pk],
        )
        assert [(f.photo_id, f.outcome) for f in shadow.findings.all()] == [(photo.pk, "correct")]
        moved_type = new.get_model("contenttypes", "ContentType").objects.get(pk=snapshot_type.pk)
        assert (moved_type.app_label, moved_type.model) == ("learning", "datasetsnapshot")
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
