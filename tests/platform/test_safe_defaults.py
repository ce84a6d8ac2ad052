"""The README's first command is safe: loopback only, debug pages off, the site's own errors.

`bin/run` starts Daphne with `config.settings.local`; Django's debug 404 lists every URL
pattern ("Using the URLconf ...") to whoever asks, so it must be an explicit opt-in.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.test import Client, RequestFactory

from portal.api import errors
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
BIN_RUN = ROOT / "bin" / "run"
PYTHON = ROOT / ".venv" / "bin" / "python"
DEBUG_PAGE = "Using the URLconf"


def _run_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment `bin/run` gives its processes, without the caller's DJANGO_DEBUG."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_VAR_DIR=str(tmp_path / "var"),
        YOLO_OFFLINE="1",
        **extra,
    )
    return env


def _bin_run_lines() -> list[str]:
    return [
        line.strip()
        for line in BIN_RUN.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def _daphne_command() -> list[str]:
    (line,) = [line for line in _bin_run_lines() if "/daphne " in line]
    return shlex.split(line.rstrip("&").strip())


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "False"), ("0", "False"), ("false", "False"), ("1", "True"), ("true", "True")],
)
def test_local_settings_debug_only_when_asked(
    tmp_path: Path, value: str | None, expected: str
) -> None:
    env = _run_env(tmp_path, **({} if value is None else {"DJANGO_DEBUG": value}))
    result = subprocess.run(
        [
            str(PYTHON),
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_bin_run_serves_on_loopback_with_local_settings() -> None:
    lines = _bin_run_lines()
    command = _daphne_command()
    assert command[:3] == [".venv/bin/daphne", "-b", "127.0.0.1"]
    assert command[-1] == "config.asgi:application"
    text = "\n".join(lines)
    assert "0.0.0.0" not in text
    assert "runserver" not in text
    assert "DJANGO_DEBUG" not in text  # debug stays the caller's choice, off by default
    assert (
        'export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-config.settings.local}"' in lines
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def bin_run_server(tmp_path: Path) -> Iterator[str]:
    """Daphne exactly as `bin/run` starts it (its own port), with the settings it uses."""
    port = _free_port()
    command = [str(port) if part == "${PORT:-8000}" else part for part in _daphne_command()]
    assert command.count(str(port)) == 1
    log = tmp_path / "daphne.log"
    with log.open("w") as err:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            command, cwd=ROOT, env=_run_env(tmp_path), stdout=subprocess.DEVNULL, stderr=err
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                requests.get(f"{url}/static/css/app.css", timeout=2)
                break
            except requests.ConnectionError as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    raise RuntimeError(f"Daphne did not start: {log.read_text()}") from exc
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.slow
def test_bin_run_server_answers_with_the_site_pages(bin_run_server: str) -> None:
    url = bin_run_server
    missing = requests.get(f"{url}/no-such-page/", timeout=10)
    assert missing.status_code == 404
    assert 'id="not-found"' in missing.text
    assert DEBUG_PAGE not in missing.text
    assert "<title>Not found · Damage claims</title>" in missing.text

    # Static files are still served with DEBUG off (WhiteNoise, from static/).
    css = requests.get(f"{url}/static/css/app.css", timeout=10)
    assert css.status_code == 200
    assert ":focus-visible" in css.text
    icon = requests.get(f"{url}/static/favicon.svg", timeout=10)
    assert icon.status_code == 200
    assert icon.headers["Content-Type"].startswith("image/svg+xml")
    ico = requests.get(f"{url}/favicon.ico", timeout=10, allow_redirects=False)
    assert ico.status_code == 301
    assert ico.headers["Location"] == "/static/favicon.svg"

    # The API keeps answering JSON errors.
    api = requests.get(f"{url}/api/no-such-thing/", timeout=10)
    assert api.status_code == 404
    assert api.json() == {"detail": "Not found."}


# The same pages in process, with DEBUG off as in bin/run ---------------------------------


@pytest.fixture
def debug_off(settings: Any) -> None:
    settings.DEBUG = False


def _assert_site_404(response: Any) -> None:
    assert response.status_code == 404
    body = response.content.decode()
    assert DEBUG_PAGE not in body
    assert 'id="not-found"' in body
    assert "<title>Not found · Damage claims</title>" in body
    assert "/static/favicon.svg" in body


@pytest.mark.django_db
def test_unknown_url_is_the_site_404(debug_off: None, customer: Any) -> None:
    client = Client()
    _assert_site_404(client.get("/no-such-page/"))
    client.force_login(customer)
    _assert_site_404(client.get("/cases/not-a-case/"))


@pytest.mark.django_db
def test_another_customers_case_is_the_site_404(
    debug_off: None, customer: Any, other_customer: Any
) -> None:
    version = factories.model_version_create()
    case = factories.case_create(
        customer=customer, version=version, findings=[("deformity", "door_shell", 0.3)]
    )
    photo = case.photos.get()
    client = Client()
    client.force_login(other_customer)
    _assert_site_404(client.get(f"/cases/{case.public_id}/"))
    _assert_site_404(client.get(f"/cases/{case.public_id}/photos/{photo.pk}/display.jpg"))
    assert "bob" in client.get(f"/cases/{case.public_id}/").content.decode()  # still logged in

    # The owner sees the case and its photo.
    owner = Client()
    owner.force_login(customer)
    assert owner.get(f"/cases/{case.public_id}/").status_code == 200
    image = owner.get(f"/cases/{case.public_id}/photos/{photo.pk}/display.jpg")
    assert image.status_code == 200
    assert image["Content-Type"] == "image/jpeg"


def test_server_error_is_the_site_page() -> None:
    # Drawn without the request (Django's contract for 500s), so no session is read.
    broken = errors.server_error(RequestFactory().get("/cases/"))
    assert broken.status_code == 500
    assert "<title>Something went wrong · Damage claims</title>" in broken.content.decode()
    assert 'href="/static/css/app.css"' in broken.content.decode()
    assert 'href="/static/favicon.svg"' in broken.content.decode()


@pytest.mark.django_db
def test_forbidden_is_the_site_page(debug_off: None, customer: Any) -> None:
    client = Client()
    client.force_login(customer)
    response = client.get("/review/")  # a customer may not open the queue
    assert response.status_code == 403
    body = response.content.decode()
    assert 'id="forbidden"' in body
    assert "<title>Not allowed · Damage claims</title>" in body


def test_every_page_links_the_favicon_and_has_a_focus_ring() -> None:
    base = (ROOT / "templates" / "base.html").read_text()
    assert "{% static 'favicon.svg' %}" in base
    css = (ROOT / "static" / "css" / "app.css").read_text()
    assert re.search(r":focus-visible \{ outline: 3px solid", css)
    svg = (ROOT / "static" / "favicon.svg").read_text()
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">')
