"""A photo's processing status has one writer (claims.photos.photo_status_set), which the
inference runs call in the same transaction as their own status."""

from __future__ import annotations

import ast

import pytest

from claims.models import Photo
from claims.photos import photo_status_set
from tests import factories
from tests.conftest import product_sources

WRITER = "claims/photos.py"


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def status_writes(source: str) -> list[int]:
    """Lines that write Photo.status: `Photo.objects....update(status=...)` or
    `<photo>.status = Photo.Status...`."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "update"
            and "Photo" in _names(node.func.value)
            and any(k.arg == "status" for k in node.keywords)
        ):
            lines.append(node.lineno)
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Attribute) and t.attr == "status" for t in node.targets)
            and "Photo" in _names(node.value)
        ):
            lines.append(node.lineno)
    return lines


def test_the_guard_sees_both_forms() -> None:
    assert status_writes("Photo.objects.filter(pk=1).update(status=Photo.Status.DONE)") == [1]
    assert status_writes("photo.status = Photo.Status.FAILED") == [1]
    assert status_writes("Photo.objects.filter(status=Photo.Status.DONE).count()") == []


def test_nothing_else_writes_a_photos_status() -> None:
    offenders = []
    for name, source in product_sources():
        if name != WRITER:
            offenders += [f"{name}:{line}" for line in status_writes(source)]
    assert not offenders, "write a photo's status with photo_status_set:\n" + "\n".join(offenders)


@pytest.mark.django_db
def test_the_writer_keeps_what_goes_with_each_status(customer) -> None:  # type: ignore[no-untyped-def]
    version = factories.model_version_create()
    case = factories.case_create(customer=customer, version=version, findings=[])
    photo = case.photos.get()
    photo_status_set(photo_id=photo.pk, status=Photo.Status.FAILED, error="x" * 6000)
    photo.refresh_from_db()
    assert (photo.status, len(photo.error)) == (Photo.Status.FAILED, 5000)
    photo_status_set(photo_id=photo.pk, status=Photo.Status.QUEUED)
    photo.refresh_from_db()
    assert (photo.status, photo.error) == (Photo.Status.QUEUED, "")
    photo_status_set(photo_id=photo.pk, status=Photo.Status.DONE, annotated="cases/a.jpg", dsi=41.5)
    photo.refresh_from_db()
    assert (photo.status, photo.annotated.name, photo.dsi) == (
        Photo.Status.DONE,
        "cases/a.jpg",
        41.5,
    )
