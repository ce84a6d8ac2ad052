"""Training pages: admins only; the form starts a run; the run page polls its progress."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from learning import services
from learning.models import TrainingRun
from tests.learning.conftest import TINY, make_snapshot

pytestmark = pytest.mark.django_db


def _client(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def _form(version, snapshot, **change):  # type: ignore[no-untyped-def]
    data = {"start_version": version.pk, "snapshots": [snapshot.pk]} | TINY
    return data | change


def test_pages_are_for_admins_only(customer, adjuster, admin_user, active_model, tmp_path) -> None:
    snapshot = make_snapshot(root=tmp_path / "exports")
    run = services.training_run_create(
        user=admin_user, start_version=active_model, snapshots=[snapshot], schedule=TINY
    )
    urls = [
        ("get", reverse("learning:runs")),
        ("get", reverse("learning:new")),
        ("post", reverse("learning:new")),
        ("get", reverse("learning:run", args=[run.pk])),
        ("get", reverse("learning:progress", args=[run.pk])),
        ("post", reverse("learning:cancel", args=[run.pk])),
    ]
    for user in (customer, adjuster):
        client = _client(user)
        for method, url in urls:
            assert getattr(client, method)(url).status_code == 403, (user, url)
    assert TrainingRun.objects.get().status == TrainingRun.Status.QUEUED
    anonymous = Client().get(reverse("learning:new"))
    assert anonymous.status_code == 302
    assert "/accounts/login/" in anonymous["Location"]


def test_model_versions_page_links_the_form(admin_user, active_model) -> None:
    page = _client(admin_user).get(reverse("learning:model_versions")).content.decode()
    assert f'href="{reverse("learning:new")}" id="train-candidate"' in page


def test_the_form_starts_a_run(
    admin_user, active_model, tmp_path, sent, django_capture_on_commit_callbacks
) -> None:
    snapshot = make_snapshot(root=tmp_path / "exports")
    client = _client(admin_user)
    page = client.get(reverse("learning:new"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<title>Train a candidate" in html
    assert '<label for="id_epochs">Epochs' in html
    assert 'id="id_snapshots_0"' in html
    assert "labels-1: 0 photos, 0 labels" in html
    assert str(active_model.version) in html

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("learning:new"), _form(active_model, snapshot))
    run = TrainingRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("learning:run", args=[run.pk])
    assert sent == [run.pk]
    assert run.created_by == admin_user
    assert run.schedule == TINY
    assert run.public_sources == []


def test_the_form_shows_what_to_fix(admin_user, active_model, tmp_path, sent) -> None:
    snapshot = make_snapshot(root=tmp_path / "exports")
    client = _client(admin_user)
    response = client.post(
        reverse("learning:new"), _form(active_model, snapshot, crop=128, resize=64)
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "crop (128 px) must not exceed resize (64 px)" in html
    assert 'role="alert"' in html
    response = client.post(reverse("learning:new"), _form(active_model, snapshot, snapshots=[]))
    assert response.status_code == 400
    assert "Choose at least one label snapshot or public dataset" in response.content.decode()
    assert not TrainingRun.objects.exists()
    assert sent == []


def test_run_page_and_progress_document(admin_user, active_model, tmp_path) -> None:
    snapshot = make_snapshot(root=tmp_path / "exports")
    run = services.training_run_create(
        user=admin_user, start_version=active_model, snapshots=[snapshot], schedule=TINY
    )
    progress = {
        "phase": "training",
        "epoch": 1,
        "epochs": 3,
        "step": 4,
        "steps": 10,
        "train_loss": 0.5,
        "validation": {"damage_miou": 0.25},
        "seconds_elapsed": 12.0,
        "seconds_left": 80.0,
    }
    TrainingRun.objects.filter(pk=run.pk).update(status="running", progress=progress)
    Path(run.out_dir).mkdir(parents=True)
    Path(run.log_path).write_text("line 1\nepoch 1: loss 0.5\n")
    client = _client(admin_user)

    document = client.get(reverse("learning:progress", args=[run.pk])).json()
    assert document["status"] == "running"
    assert document["finished"] is False
    assert document["progress"] == progress
    assert document["log_tail"] == "line 1\nepoch 1: loss 0.5\n"
    assert document["candidate"] is None

    html = client.get(reverse("learning:run", args=[run.pk])).content.decode()
    assert "<title>Training run" in html
    assert 'src="/static/js/training-progress.js"' in html
    assert f'data-progress-url="{reverse("learning:progress", args=[run.pk])}"' in html
    assert 'id="progress-epoch">1 / 3<' in html
    assert "damage_miou 0.250" in html
    assert "epoch 1: loss 0.5" in html
    assert 'id="cancel-training"' in html

    response = client.post(reverse("learning:cancel", args=[run.pk]))
    assert response.status_code == 302
    assert TrainingRun.objects.get(pk=run.pk).status == TrainingRun.Status.CANCELLING
    assert "stops at its next step" in client.get(response["Location"]).content.decode()


def test_cancel_needs_csrf(admin_user, active_model, tmp_path) -> None:
    snapshot = make_snapshot(root=tmp_path / "exports")
    run = services.training_run_create(
        user=admin_user, start_version=active_model, snapshots=[snapshot], schedule=TINY
    )
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(reverse("learning:cancel", args=[run.pk])).status_code == 403
    assert TrainingRun.objects.get(pk=run.pk).status == TrainingRun.Status.QUEUED
