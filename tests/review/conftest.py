"""Review fixtures: a model version and processed cases built by `tests.factories`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from tests import factories


@pytest.fixture(autouse=True)
def _export_root(settings: Any, tmp_path: Any) -> None:
    settings.REVIEW_EXPORT_ROOT = tmp_path / "exports"


@pytest.fixture
def version(db: None) -> Any:
    return factories.model_version_create(threshold=0.6)


@pytest.fixture
def make_case(customer: Any, version: Any) -> Callable[..., Any]:
    def make(findings: list[tuple[str, str, float]] | None = None, **kwargs: Any) -> Any:
        return factories.case_create(
            customer=kwargs.pop("owner", customer),
            version=kwargs.pop("model_version", version),
            findings=findings
            if findings is not None
            else [
                ("deformity", "door_shell", 0.3),
                ("surface_damage", "bumper", 0.5),
                ("body_damage", "hood", 0.9),
            ],
            **kwargs,
        )

    return make


@pytest.fixture
def login() -> Callable[[Any], Client]:
    def make(user: Any) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make
