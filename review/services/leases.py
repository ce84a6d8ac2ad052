"""Leases: one adjuster at a time works on a case; a lease runs out without heartbeats."""

from __future__ import annotations

import datetime as dt
import time

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from claims.models import Case
from common.access import require_reviewer
from common.errors import ApplicationError
from review.models import (
    Lease,
)

LOCKED_RETRIES = 8


def _lease_seconds() -> int:
    return int(settings.REVIEW_LEASE_SECONDS)


def lease_take(*, case_id: int, user: User, now: dt.datetime) -> bool:
    """Conditional update: free, expired or already ours. One statement, so two requests
    racing for the same case cannot both win (the database serialises the row update)."""
    Lease.objects.get_or_create(case_id=case_id)
    taken = (
        Lease.objects.filter(case_id=case_id)
        .filter(Q(holder__isnull=True) | Q(expires_at__lte=now) | Q(holder=user))
        .update(
            holder=user,
            claimed_at=now,
            expires_at=now + dt.timedelta(seconds=_lease_seconds()),
        )
    )
    return taken == 1


def lease_held_message(case_id: int) -> str:
    lease = Lease.objects.select_related("holder").filter(case_id=case_id).first()
    if lease is None or lease.holder is None or lease.expires_at is None:
        return "This case is not available; pick another one from the queue."
    until = timezone.localtime(lease.expires_at).strftime("%H:%M")
    return (
        f"{lease.holder.username} is reviewing this case (lease until {until} unless they "
        "keep working); pick another case from the queue."
    )


def lease_claim(*, case: Case, user: User, now: dt.datetime | None = None) -> Lease:
    """Take the case for `user`; an adjuster holds one case at a time."""
    require_reviewer(user)
    if case.status == Case.Status.PROCESSING:
        raise ApplicationError("This case is still being processed; it cannot be reviewed yet.")
    for attempt in range(LOCKED_RETRIES):
        try:
            return _claim(case=case, user=user, now=now or timezone.now())
        except OperationalError as exc:
            # SQLite (the embedded default) reports a concurrent writer as "locked"
            # instead of waiting; PostgreSQL waits on the row and never lands here.
            if "locked" not in str(exc) or attempt == LOCKED_RETRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def _claim(*, case: Case, user: User, now: dt.datetime) -> Lease:
    try:
        with transaction.atomic():
            if not lease_take(case_id=case.pk, user=user, now=now):
                raise ApplicationError(lease_held_message(case.pk))
            Lease.objects.filter(holder=user).exclude(case_id=case.pk).update(
                holder=None, expires_at=None
            )
    except IntegrityError:
        # Two first claims created the row at once; the loser retries the update once.
        with transaction.atomic():
            if not lease_take(case_id=case.pk, user=user, now=now):
                raise ApplicationError(lease_held_message(case.pk)) from None
    return Lease.objects.select_related("holder").get(case_id=case.pk)


def lease_renew(*, case: Case, user: User, now: dt.datetime | None = None) -> Lease:
    """Extend the lease while the adjuster works (heartbeat, every decision)."""
    require_reviewer(user)
    now = now or timezone.now()
    with transaction.atomic():
        if not lease_take(case_id=case.pk, user=user, now=now):
            raise ApplicationError(lease_held_message(case.pk))
    return Lease.objects.select_related("holder").get(case_id=case.pk)


def lease_release(*, case: Case, user: User) -> None:
    require_reviewer(user)
    Lease.objects.filter(case_id=case.pk, holder=user).update(holder=None, expires_at=None)


def lease_claim_next(*, user: User, candidates: list[int], now: dt.datetime | None = None) -> Case:
    """Claim the first case of `candidates` (queue order) that nobody else holds."""
    require_reviewer(user)
    for case_id in candidates:
        case = Case.objects.get(pk=case_id)
        try:
            lease_claim(case=case, user=user, now=now)
        except ApplicationError:
            continue
        return case
    raise ApplicationError("The queue is empty: every case is reviewed or held by someone.")
