"""Database queries per page: a fixed number, whatever the number of cases (no N+1).

Under load (benchmarks/load.py) a page's cost is mostly its queries; a query per row would
grow with the case list and the queue. Each page is asked for with few cases and with
more, and must make the same number of queries, under a small bound.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal.views import CASE_LIST_PAGE_SIZE
from tests import factories

pytestmark = pytest.mark.django_db

# Each page's budget, measured with the session, the user and the role (one query with
# the log-in backend of the settings: `common.auth.RoleModelBackend`).
MAX_QUERIES = {
    "case list": 4,  # session, user and role, count, page
    "review queue": 10,
    "case page": 9,
    "review screen": 13,
}
BACKEND = "common.auth.RoleModelBackend"


def _queries(user: Any, url: str) -> int:
    client = Client()
    client.force_login(user, backend=BACKEND)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


def _add_cases(customer: Any, version: Any, n: int) -> list[Any]:
    return [
        factories.case_create(
            customer=customer,
            version=version,
            findings=[("deformity", "hood", 0.3), ("surface_damage", "bumper", 0.8)],
            set_aside=i % 2,
        )
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("who", "page"),
    [
        ("customer", "case list"),
        ("adjuster", "case list"),
        ("adjuster", "review queue"),
        ("customer", "case page"),
        ("adjuster", "case page"),
        ("adjuster", "review screen"),
    ],
)
def test_queries_per_page_do_not_grow_with_the_cases(
    customer: Any, adjuster: Any, who: str, page: str
) -> None:
    version = factories.model_version_create()
    user = {"customer": customer, "adjuster": adjuster}[who]
    first = _add_cases(customer, version, 2)[0]
    urls = {
        "case list": reverse("portal:case_list"),
        "review queue": reverse("review:queue"),
        "case page": reverse("portal:case_detail", args=[first.public_id]),
        "review screen": reverse("review:case", args=[first.public_id]),
    }
    few = _queries(user, urls[page])
    _add_cases(customer, version, 10)
    many = _queries(user, urls[page])
    assert many == few, f"{page}: {few} queries with 2 cases, {many} with 12"
    assert many <= MAX_QUERIES[page], f"{page}: {many} queries, budget {MAX_QUERIES[page]}"


@pytest.mark.parametrize("who", ["customer", "adjuster"])
def test_the_user_and_role_come_in_one_query_after_a_log_in(
    customer: Any, adjuster: Any, who: str
) -> None:
    """A session made by the log-in form loads its user and role together; the role
    (customer or adjuster) is right and the group table is asked once."""
    user = {"customer": customer, "adjuster": adjuster}[who]
    user.set_password("a-long-test-password-1")
    user.save()
    client = Client()
    response = client.post(
        reverse("login"), {"username": user.username, "password": "a-long-test-password-1"}
    )
    assert response.status_code == 302
    assert client.session["_auth_user_backend"] == BACKEND
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(reverse("portal:case_list"))
    assert page.status_code == 200
    assert page.context["role"] == who
    users = [q for q in ctx.captured_queries if 'FROM "auth_user"' in q["sql"]]
    groups = [q for q in ctx.captured_queries if "auth_user_groups" in q["sql"]]
    assert len(users) == 1, [q["sql"][:120] for q in ctx.captured_queries]
    assert len(groups) == 1, [q["sql"][:120] for q in ctx.captured_queries]
    assert "EXISTS" in users[0]["sql"]


def test_the_role_is_looked_up_once_per_request(adjuster: Any) -> None:
    client = Client()
    client.force_login(adjuster)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("review:queue")).status_code == 200
    groups = [q for q in ctx.captured_queries if "auth_user_groups" in q["sql"]]
    assert len(groups) == 1


def test_the_case_list_is_paged(customer: Any) -> None:
    version = factories.model_version_create()
    _add_cases(customer, version, CASE_LIST_PAGE_SIZE + 3)
    client = Client()
    client.force_login(customer)
    first = client.get(reverse("portal:case_list")).content.decode()
    second = client.get(reverse("portal:case_list"), {"page": 2}).content.decode()
    row = re.compile(r'<tr><td><a href="/cases/')
    assert len(row.findall(first)) == CASE_LIST_PAGE_SIZE
    assert len(row.findall(second)) == 3
    assert f"Page 1 of 2 · {CASE_LIST_PAGE_SIZE + 3} claims" in first
    # A page past the end shows the last one rather than an error.
    assert (
        len(row.findall(client.get(reverse("portal:case_list"), {"page": 99}).content.decode()))
        == 3
    )
