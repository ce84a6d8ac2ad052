"""Migrations keep what was written: findings from before calibration keep confidence = C_base."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.conftest import migrate_to

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("inference", "0001_initial")
AFTER = ("inference", "0002_calibrated_confidence")


def test_old_findings_get_their_c_base_as_confidence() -> None:
    try:
        old = migrate_to(BEFORE)
        user = old.get_model("auth", "User").objects.create(username="erin")
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
            description="before calibration",
            model_version=version,
        )
        photo = old.get_model("claims", "Photo").objects.create(
            case=case,
            position=0,
            original="cases/x/p0.jpg",
            original_name="p0.jpg",
            extension="jpg",
            content_type="image/jpeg",
            size_bytes=10,
            sha256="0" * 64,
            width=64,
            height=48,
        )
        run = old.get_model("inference", "InferenceRun").objects.create(
            photo=photo, model_version=version
        )
        finding = old.get_model("inference", "Finding")
        for index, (c_base, k_agree) in enumerate([(0.83, 0.5), (0.41, 1.0)]):
            finding.objects.create(
                case=case,
                photo=photo,
                run=run,
                model_version=version,
                index=index,
                part="hood",
                damage="deformity",
                mask_rle={"size": [48, 64], "counts": "0"},
                mask_size=[64, 48],
                box=[0, 0, 1, 1],
                area_px=1,
                share_of_part=0.1,
                size_class="small",
                c_base=c_base,
                k_agree=k_agree,
                c_refined=c_base * k_agree,
                needs_review=c_base * k_agree < 0.5,
                dsi_area=1.0,
                dsi_confidence=100 * c_base,
                dsi_type_weight=70.0,
                dsi_score=30.0,
            )

        new = migrate_to(AFTER)
        rows = list(
            new.get_model("inference", "Finding")
            .objects.order_by("index")
            .values_list("c_base", "confidence", "c_refined", "needs_review")
        )
        # confidence = C_base; C_refined (C_base * K_agree) is confidence * K_agree already.
        assert rows == [(0.83, 0.83, 0.415, True), (0.41, 0.41, 0.41, True)]
        migrated = new.get_model("inference", "ModelVersion").objects.get()
        assert (migrated.target_precision, migrated.calibrated, migrated.threshold_promise) == (
            0.9,
            False,
            {},
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
