"""A real browser (Debian's chromium through Playwright), a real server and a real Celery worker."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from django.db import connection, connections


def _asgi_application() -> Any:
    from channels.routing import get_default_application
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    return ASGIStaticFilesHandler(get_default_application())


@pytest.fixture
def server_url(
    request: pytest.FixtureRequest, settings: Any, transactional_db: None
) -> Iterator[str]:
    """Daphne (ASGI, WebSockets) when pages get pushes over Redis, else Django's live server.

    Pushes need a channel layer shared between processes (REDIS_URL) and a server that
    speaks WebSockets; Daphne runs in a child process, so the database must not be an
    in-memory SQLite one. Without those the page polls, which the live server covers.
    """
    if not settings.CLAIMS_LIVE_PUSH or connection.vendor == "sqlite":
        settings.CLAIMS_LIVE_PUSH = False  # the page polls: no socket to wait for
        yield request.getfixturevalue("live_server").url
        return
    from daphne.testing import DaphneProcess

    server = DaphneProcess("127.0.0.1", partial(_asgi_application))
    server.start()
    try:
        if not server.ready.wait(timeout=30):
            raise RuntimeError("Daphne did not start within 30 s")
        yield f"http://127.0.0.1:{server.port.value}"
    finally:
        server.terminate()
        server.join(timeout=10)


def _worker(queues: list[str]) -> Iterator[Any]:
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    app.control.purge()  # messages other tests left for ids that no longer exist
    with start_worker(
        app,
        pool="solo",
        concurrency=1,
        perform_ping_check=False,
        queues=queues,
        loglevel="WARNING",
    ) as worker:
        yield worker
    connections.close_all()


@pytest.fixture
def celery_worker_thread(transactional_db: None) -> Iterator[Any]:
    """A worker consuming the configured broker (files by default, Redis in CI)."""
    yield from _worker(["cpu"])


@pytest.fixture
def celery_worker_training(transactional_db: None) -> Iterator[Any]:
    """A worker of the photo queue and of the training queue (bin/run runs two)."""
    yield from _worker(["cpu", "training"])


LONG_PLACE = "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch" * 3 + "X" * 26  # 200


@pytest.fixture
def site(
    customer: Any, adjuster: Any, admin_user: Any, settings: Any, tmp_path: Any
) -> dict[str, Any]:
    """One of everything the three personas see: a case waiting for review (a 200-character
    unbroken place name, a set-aside photo, thumbnails and annotated photos), a reviewed case
    with an added damage and an answered contest, a case in each other status, an API token,
    an active and a candidate model version, and a finished training run with a long log
    line. Built through the services where there is one."""
    import numpy as np
    from django.core.files.base import ContentFile

    from inference.models import Finding
    from learning.models import TrainingRun
    from portal.api.tokens import api_token_create
    from review import rle as rle_codec
    from review import services as review_services
    from tests import factories

    settings.TRAINING_ROOT = str(tmp_path / "training")
    active = factories.model_version_create(threshold=0.6, status="active")
    candidate = factories.model_version_create(name="seed", version="2", threshold=0.5)
    findings = [
        ("deformity", "door_shell", 0.3),
        ("surface_damage", "bumper", 0.5),
        ("body_damage", "hood", 0.9),
    ]
    cases = []
    for place in (LONG_PLACE, "Lyon"):
        case = factories.case_create(
            customer=customer,
            version=active,
            findings=findings,
            photo_size=(640, 480),
            grid=(320, 240),
            set_aside=1,
        )
        case.loss_place = place
        case.save(update_fields=["loss_place"])
        photo = case.photos.get(position=0)
        image = factories.jpeg_bytes(640, 480, (150, 60, 60))
        photo.thumbnail.save("t0.jpg", ContentFile(image), save=False)
        photo.annotated.save("a0.jpg", ContentFile(image), save=False)
        photo.save()
        cases.append(case)
    waiting, reviewed = cases

    # The reviewed case: every finding decided, a missed damage added, a contest answered.
    review_services.lease_claim(case=reviewed, user=adjuster)
    for finding, action in zip(
        Finding.objects.filter(case=reviewed).order_by("index"),
        ("reject", "accept", "accept"),
        strict=True,
    ):
        review_services.finding_decide(finding=finding, user=adjuster, action=action)
    mask = np.zeros((480, 640), dtype=bool)
    mask[300:400, 400:560] = True
    photo = reviewed.photos.get(position=0)
    review_services.damage_add(
        photo=photo,
        user=adjuster,
        mask=rle_codec.encode(mask).as_coco(),
        damage_type="surface_damage",
        part="trunk",
    )
    review_services.photo_confirm_set_aside(photo=reviewed.photos.get(position=1), user=adjuster)
    contest = review_services.contest_create(
        case=reviewed,
        user=customer,
        reason="The bumper was scratched before the accident.",
        finding=Finding.objects.get(case=reviewed, part="bumper"),
    )
    review_services.contest_answer(
        contest=contest, user=adjuster, answer="Thank you; the scratch stays on the report."
    )
    review_services.case_finish_review(case=reviewed, user=adjuster)
    review_services.lease_release(case=reviewed, user=adjuster)

    for status in ("released", "needs_photos", "processing"):
        factories.case_create(customer=customer, version=active, findings=[], status=status)
    api_token_create(user=customer, name="Garage integration")

    log = tmp_path / "training" / "run.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(
        "2026-12-01T10:00:00 epoch 1/1 train_loss 0.4210\n"
        "2026-12-01T10:00:01 " + "validation-figures:" + "x" * 400 + "\n"
    )
    run = TrainingRun.objects.create(
        start_version=active,
        schedule={
            "epochs": 1,
            "max_steps_per_epoch": 1,
            "batch_size": 2,
            "resize": 64,
            "crop": 64,
            "lr": 1e-4,
        },
        status=TrainingRun.Status.DONE,
        progress={"phase": "done", "epoch": 1, "epochs": 1, "step": 1, "steps": 1},
        log_path=str(log),
        out_dir=str(log.parent),
        candidate=candidate,
        created_by=admin_user,
    )
    return {
        "active": active,
        "candidate": candidate,
        "waiting": waiting,
        "reviewed": reviewed,
        "run": run,
    }


@pytest.fixture
def site_pages(
    site: dict[str, Any], customer: Any, adjuster: Any, admin_user: Any
) -> list[tuple[str, Any, str]]:
    """(name, user or None, path) of every page the customer, the adjuster, the admin and a
    visitor reach, on the `site` scene."""
    from django.urls import reverse

    waiting, reviewed, run = site["waiting"], site["reviewed"], site["run"]
    active, candidate = site["active"], site["candidate"]
    return [
        ("login", None, reverse("login")),
        ("signup", None, reverse("signup")),
        ("case-list", customer, reverse("portal:case_list")),
        ("claim-form", customer, reverse("portal:case_create")),
        ("case", customer, reverse("portal:case_detail", args=[waiting.public_id])),
        ("case-reviewed", customer, reverse("portal:case_detail", args=[reviewed.public_id])),
        ("api-tokens", customer, reverse("api_tokens")),
        ("not-found", customer, "/cases/00000000-0000-4000-8000-000000000000/"),
        ("all-cases", adjuster, reverse("portal:case_list")),
        ("queue", adjuster, reverse("review:queue")),
        ("review", adjuster, reverse("review:case", args=[waiting.public_id])),
        ("review-reviewed", adjuster, reverse("review:case", args=[reviewed.public_id])),
        ("model-versions", admin_user, reverse("learning:model_versions")),
        ("model-version", admin_user, reverse("learning:model_version", args=[active.pk])),
        ("model-candidate", admin_user, reverse("learning:model_version", args=[candidate.pk])),
        (
            "compare",
            admin_user,
            f"{reverse('learning:model_compare')}?a={active.pk}&b={candidate.pk}",
        ),
        ("training-runs", admin_user, reverse("learning:runs")),
        ("training-new", admin_user, reverse("learning:new")),
        ("training-run", admin_user, reverse("learning:run", args=[run.pk])),
    ]


def page_open(
    browser: Any, base: str, user: Any, path: str, *, width: int = 1280, height: int = 900
) -> Any:
    """A page at `path` of the server at `base`, logged in as `user` (None: a visitor), the
    window `width` x `height`, loaded and settled. On the review screen the adjuster claims
    the case first when it can be claimed, so that the decision buttons are on it."""
    from django.test import Client

    context = browser.new_context(viewport={"width": width, "height": height})
    if user is not None:
        client = Client()
        client.force_login(user)
        context.add_cookies(
            [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base}]
        )
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(f"{base}{path}")
    page.wait_for_load_state("networkidle")
    if page.locator("#claim-button").count():
        page.click("#claim-button")
        page.locator("[data-mine]").wait_for()
        page.locator(".finding .actions, [data-case-reviewed]").first.wait_for()
        page.wait_for_load_state("networkidle")
    return page
