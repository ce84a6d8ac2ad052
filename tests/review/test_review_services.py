"""One capability's tests, sharing its fixtures: the review services (leases, decisions, edits,
rounds) on the same cases, users, version and mask helpers.

Leases, decisions, the reviewed report. (Thresholds and promotion:
tests/learning/test_learning_model_versions.py; label export: test_learning_snapshots.py.)"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import numpy as np
import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from claims.models import AuditEvent, Case
from common.errors import ApplicationError
from inference.models import Finding, ModelVersion
from review import rle as rle_codec
from review import services
from review.models import (
    Lease,
    MaskEdit,
    ReviewDecision,
    ReviewedReport,
    ReviewRound,
)
from review.selectors import case_review_items, report_outcome, reviewed_outcome

pytestmark = pytest.mark.django_db


def _full_mask(case: Case, x0: int, y0: int, x1: int, y1: int) -> dict[str, Any]:
    photo = case.photos.get(position=0)
    mask = np.zeros((photo.height, photo.width), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return rle_codec.encode(mask).as_coco()


def _findings(case: Case) -> dict[str, Finding]:
    return {f.damage: f for f in Finding.objects.filter(case=case)}


# Leases ---------------------------------------------------------------------------------


def test_claim_then_second_adjuster_is_refused(make_case, adjuster, admin_user) -> None:
    case = make_case()
    lease = services.lease_claim(case=case, user=adjuster)
    assert lease.holder == adjuster
    with pytest.raises(ApplicationError, match="charlie is reviewing this case"):
        services.lease_claim(case=case, user=admin_user)
    assert Lease.objects.get(case=case).holder == adjuster


def test_lease_expires_after_inactivity(make_case, adjuster, admin_user, settings) -> None:
    settings.REVIEW_LEASE_SECONDS = 60
    case = make_case()
    t0 = timezone.now()
    services.lease_claim(case=case, user=adjuster, now=t0)
    with pytest.raises(ApplicationError):
        services.lease_claim(case=case, user=admin_user, now=t0 + dt.timedelta(seconds=59))
    lease = services.lease_claim(case=case, user=admin_user, now=t0 + dt.timedelta(seconds=61))
    assert lease.holder == admin_user
    with pytest.raises(ApplicationError, match="dana is reviewing"):
        services.lease_renew(case=case, user=adjuster, now=t0 + dt.timedelta(seconds=62))


def test_renewal_extends_the_lease(make_case, adjuster, admin_user, settings) -> None:
    settings.REVIEW_LEASE_SECONDS = 60
    case = make_case()
    t0 = timezone.now()
    services.lease_claim(case=case, user=adjuster, now=t0)
    renewed = services.lease_renew(case=case, user=adjuster, now=t0 + dt.timedelta(seconds=50))
    assert renewed.expires_at == t0 + dt.timedelta(seconds=110)
    with pytest.raises(ApplicationError):
        services.lease_claim(case=case, user=admin_user, now=t0 + dt.timedelta(seconds=100))


def test_an_adjuster_holds_one_case_at_a_time(make_case, adjuster) -> None:
    first, second = make_case(), make_case()
    services.lease_claim(case=first, user=adjuster)
    services.lease_claim(case=second, user=adjuster)
    assert Lease.objects.get(case=first).holder is None
    assert Lease.objects.get(case=second).holder == adjuster


def test_customer_cannot_claim(make_case, customer) -> None:
    case = make_case()
    with pytest.raises(ApplicationError, match="Only adjusters and admins"):
        services.lease_claim(case=case, user=customer)
    assert not Lease.objects.exists()


def test_release_frees_the_case(make_case, adjuster, admin_user) -> None:
    case = make_case()
    services.lease_claim(case=case, user=adjuster)
    services.lease_release(case=case, user=adjuster)
    assert services.lease_claim(case=case, user=admin_user).holder == admin_user


@pytest.mark.django_db(transaction=True)
def test_race_between_two_claims_has_one_winner(make_case, adjuster, admin_user) -> None:
    for _ in range(5):
        case = make_case()
        barrier = threading.Barrier(2)
        results: dict[str, str] = {}

        def claim(
            user: Any,
            case: Case = case,
            barrier: threading.Barrier = barrier,
            results: dict[str, str] = results,
        ) -> None:
            barrier.wait()
            try:
                services.lease_claim(case=case, user=user)
                results[user.username] = "won"
            except ApplicationError:
                results[user.username] = "refused"
            finally:
                connection.close()

        threads = [threading.Thread(target=claim, args=(u,)) for u in (adjuster, admin_user)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results.values()) == ["refused", "won"]
        winner = next(name for name, r in results.items() if r == "won")
        assert Lease.objects.get(case=case).holder.username == winner


# Decisions ------------------------------------------------------------------------------


def test_decision_needs_the_lease(make_case, adjuster, admin_user) -> None:
    case = make_case()
    services.lease_claim(case=case, user=adjuster)
    finding = _findings(case)["deformity"]
    with pytest.raises(ApplicationError, match="charlie is reviewing"):
        services.finding_decide(finding=finding, user=admin_user, action="reject")
    assert not ReviewDecision.objects.exists()
    assert not AuditEvent.objects.filter(verb__startswith="review.").exists()


def test_decisions_are_new_rows_and_findings_stay_unchanged(make_case, adjuster) -> None:
    case = make_case()
    services.lease_claim(case=case, user=adjuster)
    finding = _findings(case)["deformity"]
    before = Finding.objects.filter(pk=finding.pk).values().get()
    first = services.finding_decide(finding=finding, user=adjuster, action="accept")
    services.finding_decide(finding=finding, user=adjuster, action="reject", supersedes=first.pk)
    rows = list(ReviewDecision.objects.filter(finding=finding).order_by("pk"))
    assert [(r.action, r.reviewer, r.c_refined, r.current, r.round) for r in rows] == [
        ("accept", adjuster, 0.3, False, 1),
        ("reject", adjuster, 0.3, True, 1),
    ]
    assert Finding.objects.filter(pk=finding.pk).values().get() == before
    states = {i.key: i.state for i in case_review_items(case=case)}
    assert states[f"f{finding.pk}"] == "rejected"
    assert list(
        AuditEvent.objects.filter(case=case, verb__startswith="review.").values_list(
            "verb", "actor"
        )
    ) == [("review.accept", adjuster.pk), ("review.reject", adjuster.pk)]


def test_a_decision_on_a_stale_view_is_refused(make_case, adjuster) -> None:
    case = make_case()
    services.lease_claim(case=case, user=adjuster)
    finding = _findings(case)["deformity"]
    first = services.finding_decide(finding=finding, user=adjuster, action="accept")
    # Another tab still showed the finding undecided: refused, nothing stored.
    with pytest.raises(ApplicationError, match=r"accepted by charlie at .* meanwhile"):
        services.finding_decide(finding=finding, user=adjuster, action="reject")
    second = services.finding_decide(
        finding=finding, user=adjuster, action="reject", supersedes=first.pk
    )
    # A view that still showed the first decision is stale too.
    with pytest.raises(ApplicationError, match="rejected by charlie"):
        services.finding_edit(
            finding=finding,
            user=adjuster,
            mask=_full_mask(case, 0, 0, 8, 8),
            damage_type="deformity",
            part="door_shell",
            supersedes=first.pk,
        )
    assert list(ReviewDecision.objects.filter(current=True).values_list("pk", flat=True)) == [
        second.pk
    ]
    assert not MaskEdit.objects.exists()


def test_the_database_refuses_a_second_current_decision(make_case, adjuster) -> None:
    case = make_case()
    finding = _findings(case)["deformity"]
    row = {
        "case": case,
        "finding": finding,
        "photo_id": finding.photo_id,
        "action": "accept",
        "reviewer": adjuster,
    }
    ReviewDecision.objects.create(**row)
    with pytest.raises(IntegrityError), transaction.atomic():
        ReviewDecision.objects.create(**row)
    ReviewDecision.objects.create(**row, current=False)  # history is fine
    assert ReviewDecision.objects.filter(finding=finding, current=True).count() == 1


def test_unknown_action_is_refused(make_case, adjuster) -> None:
    case = make_case()
    services.lease_claim(case=case, user=adjuster)
    with pytest.raises(ApplicationError, match="'accept' or 'reject'"):
        services.finding_decide(finding=_findings(case)["deformity"], user=adjuster, action="maybe")
    assert not ReviewDecision.objects.exists()


def test_edit_stores_a_full_resolution_mask(make_case, adjuster) -> None:
    case = make_case()
    services.lease_claim(case=case, user=adjuster)
    finding = _findings(case)["deformity"]
    decision = services.finding_edit(
        finding=finding,
        user=adjuster,
        mask=_full_mask(case, 10, 5, 30, 25),
        damage_type="body_damage",
        part="hood",
    )
    edit = MaskEdit.objects.get()
    assert decision.mask_edit == edit
    assert (edit.width, edit.height, edit.area_px, edit.box) == (64, 48, 400, [10, 5, 30, 25])
    assert (edit.damage_type, edit.part, edit.created_by) == ("body_damage", "hood", adjuster)
    assert Finding.objects.get(pk=finding.pk).damage == "deformity"


def test_edit_may_keep_damage_on_a_part_the_taxonomy_does_not_label(make_case, adjuster) -> None:
    case = make_case()
    services.lease_claim(case=case, user=adjuster)
    services.finding_edit(
        finding=_findings(case)["deformity"],
        user=adjuster,
        mask=_full_mask(case, 0, 0, 8, 8),
        damage_type="deformity",
        part="other_panel",
    )
    assert MaskEdit.objects.get().part == "other_panel"
    # "background", what older versions named such a part, is still accepted.
    services.finding_edit(
        finding=_findings(case)["deformity"],
        user=adjuster,
        mask=_full_mask(case, 0, 0, 8, 8),
        damage_type="deformity",
        part="background",
        supersedes=ReviewDecision.objects.get().pk,
    )
    assert list(MaskEdit.objects.order_by("pk").values_list("part", flat=True)) == [
        "other_panel",
        "background",
    ]


@pytest.mark.parametrize(
    ("mask", "damage", "part", "message"),
    [
        ({"size": [48, 64], "counts": "x"}, "deformity", "hood", "could not be read"),
        (
            {"size": [24, 32], "counts": rle_codec.encode(np.ones((24, 32), bool)).counts},
            "deformity",
            "hood",
            "mask is 32x24 but the photo is 64x48",
        ),
        (
            {"size": [48, 64], "counts": rle_codec.encode(np.zeros((48, 64), bool)).counts},
            "deformity",
            "hood",
            "The mask is empty",
        ),
        (None, "dent", "hood", "Unknown damage type 'dent'"),
        (None, "deformity", "roof", "Unknown part 'roof'"),
        (None, "no_damage", "hood", "Unknown damage type 'no_damage'"),
    ],
)
def test_bad_edits_store_nothing(make_case, adjuster, mask, damage, part, message) -> None:
    case = make_case()
    services.lease_claim(case=case, user=adjuster)
    with pytest.raises(ApplicationError, match=message):
        services.finding_edit(
            finding=_findings(case)["deformity"],
            user=adjuster,
            mask=mask if mask is not None else _full_mask(case, 0, 0, 4, 4),
            damage_type=damage,
            part=part,
        )
    assert not MaskEdit.objects.exists()
    assert not ReviewDecision.objects.exists()


# Outcome --------------------------------------------------------------------------------


def test_finishing_the_review_writes_the_reviewed_report(make_case, adjuster, monkeypatch) -> None:
    pushed: list[int] = []
    monkeypatch.setattr(services.reports, "case_notify", lambda *, case_id: pushed.append(case_id))
    case = make_case()
    services.lease_claim(case=case, user=adjuster)
    f = _findings(case)
    services.finding_decide(finding=f["deformity"], user=adjuster, action="reject")
    with pytest.raises(ApplicationError, match="1 item still to decide"):
        services.case_finish_review(case=case, user=adjuster)
    services.finding_decide(finding=f["surface_damage"], user=adjuster, action="accept")
    case.refresh_from_db()
    assert case.status == Case.Status.NEEDS_REVIEW  # every item decided, not yet finished
    assert not ReviewedReport.objects.exists()
    services.case_finish_review(case=case, user=adjuster)
    case.refresh_from_db()
    report = ReviewedReport.objects.get()
    assert case.status == Case.Status.REVIEWED
    # hood (model, above threshold): 0.4*5.2083 + 0.2*90 + 0.4*100 = 60.0833
    # bumper (accepted, confidence 1): 0.4*5.2083 + 0.2*100 + 0.4*55 = 44.0833
    assert report.dsi == pytest.approx(52.0833, abs=1e-4)
    assert case.dsi == pytest.approx(52.0833, abs=1e-4)
    assert (report.kept, report.rejected, report.added, report.reviewed_by) == (2, 1, 0, adjuster)
    assert [(r["part"], r["damage"], r["sources"]) for r in report.damaged_parts] == [
        ("bumper", "surface_damage", ["accepted"]),
        ("hood", "body_damage", ["model"]),
    ]
    assert AuditEvent.objects.filter(case=case, verb="review.case_reviewed").count() == 1
    assert ReviewRound.objects.get(case=case).finished_by == adjuster
    # Finished once: a second finish, a late decision or edit are refused, nothing changes.
    with pytest.raises(ApplicationError, match=r"reviewed by charlie on .* read-only"):
        services.case_finish_review(case=case, user=adjuster)
    with pytest.raises(ApplicationError, match="reopen the review"):
        services.finding_decide(finding=f["body_damage"], user=adjuster, action="reject")
    assert ReviewedReport.objects.count() == 1
    assert Case.objects.get(pk=case.pk).dsi == pytest.approx(52.0833, abs=1e-4)


def test_reopening_opens_a_new_round_and_is_audited(make_case, adjuster, admin_user) -> None:
    case = make_case([("deformity", "door_shell", 0.3)])
    services.lease_claim(case=case, user=adjuster)
    finding = _findings(case)["deformity"]
    accepted = services.finding_decide(finding=finding, user=adjuster, action="accept")
    with pytest.raises(ApplicationError, match="open for review already"):
        services.case_reopen(case=case, user=adjuster, reason="second look")
    services.case_finish_review(case=case, user=adjuster)
    with pytest.raises(ApplicationError, match="Say why"):
        services.case_reopen(case=case, user=adjuster, reason="  ")
    with pytest.raises(ApplicationError, match="Only adjusters"):
        services.case_reopen(case=case, user=case.customer, reason="I disagree")
    # Finishing let go of the case; while another adjuster holds it again (to look), it
    # cannot be reopened under their feet.
    assert Lease.objects.get(case=case).holder is None
    services.lease_claim(case=case, user=adjuster)
    with pytest.raises(ApplicationError, match="charlie is reviewing"):
        services.case_reopen(case=case, user=admin_user, reason="second look")
    services.lease_release(case=case, user=adjuster)
    round_2 = services.case_reopen(case=case, user=admin_user, reason="customer sent a photo")
    assert (round_2.number, round_2.reason, round_2.opened_by) == (
        2,
        "customer sent a photo",
        admin_user,
    )
    assert Case.objects.get(pk=case.pk).status == Case.Status.NEEDS_REVIEW
    event = AuditEvent.objects.get(case=case, verb="review.case_reopened")
    assert (event.actor, event.data) == (
        admin_user,
        {"round": 2, "reason": "customer sent a photo"},
    )
    with pytest.raises(ApplicationError, match="open for review already"):
        services.case_reopen(case=case, user=admin_user, reason="again")
    # The earlier decision still counts; changing it is a decision of round 2.
    rejected = services.finding_decide(
        finding=finding, user=admin_user, action="reject", supersedes=accepted.pk
    )
    assert rejected.round == 2
    services.case_finish_review(case=case, user=admin_user)
    reports = list(ReviewedReport.objects.filter(case=case).order_by("pk"))
    assert [(r.kept, r.rejected) for r in reports] == [(1, 0), (0, 1)]
    assert Case.objects.get(pk=case.pk).status == Case.Status.REVIEWED
    assert AuditEvent.objects.filter(case=case, verb="review.case_reviewed").count() == 2


@pytest.mark.django_db(transaction=True)
def test_reviewed_case_is_pushed_live(make_case, adjuster, monkeypatch) -> None:
    pushed: list[int] = []
    monkeypatch.setattr(services.reports, "case_notify", lambda *, case_id: pushed.append(case_id))
    case = make_case([("deformity", "door_shell", 0.3)])
    services.lease_claim(case=case, user=adjuster)
    services.finding_decide(finding=_findings(case)["deformity"], user=adjuster, action="accept")
    assert pushed == []
    services.case_finish_review(case=case, user=adjuster)
    assert pushed == [case.pk]


def test_added_damage_and_set_aside_photo(make_case, adjuster) -> None:
    case = make_case([("deformity", "door_shell", 0.3)], set_aside=1)
    services.lease_claim(case=case, user=adjuster)
    services.finding_decide(finding=_findings(case)["deformity"], user=adjuster, action="accept")
    assert Case.objects.get(pk=case.pk).status == Case.Status.NEEDS_REVIEW  # photo pending
    photo = case.photos.get(position=0)
    services.damage_add(
        photo=photo,
        user=adjuster,
        mask=_full_mask(case, 0, 0, 64, 24),
        damage_type="body_damage",
        part="bumper",
    )
    services.photo_confirm_set_aside(photo=case.photos.get(position=1), user=adjuster)
    with pytest.raises(ApplicationError, match="already confirmed"):
        services.photo_confirm_set_aside(photo=case.photos.get(position=1), user=adjuster)
    services.case_finish_review(case=case, user=adjuster)
    report = ReviewedReport.objects.get()
    # door (accepted): 0.4*5.2083 + 20 + 28 = 50.0833; added: 0.4*50 + 20 + 40 = 80
    assert report.dsi == pytest.approx((50.0833 + 80.0) / 2, abs=1e-4)
    assert (report.kept, report.rejected, report.added) == (1, 0, 1)


def test_an_added_damage_is_redrawn_retyped_moved_and_removed_with_its_history(
    make_case, adjuster, admin_user
) -> None:
    case = make_case([("deformity", "door_shell", 0.3)])
    services.lease_claim(case=case, user=adjuster)
    services.finding_decide(finding=_findings(case)["deformity"], user=adjuster, action="reject")
    photo = case.photos.get(position=0)
    added = services.damage_add(
        photo=photo,
        user=adjuster,
        mask=_full_mask(case, 0, 0, 32, 24),
        damage_type="body_damage",
        part="bumper",
    )
    (item,) = [i for i in case_review_items(case=case) if i.kind == "added"]
    assert (item.key, item.number, item.label) == (
        f"a{added.pk}",
        2,  # after the model's finding 1 on this photo (rejected, still listed)
        "2. Bumper: broken or missing part (photo 1, added)",
    )

    # Redrawn, re-typed and moved to another part: one decision replacing the other.
    moved = services.added_edit(
        decision=added,
        user=adjuster,
        mask=_full_mask(case, 10, 10, 20, 20),
        damage_type="surface_damage",
        part="trunk",
    )
    added.refresh_from_db()
    assert (added.current, moved.current, moved.replaces, moved.action) == (
        False,
        True,
        added,
        "add",
    )
    assert moved.mask_edit is not None
    assert moved.mask_edit.area_px == 100
    (item,) = [i for i in case_review_items(case=case) if i.kind == "added"]
    assert (item.key, item.damage, item.part, item.decision) == (
        f"a{added.pk}",  # the same row on the screen
        "surface_damage",
        "trunk",
        moved,
    )
    # The version before cannot be changed again: it is no longer in force.
    with pytest.raises(ApplicationError, match="changed or removed meanwhile"):
        services.added_remove(decision=added, user=adjuster)
    services.case_finish_review(case=case, user=adjuster)
    assert ReviewedReport.objects.get().added == 1

    # After reopening, it can still be removed; the reviewed report of round 1 keeps it.
    services.case_reopen(case=case, user=admin_user, reason="the trunk is not damaged")
    with pytest.raises(ApplicationError, match="Only a damage an adjuster added"):
        services.added_remove(
            decision=ReviewDecision.objects.get(finding__isnull=False), user=admin_user
        )
    removed = services.added_remove(decision=moved, user=admin_user)
    assert (removed.action, removed.replaces, removed.round) == ("remove", moved, 2)
    assert [i for i in case_review_items(case=case) if i.kind == "added"] == []
    services.case_finish_review(case=case, user=admin_user)
    reports = list(ReviewedReport.objects.order_by("pk"))
    assert [(r.round, r.added) for r in reports] == [(1, 1), (2, 0)]
    first, second = (report_outcome(report=r) for r in reports)
    assert first is not None
    assert second is not None
    # Round 1 counted the damage as last redrawn, numbered 1 on the customer's photo (the
    # rejected finding leaves no gap); round 2 counts nothing, and so does the derivation.
    assert [(k.damage, k.part, k.source, k.decision_id, k.number) for k in first.kept] == [
        ("surface_damage", "trunk", "added", moved.pk, 1)
    ]
    assert rle_codec.area(first.kept[0].mask) == 100
    assert second.kept == ()
    assert reviewed_outcome(case=case).kept == ()
    verbs = list(
        AuditEvent.objects.filter(case=case, verb__in=["review.add", "review.remove"])
        .order_by("pk")
        .values_list("verb", "actor__username", "data__replaces")
    )
    assert verbs == [
        ("review.add", "charlie", None),
        ("review.add", "charlie", added.pk),
        ("review.remove", "dana", moved.pk),
    ]


def test_two_changes_of_one_added_damage_at_once_keep_one(make_case, adjuster) -> None:
    """The one-to-one `replaces` is the last word when both read it as in force."""
    case = make_case([("deformity", "door_shell", 0.9)])
    services.lease_claim(case=case, user=adjuster)
    added = services.damage_add(
        photo=case.photos.get(position=0),
        user=adjuster,
        mask=_full_mask(case, 0, 0, 8, 8),
        damage_type="body_damage",
        part="bumper",
    )
    services.added_remove(decision=added, user=adjuster)
    ReviewDecision.objects.filter(pk=added.pk).update(current=True)  # as the other one saw it
    with pytest.raises(ApplicationError, match="stored at the same moment"):
        services.added_remove(decision=added, user=adjuster)
    assert ReviewDecision.objects.filter(replaces=added).count() == 1


# Box findings (a detection version) -------------------------------------------------------


@pytest.fixture
def box_case(make_case, version) -> Case:
    ModelVersion.objects.filter(pk=version.pk).update(damage_backend="detection")
    return make_case(
        findings=[("deformity", "door_shell", 0.3), ("surface_damage", "bumper", 0.5)],
        shape="box",
    )


def test_a_box_drawn_over_a_box_finding_is_stored_as_a_box(box_case, adjuster) -> None:
    services.lease_claim(case=box_case, user=adjuster)
    finding = _findings(box_case)["deformity"]
    assert finding.shape == "box"
    services.finding_edit(
        finding=finding,
        user=adjuster,
        mask=_full_mask(box_case, 6, 4, 26, 30),
        damage_type="deformity",
        part="door_shell",
        shape="box",
    )
    edit = MaskEdit.objects.get()
    assert (edit.shape, edit.box, edit.area_px) == ("box", [6, 4, 26, 30], 520)
    # A box finding may also be corrected with a painted mask (the default shape).
    services.finding_edit(
        finding=finding,
        user=adjuster,
        mask=_full_mask(box_case, 0, 0, 4, 4),
        damage_type="deformity",
        part="door_shell",
        supersedes=ReviewDecision.objects.get().pk,
    )
    assert list(MaskEdit.objects.order_by("pk").values_list("shape", flat=True)) == [
        "box",
        "mask",
    ]
    assert Finding.objects.get(pk=finding.pk).shape == "box"  # the model's row is unchanged


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ("circle", "Unknown shape 'circle'"),
        ("box", "A box correction must be one filled rectangle"),
    ],
)
def test_a_box_that_is_not_a_filled_rectangle_is_refused(
    box_case, adjuster, shape, message
) -> None:
    services.lease_claim(case=box_case, user=adjuster)
    photo = box_case.photos.get(position=0)
    ring = np.zeros((photo.height, photo.width), dtype=bool)
    ring[4:20, 4:20] = True
    ring[8:16, 8:16] = False  # a hole: its bounding box is not filled
    with pytest.raises(ApplicationError, match=message):
        services.finding_edit(
            finding=_findings(box_case)["deformity"],
            user=adjuster,
            mask=rle_codec.encode(ring).as_coco(),
            damage_type="deformity",
            part="door_shell",
            shape=shape,
        )
    with pytest.raises(ApplicationError, match=message):
        services.damage_add(
            photo=photo,
            user=adjuster,
            mask=rle_codec.encode(ring).as_coco(),
            damage_type="deformity",
            part="hood",
            shape=shape,
        )
    assert not MaskEdit.objects.exists()
    assert not ReviewDecision.objects.exists()
