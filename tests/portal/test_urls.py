"""The customer's pages answer to their portal names and, for code and guides written
before the portal package, to their earlier `claims:` names at the same paths."""

from __future__ import annotations

import uuid

import pytest
from django.urls import resolve, reverse


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("case_list", {}),
        ("case_create", {}),
        ("case_detail", {"public_id": uuid.UUID(int=7)}),
        ("case_report", {"public_id": uuid.UUID(int=7)}),
        ("photo_image", {"public_id": uuid.UUID(int=7), "photo_id": 3, "kind": "display"}),
    ],
)
def test_old_names_reverse_to_the_portal_paths(name: str, kwargs: dict[str, object]) -> None:
    path = reverse(f"portal:{name}", kwargs=kwargs)
    assert reverse(f"claims:{name}", kwargs=kwargs) == path
    # a request to the path is answered by the portal's view under its portal name
    match = resolve(path)
    assert match.namespace == "portal"
    assert match.url_name == name


def test_templates_live_in_the_portal_folder() -> None:
    from django.template.loader import get_template

    assert get_template("portal/case_list.html").origin.name.endswith(
        "templates/portal/case_list.html"
    )
