"""docs/api.md, followed by an integrator who has nothing else: its shell blocks run with
real `curl` against a live server and a real Celery worker, in the order the guide gives
them, with only its placeholders filled in (address, user name and password, token, case
id, webhook URL and secret, photo files). A local HTTP receiver gets the webhook, and the
guide's own Python snippet checks its signature and replay window."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
import types
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache

from claims.models import ApiToken, Case
from tests.conftest import VEHICLE_PHOTO
from tests.e2e import conftest as e2e

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "api.md"
SETTINGS = ROOT / "config" / "settings" / "base.py"

# The live server and the worker of the browser tests.
server_url = e2e.server_url
celery_worker_thread = e2e.celery_worker_thread

# The guide's placeholders, as it writes them.
DOC_BASE = "http://127.0.0.1:8000"
DOC_LOGIN = '"username": "customer", "password": "customer-demo-pass"'
DOC_TOKEN = "dcr_..."
DOC_CASE = "c82b58b5-8bf5-42c5-a65b-5200d2b37e9c"
DOC_HOOK = "https://hooks.example.com/claims"
DOC_SECRET = "a-long-random-secret"
DOC_TOKEN_ID = "/api/tokens/2/"
DOC_PHOTOS = ("rear.jpg", "side.jpg")


def _blocks(text: str) -> list[tuple[str, str]]:
    """The (language, code) fenced blocks of the walk-through, in order: sections 1 to 6."""
    walk = text[: text.index("\n## Errors")]
    return re.findall(r"^```(\w+)\n(.*?)^```", walk, flags=re.M | re.S)


def _commands(code: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, blank lines dropped."""
    return [c for c in code.replace("\\\n", " ").splitlines() if c.strip()]


def _server_settings(command: str) -> dict[str, Any]:
    """The settings a `VAR=value ... bin/run` line starts the server with, through the
    names config/settings/base.py reads them from."""
    source = SETTINGS.read_text()
    out: dict[str, Any] = {}
    for name, value in re.findall(r"(DJANGO_\w+)=(\S+)", command):
        match = re.search(
            rf"^(\w+)\s*(?::[^=\n]+)?=\s*env\.(\w+)\(\s*\"{name}\"", source, flags=re.M
        )
        assert match, f"docs/api.md names {name}, which config/settings/base.py does not read"
        setting, kind = match.groups()
        out[setting] = (
            value.lower() in ("true", "1", "yes", "on")
            if kind == "bool"
            else value.split(",")
            if kind == "list"
            else value
        )
    return out


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the test reads what arrived


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/claims", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def guide_server(settings):  # type: ignore[no-untyped-def]
    """The settings the guide's `... bin/run` line starts the server with, applied before
    the server starts (a Daphne child process takes the settings it is forked with)."""
    blocks = _blocks(GUIDE.read_text())
    shell = [_commands(code) for lang, code in blocks if lang == "sh"]
    (start,) = [c for cmds in shell for c in cmds if c.rstrip().endswith("bin/run")]
    started = _server_settings(start)
    for name, value in started.items():
        setattr(settings, name, value)
    cache.clear()  # the upload throttle counts per user in the cache the server shares
    return started


