from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yml"


def test_compose_has_every_service() -> None:
    data = yaml.safe_load(COMPOSE.read_text())
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(data["services"])
    web_env = data["x-app"]["environment"]
    assert web_env["DATABASE_URL"].startswith("postgres://")
    assert web_env["CELERY_BROKER_URL"].startswith("redis://")


@pytest.mark.parametrize("command", [["docker", "compose"], ["docker-compose"]])
def test_compose_config_accepted(command: list[str]) -> None:
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed")
    env = {**os.environ, "DJANGO_SECRET_KEY": "check-only"}
    result = subprocess.run(
        [*command, "-f", str(COMPOSE), "config"], capture_output=True, text=True, env=env
    )
    if (
        command == ["docker", "compose"]
        and "compose"
        not in subprocess.run(["docker", "--help"], capture_output=True, text=True).stdout
    ):
        pytest.skip("this docker client has no compose plugin")
    assert result.returncode == 0, result.stderr


def test_production_settings_need_a_secret_key() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", "import django; django.setup()"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_bad_broker_url_is_refused() -> None:
    env = {
        **os.environ,
        "CELERY_BROKER_URL": "kafka://nowhere",
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
    }
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", "import django; django.setup()"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode != 0
    assert "CELERY_BROKER_URL 'kafka://nowhere' is not supported" in result.stderr
