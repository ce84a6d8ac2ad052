"""The learning loop in a real browser, as an admin closes it: export the reviewed labels,
train a candidate on them from the shipped version (a tiny schedule, on a real worker of the
`training` queue), watch the run finish, shadow-evaluate the candidate on reviewed cases it
was not trained on, open the comparison, promote it; the customer's next claim, filed in the
browser, is then processed by the promoted version.

Screenshots go to /tmp/learning-loop-*.png for people checking that the pages read well."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from claims.models import AuditEvent, Case, Photo
from damage_vision.versions.registry import load_manifest
from inference.models import Finding, ModelVersion
from learning.models import DatasetSnapshot, ShadowEvaluation, ShadowFinding, TrainingRun
from review import services
from tests.conftest import claim_processed, page_as

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "bus.jpg"


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=f"/tmp/learning-loop-{name}.png", full_page=True)


def _review_all(case: Case, adjuster: Any) -> int:
    """What an adjuster does in the review screen: every finding accepted, then the review
    finished; returns how many findings were accepted."""
    services.lease_claim(case=case, user=adjuster)
    findings = list(Finding.objects.filter(case=case).order_by("pk"))
    for finding in findings:
        services.finding_decide(finding=finding, user=adjuster, action="accept")
    services.case_finish_review(case=case, user=adjuster)
    return len(findings)


@pytest.fixture(autouse=True)
def _private_roots(settings: Any, tmp_path: Path) -> None:
    """Exports and training runs under this test's own folder. Autouse, so it is set before
    `server_url` starts: on PostgreSQL that server is a forked Daphne process, which keeps
    the settings of the moment it starts (before, a rerun in the same checkout found the
    last run's snapshot "already exists" under var/exports)."""
    settings.REVIEW_EXPORT_ROOT = str(tmp_path / "exports")
    settings.TRAINING_ROOT = str(tmp_path / "training")
    settings.INFERENCE_BACKEND = "torch"  # the candidate is exported to ONNX too; either runs


def test_learning_loop_from_export_to_the_next_claim(
    browser,
    server_url,
    celery_worker_training,
    customer,
    adjuster,
    admin_user,
    shipped_model,
    settings,
    tmp_path,
) -> None:
    photo = FIXTURE.read_bytes()
    # Every finding to a person: the shipped model finds damage on the fixture bus.
    ModelVersion.objects.filter(pk=shipped_model.pk).update(threshold=1.0)
    trained_on = claim_processed(customer, photo, policy="LL-1")
    assert trained_on.status == Case.Status.NEEDS_REVIEW
    assert _review_all(trained_on, adjuster) >= 1  # the snapshot has labels to learn from

    # 1. The admin exports the reviewed labels from the model-versions page.
    admin = page_as(browser, server_url, admin_user)
    admin.goto(f"{server_url}/review/models/")
    admin.locator("input[name=version]").fill("loop-1")
    admin.locator("#export-button").click()
    admin.locator("ul.messages").wait_for()
    assert "Exported snapshot loop-1" in admin.locator("ul.messages").inner_text()
    snapshot = DatasetSnapshot.objects.get(version="loop-1")
    assert snapshot.cases == [trained_on.pk]
    assert snapshot.annotations >= 1

    # A claim reviewed after the export: the candidate never saw it, so it can judge it.
    held_out = claim_processed(customer, photo, policy="LL-2")
    _review_all(held_out, adjuster)

    # 2. A training run from the shipped version on the snapshot, with a tiny schedule.
    admin.goto(f"{server_url}/review/models/")
    admin.locator("#train-candidate").click()
    admin.locator("select[name=start_version]").select_option(str(shipped_model.pk))
    admin.get_by_label(re.compile(r"^loop-1:")).check()
    for name, value in (
        ("epochs", "1"),
        ("max_steps_per_epoch", "1"),
        ("batch_size", "2"),
        ("resize", "64"),
        ("crop", "64"),
    ):
        admin.locator(f"input[name={name}]").fill(value)
    _shot(admin, "1-train-form")
    admin.locator("#start-training").click()
    admin.locator("#training-run").wait_for()
    run = TrainingRun.objects.get()
    assert run.start_version_id == shipped_model.pk

    # 3. The page follows the run live until the candidate is registered.
    admin.locator("#run-candidate a").wait_for(state="visible", timeout=300_000)
    _shot(admin, "2-run-done")
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.DONE, run.error
    assert admin.locator("#run-status").inner_text() == run.get_status_display()
    assert re.search(r"1 / 1", admin.locator("#progress-epoch").inner_text())
    candidate = run.candidate
    assert candidate is not None
    assert candidate.status == ModelVersion.Status.CANDIDATE
    assert candidate.metrics["training"]["cases"] == [trained_on.pk]
    assert Path(candidate.manifest_path).is_relative_to(tmp_path / "training")
    # Trained on 64 px crops, it still looks at photos as the version it started from.
    assert (
        load_manifest(candidate.manifest_path).input_size
        == load_manifest(shipped_model.manifest_path).input_size
    )

    # 4. Shadow evaluation of the candidate on the last reviewed cases, from its page.
    admin.locator("#run-candidate a").click()
    admin.locator("#shadow-n").fill("5")
    admin.get_by_role("button", name="Shadow evaluate").click()
    evaluation = ShadowEvaluation.objects.get()
    row = admin.locator(f'#shadow-evaluations tr[data-evaluation="{evaluation.pk}"]')
    for _ in range(120):
        evaluation.refresh_from_db()
        if evaluation.status in (ShadowEvaluation.Status.DONE, ShadowEvaluation.Status.FAILED):
            break
        admin.wait_for_timeout(1000)
    assert evaluation.status == ShadowEvaluation.Status.DONE, evaluation.error
    admin.reload()
    assert row.get_attribute("data-status") == "done"
    # Only the held-out case: the one the candidate was trained on is left out.
    assert evaluation.case_ids == [held_out.pk]
    assert evaluation.excluded_case_ids == [trained_on.pk]
    # Its findings are stored apart: the customer's cases gained no finding.
    assert ShadowFinding.objects.filter(evaluation=evaluation, model_version=shipped_model).exists()
    assert not Finding.objects.filter(model_version=candidate).exists()
    _shot(admin, "3-shadow")

    # 5. The comparison, then promotion from it.
    admin.locator("#promote-compare").click()
    admin.locator("#compare").wait_for()
    assert admin.locator("#shadow-figures").is_visible()
    assert admin.locator("#compare-plots svg").count() >= 4
    _shot(admin, "4-compare")
    admin.locator("#confirm-promote").click()
    admin.locator("ul.messages").wait_for()
    candidate.refresh_from_db()
    assert candidate.status == ModelVersion.Status.ACTIVE
    promoted = AuditEvent.objects.get(verb="model.promoted", data__model_version=candidate.pk)
    assert promoted.data["shadow"]["evaluation"] == evaluation.pk

    # 6. The customer's next claim, filed in the browser, goes through the promoted version.
    page = page_as(browser, server_url, customer)
    page.goto(f"{server_url}/cases/new/")
    page.fill("input[name=policy_number]", "LL-3")
    page.fill("input[name=loss_date]", "2026-11-30")
    page.fill("input[name=loss_place]", "Depot")
    page.fill("textarea[name=description]", "Scraped along a pillar")
    page.set_input_files("#photos", [str(FIXTURE)])
    page.click("#submit-claim")
    page.locator("#report").wait_for(timeout=120_000)
    _shot(page, "5-next-claim")
    latest = Case.objects.get(policy_number="LL-3")
    assert latest.model_version_id == candidate.pk
    assert latest.photos.get().status == Photo.Status.DONE, latest.photos.get().set_aside_reason
    assert latest.photos.get().runs.get().model_version_id == candidate.pk
