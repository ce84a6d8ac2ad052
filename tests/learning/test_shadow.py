"""Shadow evaluation (issue 11, point 3): matching, figures, validation, the task end to end,
and that nothing of it reaches a customer, a report or the review queue."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone

from claims.models import AuditEvent, Case, WebhookDelivery
from common.errors import ApplicationError
from inference.models import Finding, ModelVersion
from learning import shadow, tasks
from learning.models import ShadowEvaluation, ShadowFinding
from learning.shadow import PhotoScore, Predicted, TruthRegion
from review import rle as rle_codec
from review import selectors, services
from review.models import ReviewedReport
from tests import factories
from tests.conftest import claim_processed

CLASSES = ["no_damage", "surface_damage", "deformity", "body_damage"]


def _mask(rows: slice, cols: slice, grid: tuple[int, int] = (10, 10)) -> np.ndarray:
    mask = np.zeros(grid, dtype=bool)
    mask[rows, cols] = True
    return mask


def _predicted(damage: str, rows: slice, cols: slice, c: float, shape: str = "mask") -> Predicted:
    mask = _mask(rows, cols)
    box = rle_codec.bbox(mask)
    assert box is not None
    return Predicted(damage=damage, mask=mask, box=box, shape=shape, c_refined=c)


# Matching and figures, by hand ------------------------------------------------------------


def test_matching_takes_each_kept_region_once_highest_confidence_first() -> None:
    truth = [
        TruthRegion("f1", "deformity", _mask(slice(0, 4), slice(0, 4)), kept=True),
        TruthRegion("a2", "surface_damage", _mask(slice(6, 10), slice(6, 10)), kept=True),
        TruthRegion("f3", "deformity", _mask(slice(0, 4), slice(6, 10)), kept=False),
    ]
    predicted = [
        _predicted("deformity", slice(0, 4), slice(0, 4), 0.9),  # exactly f1
        _predicted("deformity", slice(0, 4), slice(6, 10), 0.5),  # on the rejected f3
        _predicted("surface_damage", slice(6, 10), slice(0, 4), 0.3),  # on nothing
        _predicted("deformity", slice(0, 4), slice(0, 2), 0.8),  # IoU 8/16 with f1, taken
    ]
    matches = shadow.match_findings(predicted, truth)
    assert [(m.outcome, m.truth, m.iou) for m in matches] == [
        ("correct", "f1", 1.0),
        ("rejected", "f3", 1.0),
        ("false", "", 0.0),
        ("false", "", 0.0),
    ]
    # Alone, the half-overlapping finding is correct: IoU 0.5 is enough.
    (alone,) = shadow.match_findings(predicted[3:], truth)
    assert (alone.outcome, alone.truth, alone.iou) == ("correct", "f1", 0.5)
    # Of another class it is not.
    (other,) = shadow.match_findings(
        [_predicted("body_damage", slice(0, 4), slice(0, 4), 0.9)], truth
    )
    assert other.outcome == "false"


def test_a_detector_box_is_matched_by_box_iou() -> None:
    # An L-shaped kept region: its mask IoU with the box is 12/16, its box IoU 16/16.
    region = _mask(slice(0, 4), slice(0, 4))
    region[2:4, 2:4] = False
    truth = [TruthRegion("a1", "deformity", region, kept=True)]
    box = _predicted("deformity", slice(0, 4), slice(0, 4), 0.7, shape="box")
    (match,) = shadow.match_findings([box], truth)
    assert (match.outcome, match.iou) == ("correct", 1.0)
    # A box on a third of the region's box: IoU 4/12 < 0.5.
    small = _predicted("deformity", slice(0, 2), slice(0, 2), 0.7, shape="box")
    assert shadow.match_findings([small], truth)[0].outcome == "false"
    assert shadow.box_iou((0, 0, 4, 4), (2, 0, 6, 4)) == pytest.approx(8 / 24)


def test_version_figures_by_hand() -> None:
    truth = (
        TruthRegion("f1", "deformity", _mask(slice(0, 4), slice(0, 4)), kept=True),
        TruthRegion("a2", "surface_damage", _mask(slice(6, 10), slice(6, 10)), kept=True),
        TruthRegion("f3", "deformity", _mask(slice(0, 4), slice(6, 10)), kept=False),
    )
    predicted = (
        _predicted("deformity", slice(0, 4), slice(0, 4), 0.9),
        _predicted("deformity", slice(0, 4), slice(6, 10), 0.5),
        _predicted("surface_damage", slice(6, 10), slice(0, 4), 0.3),
        _predicted("deformity", slice(0, 4), slice(0, 2), 0.8),
    )
    photos = [
        PhotoScore(case_id=1, photo_id=11, predicted=predicted, truth=truth, grid=(10, 10)),
        PhotoScore(case_id=2, photo_id=21, predicted=(), truth=(), grid=(10, 10)),
    ]
    matches = {11: shadow.match_findings(predicted, truth), 21: []}
    figures = shadow.version_figures(
        photos=photos,
        matches=matches,
        case_dsi={1: (30.0, 20.0), 2: (10.0, 16.0)},
        classes=CLASSES,
        target_precision=0.5,
    )
    assert (figures["cases"], figures["photos"], figures["findings"]) == (2, 2, 4)
    assert figures["outcomes"] == {"correct": 1, "rejected": 1, "false": 2}
    assert figures["precision"] == 0.25  # 1 of 4
    assert figures["recall"] == 0.5  # f1 of f1, a2
    assert figures["findings_per_photo"] == 2.0  # 4 findings on 2 photos
    # Released by C_refined: 0.9 ok (1/1), 0.8 wrong (1/2), 0.5 (1/3), 0.3 (1/4).
    assert figures["coverage_at_target_precision"] == 0.5
    assert figures["dsi_mean_abs_difference"] == 8.0  # (|30-20| + |10-16|) / 2
    assert figures["per_class"]["deformity"] == {
        "findings": 3,
        "correct": 1,
        "truth": 1,
        "found": 1,
        "precision": round(1 / 3, 6),
        "recall": 1.0,
    }
    assert figures["per_class"]["surface_damage"]["precision"] == 0.0
    assert figures["per_class"]["surface_damage"]["recall"] == 0.0
    # Pixels: deformity predicted on 32 px, 16 of them on the 16 labelled ones.
    assert figures["iou"] == {"surface_damage": 0.0, "deformity": 0.5, "body_damage": None}
    assert figures["confusion"] == {
        "labels": CLASSES,
        "matrix": [
            [136, 16, 16, 0],  # 100 px of the empty photo, 36 of this one
            [16, 0, 0, 0],
            [0, 0, 16, 0],
            [0, 0, 0, 0],
        ],
    }
    assert [r["findings"] for r in figures["per_case"]] == [4, 0]
    assert figures["reliability"]["findings"] == 4
    assert figures["curve"][0] == {"threshold": 0.9, "coverage": 0.25, "precision": 1.0}


def test_bootstrap_needs_five_cases_and_brackets_a_clear_difference() -> None:
    def rows(correct: list[int]) -> list[dict[str, Any]]:
        return [
            {"case": i, "findings": 4, "correct": c, "truth": 4, "found": c}
            for i, c in enumerate(correct)
        ]

    few = shadow.bootstrap_difference(rows([4, 4]), rows([1, 1]))
    assert few["note"] == "too few cases for an interval (2; at least 5)"
    assert "precision" not in few
    better = shadow.bootstrap_difference(rows([4, 3, 4, 3, 4, 4]), rows([1, 2, 1, 1, 2, 1]))
    low, high = better["precision"]["low"], better["precision"]["high"]
    assert 0.0 < low <= high <= 1.0
    # The point difference, (22 - 8) / 24, lies inside the interval.
    assert low <= 14 / 24 <= high
    same = shadow.bootstrap_difference(rows([2, 3, 1, 4, 2]), rows([2, 3, 1, 4, 2]))
    assert (same["recall"]["low"], same["recall"]["high"]) == (0.0, 0.0)
    # Fixed seed: the same interval every time.
    assert shadow.bootstrap_difference(rows([4, 3, 4, 3, 4, 4]), rows([1, 2, 1, 1, 2, 1])) == better


# Creating an evaluation -------------------------------------------------------------------


@pytest.fixture
def live(db: None) -> ModelVersion:
    return factories.model_version_create(name="live", status=ModelVersion.Status.ACTIVE)


def _reviewed(make_case: Any, adjuster: Any, version: ModelVersion, reject: str = "") -> Case:
    case = make_case(model_version=version)
    services.lease_claim(case=case, user=adjuster)
    for finding in Finding.objects.filter(case=case, c_refined__lt=version.threshold):
        action = "reject" if finding.part == reject else "accept"
        services.finding_decide(finding=finding, user=adjuster, action=action)
    services.case_finish_review(case=case, user=adjuster)
    case.refresh_from_db()
    return case


def _runnable(*versions: ModelVersion) -> None:
    ModelVersion.objects.filter(pk__in=[v.pk for v in versions]).update(
        manifest_path="inference/weights/0.3.0"
    )
    for version in versions:
        version.refresh_from_db()


def test_create_checks_what_it_is_asked(version, live, admin_user, adjuster, make_case) -> None:
    with pytest.raises(ApplicationError, match="Only admins"):
        shadow.shadow_evaluation_create(candidate=version, n=5, user=adjuster)
    for n in (0, shadow.SHADOW_MAX_CASES + 1):
        with pytest.raises(
            ApplicationError, match=f"a whole number from 1 to {shadow.SHADOW_MAX_CASES}"
        ):
            shadow.shadow_evaluation_create(candidate=version, n=n, user=admin_user)
    with pytest.raises(ApplicationError, match="live 1 is the active version"):
        shadow.shadow_evaluation_create(candidate=live, n=5, user=admin_user)
    with pytest.raises(ApplicationError, match="has no manifest on this server"):
        shadow.shadow_evaluation_create(candidate=version, n=5, user=admin_user)
    _runnable(version, live)
    with pytest.raises(ApplicationError, match="No case has been reviewed yet"):
        shadow.shadow_evaluation_create(candidate=version, n=5, user=admin_user)
    assert ShadowEvaluation.objects.count() == 0
    assert not AuditEvent.objects.filter(verb="model.shadow_requested").exists()


def test_no_active_version_means_nothing_to_compare(version, admin_user) -> None:
    with pytest.raises(ApplicationError, match="No model version is active"):
        shadow.shadow_evaluation_create(candidate=version, n=5, user=admin_user)


def test_cases_the_candidate_was_trained_on_are_left_out(
    version, live, admin_user, adjuster, make_case
) -> None:
    _runnable(version, live)
    first, second, third = (_reviewed(make_case, adjuster, live) for _ in range(3))
    make_case(model_version=live)  # not reviewed: never used
    ModelVersion.objects.filter(pk=version.pk).update(
        metrics={"training": {"cases": [first.pk, str(third.public_id)]}}
    )
    version.refresh_from_db()
    evaluation = shadow.shadow_evaluation_create(candidate=version, n=2, user=admin_user)
    # The last two reviewed are third and second; third was trained on.
    assert (evaluation.case_ids, evaluation.excluded_case_ids) == ([second.pk], [third.pk])
    assert (evaluation.baseline, evaluation.status, evaluation.n_cases) == (live, "queued", 2)
    event = AuditEvent.objects.get(verb="model.shadow_requested")
    assert event.data == {
        "model_version": version.pk,
        "evaluation": evaluation.pk,
        "baseline": live.pk,
        "cases": 1,
        "excluded": 1,
    }
    with pytest.raises(ApplicationError, match="already queued or running"):
        shadow.shadow_evaluation_create(candidate=version, n=3, user=admin_user)
    ShadowEvaluation.objects.all().delete()
    ModelVersion.objects.filter(pk=version.pk).update(
        metrics={"training": {"cases": [third.reference, second.pk]}}
    )
    version.refresh_from_db()
    with pytest.raises(
        ApplicationError, match="All 2 of the last reviewed cases were used to train"
    ):
        shadow.shadow_evaluation_create(candidate=version, n=2, user=admin_user)
    assert ShadowEvaluation.objects.count() == 0


def test_a_case_whose_report_keeps_no_outcome_is_not_evaluated(live, adjuster, make_case) -> None:
    """The truth is what the latest report stored; a case whose latest report was stored
    without it (review 0009) has none and is left out, one with an older such report is
    not."""
    first, second, third = (_reviewed(make_case, adjuster, live) for _ in range(3))
    ReviewedReport.objects.filter(case=second).update(outcome=None)
    latest = ReviewedReport.objects.get(case=first)
    ReviewedReport.objects.create(
        case=first,
        damaged_parts=[],
        dsi=0.0,
        kept=0,
        rejected=0,
        added=0,
        reviewed_by=adjuster,
        created_at=latest.created_at - dt.timedelta(days=1),
    )
    assert shadow.reviewed_cases_latest(n=5) == [third, first]


def test_the_model_page_form_queues_an_evaluation(
    version, live, admin_user, adjuster, make_case, login
) -> None:
    _runnable(version, live)
    trained = _reviewed(make_case, adjuster, live)
    _reviewed(make_case, adjuster, live)
    ModelVersion.objects.filter(pk=version.pk).update(metrics={"training": {"cases": [trained.pk]}})
    client = login(admin_user)
    page = reverse("learning:model_version", args=[version.pk])
    body = client.get(page).content.decode()
    assert 'id="shadow-form"' in body
    assert "No shadow evaluation of this version yet." in body
    response = client.post(
        reverse("learning:model_version_shadow", args=[version.pk]), {"n": "5"}, follow=True
    )
    text = response.content.decode()
    evaluation = ShadowEvaluation.objects.get()
    assert (
        f"Shadow evaluation {evaluation.pk} of seed 1 against live 1 queued on 1 reviewed cases "
        "(1 left out: seed 1 was trained on them)."
    ) in text
    assert f'data-evaluation="{evaluation.pk}" data-status="queued"' in text
    bad = client.post(reverse("learning:model_version_shadow", args=[version.pk]), {"n": "ten"})
    assert bad.status_code == 302
    assert ShadowEvaluation.objects.count() == 1
    # An adjuster may not.
    assert (
        login(adjuster)
        .post(reverse("learning:model_version_shadow", args=[version.pk]), {"n": "5"})
        .status_code
        == 403
    )


# The task, end to end, with the shipped versions ------------------------------------------


def _reviewed_claim(customer: Any, adjuster: Any, photo: bytes) -> Case:
    """The bus processed by the active shipped version, its finding accepted, reviewed."""
    case = claim_processed(customer, photo)
    services.lease_claim(case=case, user=adjuster)
    for finding in Finding.objects.filter(case=case):
        services.finding_decide(finding=finding, user=adjuster, action="accept")
    services.case_finish_review(case=case, user=adjuster)
    case.refresh_from_db()
    return case


def test_shadow_run_scores_both_versions_and_reaches_no_customer(
    shipped_model, customer, adjuster, admin_user, vehicle_jpeg
) -> None:
    candidate = ModelVersion.objects.get(version="0.3.0-yolov9cs")
    case = _reviewed_claim(customer, adjuster, vehicle_jpeg)
    kept = list(Finding.objects.filter(case=case))
    assert kept, "the shipped version finds damage on the fixture bus"
    before = {
        "case": Case.objects.filter(pk=case.pk).values("status", "dsi", "updated_at").get(),
        "findings": Finding.objects.count(),
        "reports": ReviewedReport.objects.count(),
        "case_events": list(AuditEvent.objects.filter(case=case).values_list("pk", flat=True)),
        "webhooks": WebhookDelivery.objects.count(),
        "queue": selectors.queue_cases(filters=selectors.QueueFilters()).ids(),
    }
    evaluation = shadow.shadow_evaluation_create(candidate=candidate, n=10, user=admin_user)
    assert tasks.shadow_evaluation_task(evaluation.pk) == "done"
    assert tasks.shadow_evaluation_task(evaluation.pk) is None  # not queued any more: a no-op
    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.error, evaluation.case_ids) == ("done", "", [case.pk])
    figures = evaluation.figures
    for side, version in (("candidate", candidate), ("baseline", shipped_model)):
        rows = ShadowFinding.objects.filter(evaluation=evaluation, model_version=version)
        f = figures[side]
        assert f["findings"] == rows.count()
        assert f["correct"] == rows.filter(outcome="correct").count()
        assert f["outcomes"] == {
            o: rows.filter(outcome=o).count() for o in ("correct", "rejected", "false")
        }
        assert (f["photos"], f["cases"]) == (1, 1)
        assert f["truth_regions"] == len(kept)
        assert f["per_case"][0]["reviewed_dsi"] == round(case.dsi, 4)
        assert f["target_precision"] == version.target_precision
        assert rows.exists()  # both shipped versions find something on the bus
        width, height = rows.first().mask_size  # type: ignore[union-attr]
        assert sum(sum(row) for row in f["confusion"]["matrix"]) == width * height
    # The same model on the same photo finds what the adjuster accepted, exactly.
    base = figures["baseline"]
    assert (base["precision"], base["recall"]) == (1.0, 1.0)
    assert set(
        ShadowFinding.objects.filter(
            evaluation=evaluation, model_version=shipped_model
        ).values_list("match_iou", flat=True)
    ) == {1.0}
    assert figures["bootstrap"]["note"] == "too few cases for an interval (1; at least 5)"
    assert ShadowFinding.objects.filter(model_version=candidate, shape="box").exists()
    # Nothing a customer, a report, the queue or a webhook reads has changed.
    after = {
        "case": Case.objects.filter(pk=case.pk).values("status", "dsi", "updated_at").get(),
        "findings": Finding.objects.count(),
        "reports": ReviewedReport.objects.count(),
        "case_events": list(AuditEvent.objects.filter(case=case).values_list("pk", flat=True)),
        "webhooks": WebhookDelivery.objects.count(),
        "queue": selectors.queue_cases(filters=selectors.QueueFilters()).ids(),
    }
    assert after == before
    assert not Finding.objects.filter(model_version=candidate).exists()


def test_a_failing_run_is_recorded(version, live, admin_user, adjuster, make_case) -> None:
    ModelVersion.objects.filter(pk__in=[version.pk, live.pk]).update(
        manifest_path="/nonexistent/manifest-folder"
    )
    version.refresh_from_db()
    _reviewed(make_case, adjuster, live)
    evaluation = shadow.shadow_evaluation_create(candidate=version, n=1, user=admin_user)
    assert tasks.shadow_evaluation_task(evaluation.pk) == "failed"
    evaluation.refresh_from_db()
    assert evaluation.status == "failed"
    assert "/nonexistent/manifest-folder" in evaluation.error
    assert evaluation.figures == {}
    # A failed evaluation frees the candidate for the next one.
    assert shadow.shadow_evaluation_create(candidate=version, n=1, user=admin_user).pk


def test_an_evaluation_no_worker_finished_frees_the_candidate(
    version, live, admin_user, adjuster, make_case
) -> None:
    _runnable(version, live)
    _reviewed(make_case, adjuster, live)
    lost = shadow.shadow_evaluation_create(candidate=version, n=1, user=admin_user)
    long_ago = timezone.now() - dt.timedelta(seconds=shadow.SHADOW_TIME_LIMIT_S + 60)
    # Still within the time limit: it blocks a second one.
    with pytest.raises(ApplicationError, match="already queued or running"):
        shadow.shadow_evaluation_create(candidate=version, n=1, user=admin_user)
    ShadowEvaluation.objects.filter(pk=lost.pk).update(created_at=long_ago)
    again = shadow.shadow_evaluation_create(candidate=version, n=1, user=admin_user)
    lost.refresh_from_db()
    assert lost.status == "failed"
    assert lost.error.startswith("no worker finished it in time")
    assert (again.status, again.pk != lost.pk) == ("queued", True)
    # A running one whose worker died long ago, likewise.
    ShadowEvaluation.objects.filter(pk=again.pk).update(status="running", started_at=long_ago)
    assert shadow.shadow_evaluations_fail_stale() == [again.pk]
    assert tasks.shadow_evaluation_task(again.pk) is None  # failed: nothing to run
