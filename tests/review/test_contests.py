"""A customer contests a finding (or says damage was missed); an adjuster answers it.

Limits, permissions, reopening a reviewed case, the queue's order, the answer required
before finishing, and the audit trail."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.urls import reverse

from claims.models import AuditEvent, Case, Photo
from claims.services import Upload
from common.errors import ApplicationError
from inference.models import Finding
from review import services
from review.models import Contest, ReviewRound
from review.selectors import QueueFilters, queue_cases

pytestmark = pytest.mark.django_db


def _released(make_case: Any, **kwargs: Any) -> Case:
    """A released case: every finding above the threshold, nobody reviewed it."""
    return make_case(
        [("deformity", "door_shell", 0.9), ("surface_damage", "bumper", 0.8)],
        status=Case.Status.RELEASED,
        **kwargs,
    )


def _reviewed(case: Case, adjuster: Any) -> Case:
    services.lease_claim(case=case, user=adjuster)
    for finding in Finding.objects.filter(case=case, c_refined__lt=0.6):
        services.finding_decide(finding=finding, user=adjuster, action="accept")
    services.case_finish_review(case=case, user=adjuster)
    case.refresh_from_db()
    assert case.status == Case.Status.REVIEWED
    return case


def test_contest_on_a_released_case_opens_round_1_and_is_audited(make_case, customer) -> None:
    case = _released(make_case)
    finding = Finding.objects.filter(case=case).order_by("pk").first()
    contest = services.contest_create(
        case=case, user=customer, reason="  The door was already dented.  ", finding=finding
    )
    case.refresh_from_db()
    assert (contest.reason, contest.finding_id, contest.created_by, contest.is_open) == (
        "The door was already dented.",
        finding.pk,
        customer,
        True,
    )
    assert case.status == Case.Status.NEEDS_REVIEW
    (round_1,) = ReviewRound.objects.filter(case=case)
    assert (round_1.number, round_1.finished_at, round_1.opened_by, round_1.reason) == (
        1,
        None,
        customer,
        "contested by the customer: The door was already dented.",
    )
    event = AuditEvent.objects.get(case=case, verb="case.contested")
    assert event.actor == customer
    assert event.data == {
        "contest": contest.pk,
        "finding": finding.pk,
        "photo": None,
        "round": 1,
        "reason": "The door was already dented.",
    }


def test_contest_on_a_reviewed_case_reopens_its_review(make_case, customer, adjuster) -> None:
    case = _reviewed(make_case(), adjuster)
    services.contest_create(case=case, user=customer, reason="You missed the scratch on the roof")
    case.refresh_from_db()
    assert case.status == Case.Status.NEEDS_REVIEW
    rounds = list(ReviewRound.objects.filter(case=case).order_by("number"))
    assert [(r.number, r.finished_at is None) for r in rounds] == [(1, False), (2, True)]
    assert rounds[1].opened_by == customer
    assert rounds[1].reason == "contested by the customer: You missed the scratch on the roof"
    reopened = AuditEvent.objects.get(case=case, verb="review.case_reopened")
    assert (reopened.actor, reopened.data) == (
        customer,
        {"round": 2, "reason": "contested by the customer: You missed the scratch on the roof"},
    )
    assert Contest.objects.get(case=case).finding is None  # "you missed damage here"


def test_contest_with_a_photo_adds_it_through_photo_add(
    make_case, customer, adjuster, vehicle_jpeg
) -> None:
    case = _reviewed(make_case(), adjuster)
    contest = services.contest_create(
        case=case,
        user=customer,
        reason="Here is the roof",
        upload=Upload(name="roof.jpg", stream=io.BytesIO(vehicle_jpeg), size=len(vehicle_jpeg)),
    )
    case.refresh_from_db()
    assert contest.photo is not None
    assert (contest.photo.position, contest.photo.status) == (1, Photo.Status.QUEUED)
    assert case.status == Case.Status.PROCESSING  # processed like any added photo
    assert AuditEvent.objects.filter(
        case=case, verb="photo.added", data={"photo": contest.photo.pk}
    ).exists()


def test_a_bad_photo_refuses_the_whole_contest(make_case, customer, adjuster) -> None:
    case = _reviewed(make_case(), adjuster)
    with pytest.raises(ApplicationError):
        services.contest_create(
            case=case,
            user=customer,
            reason="Here is the roof",
            upload=Upload(name="roof.jpg", stream=io.BytesIO(b"not a photo"), size=11),
        )
    case.refresh_from_db()
    assert case.status == Case.Status.REVIEWED
    assert not Contest.objects.exists()
    assert ReviewRound.objects.filter(case=case).count() == 1
    assert not AuditEvent.objects.filter(case=case, verb="case.contested").exists()


def test_limits_reason_per_case_and_one_open_per_finding(make_case, customer, settings) -> None:
    settings.CLAIMS_CONTESTS_PER_CASE = 2
    case = _released(make_case)
    first, second = Finding.objects.filter(case=case).order_by("pk")
    for reason, message in (
        ("   ", "Say in a few words what is wrong, so the adjuster can check it."),
        ("x" * 501, "Keep the reason under 500 characters; you may add a photo to show the rest."),
    ):
        with pytest.raises(ApplicationError) as exc:
            services.contest_create(case=case, user=customer, reason=reason, finding=first)
        assert exc.value.message == message
    services.contest_create(case=case, user=customer, reason="not mine", finding=first)
    with pytest.raises(ApplicationError) as exc:
        services.contest_create(case=case, user=customer, reason="again", finding=first)
    assert exc.value.message == (
        "You have contested this row already; an adjuster will answer that first."
    )
    services.contest_create(case=case, user=customer, reason="also not mine", finding=second)
    with pytest.raises(ApplicationError) as exc:
        services.contest_create(case=case, user=customer, reason="and the roof")
    assert exc.value.message == (
        "This claim has been contested 2 times, the most allowed; contact your adjuster "
        "if something is still wrong."
    )
    assert Contest.objects.filter(case=case).count() == 2
    assert AuditEvent.objects.filter(case=case, verb="case.contested").count() == 2


def test_no_contest_while_processing(make_case, customer) -> None:
    case = make_case(status=Case.Status.PROCESSING)
    with pytest.raises(ApplicationError) as exc:
        services.contest_create(case=case, user=customer, reason="wrong")
    assert "still being processed" in exc.value.message
    assert not Contest.objects.exists()
    assert not ReviewRound.objects.exists()


def test_permissions_another_customer_404_staff_refused(
    make_case, login, customer, other_customer, adjuster, admin_user
) -> None:
    case = _released(make_case)
    finding = Finding.objects.filter(case=case).first()
    url = reverse("portal:case_contest", args=[case.public_id])
    data = {"reason": "not mine", "finding": finding.pk}
    assert login(None).post(url, data).status_code == 302  # to the login page
    assert login(other_customer).post(url, data).status_code == 404
    assert login(adjuster).post(url, data).status_code == 403
    assert login(admin_user).post(url, data).status_code == 403
    assert login(customer).get(url).status_code == 405
    with pytest.raises(ApplicationError):
        services.contest_create(case=case, user=adjuster, reason="not mine")
    with pytest.raises(ApplicationError):
        services.contest_create(case=case, user=other_customer, reason="not mine")
    assert not Contest.objects.exists()
    case.refresh_from_db()
    assert case.status == Case.Status.RELEASED
    # A finding of another case is a 404 too.
    elsewhere = Finding.objects.filter(case=make_case()).first()
    response = login(customer).post(url, {"reason": "x", "finding": elsewhere.pk})
    assert response.status_code == 404
    response = login(customer).post(url, data)
    assert response.status_code == 302
    assert Contest.objects.get().finding == finding


def test_customer_page_shows_the_contest_and_the_answer(
    make_case, login, customer, adjuster
) -> None:
    case = _released(make_case)
    client = login(customer)
    page = client.get(reverse("portal:case_detail", args=[case.public_id])).content.decode()
    assert page.count("Contest this row") == 2
    assert "You missed damage here" in page
    finding = Finding.objects.filter(case=case, part="door_shell").get()
    client.post(
        reverse("portal:case_contest", args=[case.public_id]),
        {"reason": "That dent is old", "finding": finding.pk},
    )
    page = client.get(reverse("portal:case_detail", args=[case.public_id])).content.decode()
    assert "That dent is old" in page
    assert "An adjuster will check it again and answer you here." in page
    assert page.count("Contest this row") == 1  # one open contest per row
    contest = Contest.objects.get()
    services.lease_claim(case=case, user=adjuster)
    services.contest_answer(contest=contest, user=adjuster, answer="It is new: photo 1 shows it.")
    page = client.get(reverse("portal:case_detail", args=[case.public_id])).content.decode()
    assert "It is new: photo 1 shows it." in page


def test_queue_shows_contested_cases_first(make_case, customer) -> None:
    routine = make_case([("deformity", "hood", 0.1)])
    contested = _released(make_case)
    assert [c.pk for c in queue_cases(filters=QueueFilters())] == [routine.pk]
    services.contest_create(case=contested, user=customer, reason="wrong")
    got = list(queue_cases(filters=QueueFilters()))
    assert [(c.pk, c.contested) for c in got] == [(contested.pk, True), (routine.pk, False)]


def test_queue_page_marks_contested(make_case, customer, adjuster, login) -> None:
    case = _released(make_case)
    services.contest_create(case=case, user=customer, reason="wrong")
    page = login(adjuster).get(reverse("review:queue")).content.decode()
    assert 'class="badge contested"' in page


def test_answer_required_before_finishing(make_case, customer, adjuster, login) -> None:
    case = _released(make_case)
    finding = Finding.objects.filter(case=case).order_by("pk").first()
    contest = services.contest_create(case=case, user=customer, reason="wrong", finding=finding)
    services.lease_claim(case=case, user=adjuster)
    with pytest.raises(ApplicationError) as exc:
        services.case_finish_review(case=case, user=adjuster)
    assert exc.value.message == (
        "The customer contested 1 item that you have not answered yet; write an answer to "
        "each contest (the customer reads it) before finishing the review."
    )
    case.refresh_from_db()
    assert case.status == Case.Status.NEEDS_REVIEW
    with pytest.raises(ApplicationError) as exc:
        services.contest_answer(contest=contest, user=adjuster, answer="   ")
    assert exc.value.message == (
        "Write an answer for the customer (they read it on their claim page)."
    )
    with pytest.raises(ApplicationError):
        services.contest_answer(contest=contest, user=customer, answer="I agree with myself")
    contest.refresh_from_db()
    assert (contest.answer, contest.answered_at) == ("", None)

    client = login(adjuster)
    review_page = client.get(reverse("review:case", args=[case.public_id])).content.decode()
    assert "The customer contests this finding" in review_page
    assert f'action="{reverse("review:contest_answer", args=[contest.pk])}"' in review_page
    response = client.post(
        reverse("review:contest_answer", args=[contest.pk]), {"answer": "Checked: it is new."}
    )
    assert response.status_code == 302
    contest.refresh_from_db()
    assert (contest.answer, contest.answered_by, contest.is_open) == (
        "Checked: it is new.",
        adjuster,
        False,
    )
    event = AuditEvent.objects.get(case=case, verb="review.contest_answered")
    assert (event.actor, event.data) == (
        adjuster,
        {"contest": contest.pk, "finding": finding.pk, "answer": "Checked: it is new."},
    )
    with pytest.raises(ApplicationError) as exc:
        services.contest_answer(contest=contest, user=adjuster, answer="twice")
    assert exc.value.message == "This contest was answered meanwhile; reload the case."
    services.finding_decide(finding=finding, user=adjuster, action="accept")
    services.case_finish_review(case=case, user=adjuster)
    case.refresh_from_db()
    assert case.status == Case.Status.REVIEWED
    assert [c.pk for c in queue_cases(filters=QueueFilters())] == []
