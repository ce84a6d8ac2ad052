"""What a finished review keeps (`review.outcome`): derived once from the decisions when
the adjuster finishes, stored with the report, read back exactly as it was written."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from claims.models import Case
from inference.models import Finding
from review import rle as rle_codec
from review import selectors, services
from review.models import ReviewDecision, ReviewedReport
from review.outcome import DamagedPartRow, KeptDamage, OutcomeError, ReviewOutcome
from review.rle import Rle


def _kept(**changes: Any) -> KeptDamage:
    fields: dict[str, Any] = {
        "part": "bumper",
        "damage": "surface_damage",
        "photo_id": 7,
        "photo_number": 1,
        "number": 2,
        "score": 44.08333333333333,
        "area_cm2": 153.25,
        "shape": "mask",
        "source": "accepted",
        "finding_id": 11,
        "decision_id": 21,
        "box": (5, 2, 10, 10),
        "grid": (32, 24),
        "mask": Rle(height=24, width=32, counts="Q12"),
    }
    return KeptDamage(**{**fields, **changes})


def test_an_outcome_reads_back_exactly_what_it_wrote() -> None:
    outcome = ReviewOutcome.of(
        kept=[
            _kept(),
            _kept(source="model", decision_id=None, score=60.1, part="hood", number=3),
            _kept(
                source="added",
                finding_id=None,
                area_cm2=None,
                shape="box",
                number=4,
                photo_number=2,
                photo_id=8,
                score=80.0,
                grid=(64, 48),
                mask=Rle(height=48, width=64, counts="0ab1"),
            ),
        ],
        rejected_findings=[12],
    )
    assert outcome.damaged_parts == (
        DamagedPartRow("bumper", "surface_damage", (1, 2), ("accepted", "added")),
        DamagedPartRow("hood", "surface_damage", (1,), ("model",)),
    )
    assert outcome.dsi == round(((44.08333333333333 + 80.0) / 2 + 60.1) / 2, 4)
    assert outcome.photo_dsi == {7: (44.08333333333333 + 60.1) / 2, 8: 80.0}
    assert (outcome.kept_findings, outcome.rejected, outcome.added) == (2, 1, 1)
    stored = json.loads(json.dumps(outcome.to_json()))  # as a JSON column gives it back
    assert ReviewOutcome.from_json(stored) == outcome
    assert ReviewOutcome.from_json(stored).to_json() == outcome.to_json()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"source": "auto"}, "source is 'auto'"),
        ({"shape": "circle"}, "shape is 'circle'"),
        ({"box": [1, 2, 3]}, "'box' must be a list of 4 whole numbers"),
        ({"photo": "7"}, "'photo' must be a whole number"),
        ({"score": None}, "'score' must be a number"),
        ({"mask": {"size": [24, 32]}}, "mask: 'counts' must be"),
    ],
)
def test_an_outcome_that_was_not_written_so_is_refused(
    change: dict[str, Any], message: str
) -> None:
    stored = ReviewOutcome.of(kept=[_kept()], rejected_findings=[]).to_json()
    stored["kept"][0].update(change)
    with pytest.raises(OutcomeError, match=message):
        ReviewOutcome.from_json(stored)
    with pytest.raises(OutcomeError, match="'photo_dsi' must map photo ids to numbers"):
        ReviewOutcome.from_json({**stored, "kept": [], "photo_dsi": {"x": 1.0}})


def _full_mask(case: Case, x0: int, y0: int, x1: int, y1: int) -> dict[str, Any]:
    photo = case.photos.get(position=0)
    mask = np.zeros((photo.height, photo.width), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return rle_codec.encode(mask).as_coco()


@pytest.mark.django_db
def test_finishing_stores_the_outcome_the_decisions_give(make_case, adjuster) -> None:
    """Door (below the threshold) redrawn as a box, bumper rejected, hood left to the
    model, two damages added: the stored outcome is the one derivation, what it keeps
    numbered 1, 2, 3, 4 on the photo (the model's findings, then the added damages; no gap
    for the rejected bumper), and the report's columns are its figures."""
    case = make_case()
    findings = {f.part: f for f in Finding.objects.filter(case=case)}
    services.lease_claim(case=case, user=adjuster)
    edit = services.finding_edit(
        finding=findings["door_shell"],
        user=adjuster,
        mask=_full_mask(case, 0, 0, 20, 10),
        damage_type="deformity",
        part="door_shell",
        shape="box",
    )
    services.finding_decide(finding=findings["bumper"], user=adjuster, action="reject")
    photo = case.photos.get(position=0)
    first = services.damage_add(
        photo=photo,
        user=adjuster,
        mask=_full_mask(case, 30, 30, 40, 40),
        damage_type="body_damage",
        part="hood",
    )
    second = services.damage_add(
        photo=photo,
        user=adjuster,
        mask=_full_mask(case, 50, 0, 60, 5),
        damage_type="surface_damage",
        part="trunk",
    )
    expected = services.report_compute(case=case)
    report = services.case_finish_review(case=case, user=adjuster)
    report.refresh_from_db()
    outcome = selectors.report_outcome(report=report)
    assert outcome == expected
    door, hood = findings["door_shell"].pk, findings["hood"].pk
    assert [
        (k.source, k.part, k.number, k.finding_id, k.decision_id, k.shape, k.box, k.grid)
        for k in outcome.kept
    ] == [
        ("edited", "door_shell", 1, door, edit.pk, "box", (0, 0, 20, 10), (64, 48)),
        ("model", "hood", 2, hood, None, "mask", (10, 2, 15, 10), (32, 24)),
        ("added", "hood", 3, None, first.pk, "mask", (30, 30, 40, 40), (64, 48)),
        ("added", "trunk", 4, None, second.pk, "mask", (50, 0, 60, 5), (64, 48)),
    ]
    assert outcome.kept[1].mask == Rle.from_coco(findings["hood"].mask_rle)
    assert outcome.kept[2].mask == Rle.from_coco(_full_mask(case, 30, 30, 40, 40))
    assert outcome.rejected_findings == (findings["bumper"].pk,)
    assert report.round == 1
    assert report.damaged_parts == [row.to_json() for row in outcome.damaged_parts]
    assert (report.dsi, report.kept, report.rejected, report.added) == (outcome.dsi, 2, 1, 2)
    # Read back as stored, whatever the decisions' rows say later.
    ReviewDecision.objects.filter(pk=first.pk).update(part="trunk", damage_type="deformity")
    assert services.report_compute(case=case) != outcome
    assert selectors.report_outcome(report=ReviewedReport.objects.get(pk=report.pk)) == outcome