def test_an_integrator_follows_the_api_guide_alone(  # type: ignore[no-untyped-def]
    guide_server,
    settings,
    customer,
    shipped_model,
    server_url,
    celery_worker_thread,
    receiver,
    tmp_path,
) -> None:
    hook_url, received = receiver
    secret = "s3cret-for-the-guide-test-" + os.urandom(8).hex()
    for name in DOC_PHOTOS:  # the photos the guide files, here real ones
        shutil.copy(VEHICLE_PHOTO, tmp_path / name)
    blocks = _blocks(GUIDE.read_text())
    shell = [_commands(code) for lang, code in blocks if lang == "sh"]
    (python,) = [code for lang, code in blocks if lang == "python"]

    # The server was started as the guide says for a receiver on this machine.
    assert guide_server == {
        "CLAIMS_WEBHOOK_ALLOW_HTTP": True,
        "CLAIMS_WEBHOOK_ALLOWED_PRIVATE_NETWORKS": ["127.0.0.0/8"],
    }

    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    values: dict[str, str] = {}
    shell_vars: list[str] = []  # VAR=value lines run so far: later commands see them

    def fill(command: str) -> str:
        command = command.replace(DOC_BASE, server_url)
        command = command.replace(
            DOC_LOGIN, f'"username": "{customer.username}", "password": "pass-word-123"'
        )
        command = command.replace(DOC_HOOK, hook_url).replace(DOC_SECRET, secret)
        if "token" in values:
            command = command.replace(DOC_TOKEN, values["token"])
        if "case" in values:
            command = command.replace(DOC_CASE, values["case"])
        if "token_id" in values:
            command = command.replace(DOC_TOKEN_ID, f"/api/tokens/{values['token_id']}/")
        return command

    def run(command: str) -> str:
        result = subprocess.run(
            ["bash", "-c", "\n".join([*shell_vars, command])],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, (command, result.stderr)
        return result.stdout

    ran: list[str] = []
    for command in (c for cmds in shell for c in cmds):
        if command.rstrip().endswith("bin/run"):  # the server is already running
            continue
        if "/review/api/" in command:
            break  # the adjusters' section: not the customer's
        command = fill(command)
        assert DOC_TOKEN not in command, command  # each placeholder filled before use
        assert DOC_CASE not in command, command
        if re.match(r"^[A-Z]+=", command):
            shell_vars.append(command)
            continue
        out = run(command)
        ran.append(command)
        if "/api/auth/token/" in command:
            values["token"] = json.loads(out)["token"]
        elif "-X POST" in command and "/api/tokens/" in command:
            created = json.loads(out)
            assert (created["name"], created["scope"]) == ("dashboard", "read")
            values["token_id"] = str(created["id"])
        elif "-X DELETE" in command:
            assert out == ""
            assert ApiToken.objects.get(pk=values["token_id"]).revoked_at is not None
        elif "/api/webhook/" in command:
            assert json.loads(out)["webhook_url"] == hook_url
        elif "-X POST" in command and "/api/cases/" in command:
            case = json.loads(out)
            assert case.get("status") == "processing", out
            # A live worker may already be on the first photo when the answer is written.
            assert len(case["photos"]) == 2
            assert {p["status"] for p in case["photos"]} <= {"queued", "running", "done"}
            values["case"] = case["id"]
        elif '/api/cases/$CASE/"' in command:
            # Poll every few seconds until the status is no longer "processing".
            deadline = time.monotonic() + 180
            while json.loads(out)["status"] == "processing":
                assert time.monotonic() < deadline, "the case stayed processing"
                time.sleep(2)
                out = run(command)
            values["status"] = json.loads(out)["status"]
        elif "/api/cases/?page=1" in command:
            assert [c["id"] for c in json.loads(out)["results"]] == [values["case"]]
        else:
            json.loads(out)  # every other step answers JSON
    assert [c.split('"$BASE')[1].split('"')[0] for c in ran] == [
        "/api/auth/token/",
        "/api/tokens/",
        "/api/tokens/",
        f"/api/tokens/{values['token_id']}/",
        "/api/webhook/",
        "/api/cases/",
        "/api/cases/$CASE/",
        "/api/cases/?page=1",
    ]
    assert values["status"] in ("needs_review", "released")

    # The webhook arrives at the receiver, signed.
    deadline = time.monotonic() + 60
    while not received:
        assert time.monotonic() < deadline, "no webhook arrived"
        time.sleep(0.5)
    headers, body = received[0]
    message = json.loads(body)
    db_case = Case.objects.get(public_id=values["case"])
    assert message == {
        "event": "case.finished",
        "case": values["case"],
        "status": values["status"],
        "dsi": db_case.dsi,
    }

    # The guide's own verification, executed as written.
    namespace: dict[str, Any] = {}
    exec(compile(python, "docs/api.md", "exec"), namespace)
    verify = namespace["verify"]
    assert verify(secret, headers, body) is True
    assert verify(secret, {k.lower(): v for k, v in headers.items()}, body) is True
    assert verify("another-secret", headers, body) is False
    assert verify(secret, headers, body.replace(b"case.finished", b"case.finishes")) is False
    assert verify(secret, {**headers, "X-Claims-Signature-V2": "sha256=00"}, body) is False
    # The replay window: the same message 299 s later passes, 301 s later it does not.
    sent = int(headers["X-Claims-Timestamp"])
    assert abs(time.time() - sent) < 60
    namespace["time"] = types.SimpleNamespace(time=lambda: sent + 299)
    assert verify(secret, headers, body) is True
    namespace["time"] = types.SimpleNamespace(time=lambda: sent + 301)
    assert verify(secret, headers, body) is False
    namespace["time"] = types.SimpleNamespace(time=lambda: sent - 301)  # from the future
    assert verify(secret, headers, body) is False
