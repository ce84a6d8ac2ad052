"""The production web server: Gunicorn with Uvicorn workers (config/gunicorn.py), several
processes, PostgreSQL connections pooled in the web processes only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "DATABASE_POOL_MAX", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_VAR_DIR=str(tmp_path),
        YOLO_OFFLINE="1",
    )
    env.update(extra)
    return env


def _database_options(tmp_path: Path, **extra: str) -> dict[str, object]:
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.DATABASES['default'].get('OPTIONS', {})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_env(tmp_path, **extra),
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_the_pool_is_for_postgresql_web_processes_only(tmp_path: Path) -> None:
    pg = "postgres://claims:claims@127.0.0.1:5432/claims"
    pooled = _database_options(tmp_path, DATABASE_URL=pg, DATABASE_POOL_MAX="4")
    assert pooled["pool"] == {"min_size": 1, "max_size": 4, "timeout": 10}
    # Not asked for (the Celery worker, manage.py): one connection per thread, as before.
    assert "pool" not in _database_options(tmp_path, DATABASE_URL=pg)
    # SQLite has no pool; the variable is ignored there.
    assert "pool" not in _database_options(tmp_path, DATABASE_POOL_MAX="4")


def test_the_gunicorn_config_asks_for_uvicorn_workers_and_the_pool(tmp_path: Path) -> None:
    code = (
        "import os, runpy; os.environ.pop('DATABASE_POOL_MAX', None); "
        "os.environ['WEB_CONCURRENCY'] = '3'; "
        "c = runpy.run_path('config/gunicorn.py'); "
        "print(c['worker_class'], c['workers'], os.environ['DATABASE_POOL_MAX'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["uvicorn_worker.UvicornWorker", "3", "4"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    return [int(x) for x in out.split()]


@pytest.mark.slow
def test_gunicorn_serves_pages_from_several_processes(tmp_path: Path) -> None:
    if not GUNICORN.exists():
        pytest.skip("gunicorn is not installed in .venv (pip install -r requirements.txt)")
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    with log.open("w") as err:
        master = subprocess.Popen(
            [
                str(GUNICORN),
                "config.asgi:application",
                "-c",
                "config/gunicorn.py",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
            ],
            cwd=ROOT,
            env=_env(tmp_path),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                requests.get(f"{url}/static/css/app.css", timeout=10)
                break
            except requests.RequestException as exc:  # not up yet, or still loading Django
                if master.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start: {log.read_text()}") from exc
                time.sleep(0.3)
        while len(_children(master.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(_children(master.pid)) == 2  # two worker processes under the master
        login = requests.get(f"{url}/accounts/login/", timeout=10)
        assert login.status_code == 200
        assert "csrfmiddlewaretoken" in login.text
        missing = requests.get(f"{url}/no-such-page/", timeout=10)
        assert missing.status_code == 404
        assert 'id="not-found"' in missing.text
        assert "uvicorn" in log.read_text().lower()
    finally:
        master.terminate()
        master.wait(timeout=30)
