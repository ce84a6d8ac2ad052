"""Review owns its rounds: it keeps `Case.review_round_open` with them, and claims' rule for
a case's status after processing reads that field instead of review's tables."""

from __future__ import annotations

from typing import Any

import pytest

from claims.lifecycle import case_status_after_processing
from claims.models import Case
from inference.models import Finding
from review import services
from review.models import ReviewRound
from tests.conftest import product_sources

pytestmark = pytest.mark.django_db


def test_rounds_open_and_close_the_flag(make_case: Any, customer: Any, adjuster: Any) -> None:
    case = make_case([("deformity", "door_shell", 0.3)])
    assert not case.review_round_open
    services.lease_claim(case=case, user=adjuster)
    finding = Finding.objects.get(case=case)
    services.finding_decide(finding=finding, user=adjuster, action="accept")  # opens round 1
    case.refresh_from_db()
    assert case.review_round_open
    services.case_finish_review(case=case, user=adjuster)
    case.refresh_from_db()
    assert not case.review_round_open
    services.contest_create(case=case, user=customer, reason="The roof too")  # round 2
    case.refresh_from_db()
    assert case.review_round_open
    assert ReviewRound.objects.filter(case=case, finished_at__isnull=True).count() == 1


def test_an_open_round_keeps_a_processed_case_for_an_adjuster(make_case: Any) -> None:
    case = make_case([("deformity", "door_shell", 0.9)], status=Case.Status.PROCESSING)
    photos = list(case.photos.all())
    done = case_status_after_processing(case=case, photos=photos, usable=True, to_review=False)
    assert done == Case.Status.RELEASED
    case.review_round_open = True
    held = case_status_after_processing(case=case, photos=photos, usable=True, to_review=False)
    assert held == Case.Status.NEEDS_REVIEW


def test_claims_never_queries_reviews_rounds() -> None:
    offenders = [
        name
        for name, source in product_sources(("claims",))
        if "review_rounds" in source or "ReviewRound" in source
    ]
    assert offenders == []
