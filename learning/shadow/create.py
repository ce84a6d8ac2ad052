"""Asking for a shadow evaluation: `shadow_evaluation_create` checks the candidate against
the active version, picks the last N reviewed cases less those the candidate was trained on,
stores a queued `ShadowEvaluation` and enqueues the task (by name) on commit;
`shadow_evaluations_fail_stale` fails evaluations no worker will finish.
"""

from __future__ import annotations

import datetime as dt

from celery import current_app
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from claims.audit import audit_record
from claims.models import Case
from common.access import require_admin
from common.db import send_each
from common.errors import ApplicationError
from inference.models import ModelVersion
from learning import selectors
from learning.models import ShadowEvaluation
from review.models import ReviewedReport

# The task (`learning.tasks`) keeps the name it had in the review app: messages already
# queued under it still run.
SHADOW_TASK = "review.tasks.shadow_evaluation_task"

SHADOW_MAX_CASES = 200  # a run is two versions on every photo of N cases, on the CPU workers
# The task's hard time limit (learning.tasks): an evaluation queued or running for longer lost
# its message or its worker, and is failed so that the candidate can be evaluated again.
SHADOW_TIME_LIMIT_S = 3 * 3600 + 120


def reviewed_cases_latest(*, n: int) -> list[Case]:
    """The last `n` reviewed cases, the most recently finished review first; those whose
    latest report was stored without what it keeps (review 0009) have no truth to score
    against and are left out."""
    latest = ReviewedReport.objects.filter(case=OuterRef("pk")).order_by("-created_at", "-pk")
    return list(
        Case.objects.filter(status=Case.Status.REVIEWED, model_version__isnull=False)
        .annotate(
            reviewed_at=Subquery(latest.values("created_at")[:1]),
            latest_report=Subquery(latest.values("pk")[:1]),
        )
        .filter(
            Exists(
                ReviewedReport.objects.filter(pk=OuterRef("latest_report"), outcome__isnull=False)
            )
        )
        .order_by("-reviewed_at", "-pk")[:n]
    )


def training_cases(version: ModelVersion) -> set[str]:
    """What the version's manifest says it was trained on (`metrics.training.cases`), as
    strings: case ids, public ids or references may be listed."""
    metrics = version.metrics if isinstance(version.metrics, dict) else {}
    training = metrics.get("training", {})
    listed = training.get("cases", []) if isinstance(training, dict) else []
    return {str(c) for c in listed} if isinstance(listed, list) else set()


def _trained_on(case: Case, listed: set[str]) -> bool:
    return bool({str(case.pk), str(case.public_id), case.reference} & listed)


def shadow_evaluation_create(*, candidate: ModelVersion, n: int, user: User) -> ShadowEvaluation:
    """Ask for a shadow evaluation of `candidate` against the active version on the last
    `n` reviewed cases (less those it was trained on); the task is enqueued on commit."""
    require_admin(user)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= SHADOW_MAX_CASES:
        raise ApplicationError(
            f"Choose how many reviewed cases to evaluate on: a whole number from 1 to "
            f"{SHADOW_MAX_CASES}, got {n!r}."
        )
    baseline = selectors.model_version_active()
    if baseline is None:
        raise ApplicationError(
            "No model version is active, so there is nothing to compare the candidate with; "
            "promote a version first."
        )
    if baseline.pk == candidate.pk:
        raise ApplicationError(
            f"{candidate} is the active version; shadow-evaluate a candidate against it instead."
        )
    if candidate.status == ModelVersion.Status.RETIRED:
        raise ApplicationError(
            f"{candidate} is retired; only a candidate can be evaluated in shadow."
        )
    if not candidate.manifest_path or not baseline.manifest_path:
        missing = candidate if not candidate.manifest_path else baseline
        raise ApplicationError(
            f"{missing} has no manifest on this server, so it cannot run; register it with "
            "`python manage.py register_models`."
        )
    shadow_evaluations_fail_stale()
    latest = reviewed_cases_latest(n=n)
    listed = training_cases(candidate)
    excluded = [c.pk for c in latest if _trained_on(c, listed)]
    used = [c.pk for c in latest if c.pk not in excluded]
    if not used:
        if not latest:
            raise ApplicationError(
                "No case has been reviewed yet: shadow evaluation compares the versions with "
                "what adjusters decided, so finish at least one review first."
            )
        raise ApplicationError(
            f"All {len(latest)} of the last reviewed cases were used to train {candidate}; "
            "choose a larger N, or review more cases first."
        )
    try:
        with transaction.atomic():
            evaluation = ShadowEvaluation.objects.create(
                candidate=candidate,
                baseline=baseline,
                n_cases=n,
                case_ids=used,
                excluded_case_ids=excluded,
                created_by=user,
            )
            audit_record(
                verb="model.shadow_requested",
                actor=user,
                data={
                    "model_version": candidate.pk,
                    "evaluation": evaluation.pk,
                    "baseline": baseline.pk,
                    "cases": len(used),
                    "excluded": len(excluded),
                },
            )
            evaluation_id = evaluation.pk
            transaction.on_commit(lambda: _enqueue(evaluation_id))
    except IntegrityError:
        raise ApplicationError(
            f"A shadow evaluation of {candidate} is already queued or running; wait until it "
            "finishes (its status is on this page)."
        ) from None
    return evaluation


def shadow_evaluations_fail_stale(*, now: dt.datetime | None = None) -> list[int]:
    """Fail evaluations no worker will finish: queued or running for longer than the task
    may run (a lost message, a killed worker). Returns their ids."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=SHADOW_TIME_LIMIT_S)
    stale = ShadowEvaluation.objects.filter(
        Q(status=ShadowEvaluation.Status.QUEUED, created_at__lt=cutoff)
        | Q(status=ShadowEvaluation.Status.RUNNING, started_at__lt=cutoff)
    )
    ids = list(stale.values_list("pk", flat=True))
    ShadowEvaluation.objects.filter(pk__in=ids).update(
        status=ShadowEvaluation.Status.FAILED,
        error="no worker finished it in time (a lost message or a stopped worker); ask again",
        finished_at=now,
    )
    return ids


def _enqueue(evaluation_id: int) -> None:
    # The task (`learning.tasks`, which calls this module) looked up by name; a broker that
    # cannot be reached leaves the evaluation queued.
    send_each(current_app.tasks[SHADOW_TASK], [evaluation_id], "shadow evaluation")
