"""The review-rounds migration keeps what was decided: the latest decision per finding is
the current one, reviewed cases get a finished round 1, cases under review an open one.
The outcome migration stores what each reviewed report keeps where its decisions give it
back."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from inference.models import Finding, ModelVersion
from review import rle as rle_codec
from review import services
from review.models import ReviewedReport
from tests import factories
from tests.conftest import migrate_to

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("review", "0002_maskedit_shape")
AFTER = ("review", "0004_review_round_constraints")


def _case(apps: Any, user: Any, version: Any, name: str) -> tuple[Any, Any, Any]:
    case = apps.get_model("claims", "Case").objects.create(
        customer=user,
        policy_number=name,
        loss_date=dt.date(2026, 1, 2),
        loss_place="Lyon",
        description="before rounds",
        model_version=version,
    )
    photo = apps.get_model("claims", "Photo").objects.create(
        case=case,
        position=0,
        original=f"cases/{name}/p0.jpg",
        original_name="p0.jpg",
        extension="jpg",
        content_type="image/jpeg",
        size_bytes=10,
        sha256="0" * 64,
        width=64,
        height=48,
    )
    run = apps.get_model("inference", "InferenceRun").objects.create(
        photo=photo, model_version=version
    )
    finding = apps.get_model("inference", "Finding").objects.create(
        case=case,
        photo=photo,
        run=run,
        model_version=version,
        index=0,
        part="hood",
        damage="deformity",
        mask_rle={"size": [48, 64], "counts": "0"},
        mask_size=[64, 48],
        box=[0, 0, 1, 1],
        area_px=1,
        share_of_part=0.1,
        size_class="small",
        c_base=0.4,
        confidence=0.4,
        k_agree=1.0,
        c_refined=0.4,
        needs_review=True,
        dsi_area=1.0,
        dsi_confidence=40.0,
        dsi_type_weight=70.0,
        dsi_score=30.0,
    )
    return case, photo, finding


def test_decisions_and_reports_become_rounds_and_current_decisions() -> None:
    try:
        old = migrate_to(BEFORE)
        user = old.get_model("auth", "User").objects.create(username="charlie")
        version = old.get_model("inference", "ModelVersion").objects.create(
            name="old",
            version="0.1.0",
            weights_sha256="0" * 64,
            part_taxonomy="parts_reduced_dsmlr",
            damage_taxonomy="damage_categorical",
            threshold=0.5,
            manifest_path="",
        )
        decision = old.get_model("review", "ReviewDecision")
        reviewed, photo, finding = _case(old, user, version, "P-1")
        t0 = timezone.now() - dt.timedelta(hours=1)
        for minutes, action in ((0, "accept"), (1, "reject")):  # a mis-click, then corrected
            decision.objects.create(
                case=reviewed,
                finding=finding,
                photo=photo,
                action=action,
                reviewer=user,
                decided_at=t0 + dt.timedelta(minutes=minutes),
            )
        reported_at = t0 + dt.timedelta(minutes=2)
        old.get_model("review", "ReviewedReport").objects.create(
            case=reviewed,
            damaged_parts=[],
            dsi=0.0,
            kept=0,
            rejected=1,
            added=0,
            reviewed_by=user,
            created_at=reported_at,
        )
        open_case, open_photo, open_finding = _case(old, user, version, "P-2")
        decision.objects.create(
            case=open_case, finding=open_finding, photo=open_photo, action="accept", reviewer=user
        )

        new = migrate_to(AFTER)
        rows = list(
            new.get_model("review", "ReviewDecision")
            .objects.filter(case_id=reviewed.pk)
            .order_by("decided_at")
            .values_list("action", "current", "round")
        )
        assert rows == [("accept", False, 1), ("reject", True, 1)]
        rounds = new.get_model("review", "ReviewRound").objects
        done = rounds.get(case_id=reviewed.pk)
        assert (done.number, done.finished_at, done.finished_by_id) == (1, reported_at, user.pk)
        still = rounds.get(case_id=open_case.pk)
        assert (still.number, still.finished_at) == (1, None)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_cases_with_an_open_round_get_the_flag() -> None:
    """claims 0007 fills `Case.review_round_open` from the rounds review kept before."""
    try:
        old = migrate_to(("claims", "0006_case_status_without_failed"))
        user = old.get_model("auth", "User").objects.create(username="charlie")
        version = old.get_model("inference", "ModelVersion").objects.create(
            name="old",
            version="0.1.0",
            weights_sha256="0" * 64,
            part_taxonomy="parts_reduced_dsmlr",
            damage_taxonomy="damage_categorical",
            threshold=0.5,
            manifest_path="",
        )
        rounds = old.get_model("review", "ReviewRound")
        open_case, _, _ = _case(old, user, version, "P-1")
        done_case, _, _ = _case(old, user, version, "P-2")
        untouched, _, _ = _case(old, user, version, "P-3")
        rounds.objects.create(case=open_case, number=1, opened_by=user)
        rounds.objects.create(
            case=done_case, number=1, opened_by=user, finished_at=timezone.now(), finished_by=user
        )

        new = migrate_to(("claims", "0007_case_review_round_open"))
        flags = dict(new.get_model("claims", "Case").objects.values_list("pk", "review_round_open"))
        assert flags == {open_case.pk: True, done_case.pk: False, untouched.pk: False}
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def _full_mask(photo: Any, x0: int, y0: int, x1: int, y1: int) -> dict[str, Any]:
    mask = np.zeros((photo.height, photo.width), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return rle_codec.encode(mask).as_coco()


def _finished(case: Any, adjuster: Any) -> Any:
    """The door redrawn, the bumper rejected, the hood left to the model, a damage added."""
    findings = {f.part: f for f in Finding.objects.filter(case=case)}
    photo = case.photos.get(position=0)
    services.lease_claim(case=case, user=adjuster)
    services.finding_edit(
        finding=findings["door_shell"],
        user=adjuster,
        mask=_full_mask(photo, 0, 0, 20, 10),
        damage_type="deformity",
        part="door_shell",
    )
    services.finding_decide(finding=findings["bumper"], user=adjuster, action="reject")
    services.damage_add(
        photo=photo,
        user=adjuster,
        mask=_full_mask(photo, 30, 30, 40, 40),
        damage_type="body_damage",
        part="trunk",
    )
    report = services.case_finish_review(case=case, user=adjuster)
    report.refresh_from_db()
    return report


def test_stored_reports_get_their_round_and_the_outcome_their_decisions_give_back(
    make_case, adjuster
) -> None:
    """review 0009: a report its decisions give back gets the outcome finishing stores; one
    they no longer give (its version's threshold moved since) and one that finished no
    recorded round keep none; every report that finished a round knows which."""
    try:
        given = _finished(make_case(), adjuster)
        moved = _finished(
            make_case(model_version=factories.model_version_create(version="2")), adjuster
        )
        ModelVersion.objects.filter(pk=moved.case.model_version_id).update(threshold=0.95)
        older = ReviewedReport.objects.create(
            case=given.case,
            damaged_parts=[],
            dsi=0.0,
            kept=0,
            rejected=0,
            added=0,
            reviewed_by=adjuster,
            created_at=given.created_at - dt.timedelta(days=1),
        )
        assert given.outcome is not None
        migrate_to(("review", "0008_lifecycle_to_learning"))
        new = migrate_to(("review", "0009_reviewed_report_outcome"))
        reports = new.get_model("review", "ReviewedReport").objects
        stored = {r.pk: (r.round, r.outcome) for r in reports.all()}
        assert stored == {
            given.pk: (1, given.outcome),
            moved.pk: (1, None),
            older.pk: (None, None),
        }
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
