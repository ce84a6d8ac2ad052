"""`python -m inference`: predict --json, versions, plugin subcommands, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from inference import cli


def test_predict_json_has_the_documented_keys(
    tiny_version: Path, bus_jpg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["predict", str(bus_jpg), str(bus_jpg), "--json", "--model", str(tiny_version)])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {"photos", "case"}
    assert len(payload["photos"]) == 2
    for photo in payload["photos"]:
        assert {"vehicle_probability", "findings", "dsi"} <= set(photo)
        assert photo["source"] == str(bus_jpg)
    assert {"findings", "dsi", "needs_review", "views"} <= set(payload["case"])
    assert payload["case"]["views"] == [[0, 1]]  # identical photos: one view
    for row in payload["case"]["findings"]:
        assert row["k_agree"] == 1.0
        assert row["photo_indices"] == [0, 1]


def test_predict_reports_bad_input_as_an_error(
    tiny_version: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    assert cli.main(["predict", str(bad), "--model", str(tiny_version)]) == 2
    assert "not an image" in capsys.readouterr().err


def test_versions_lists_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["versions", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["version"] for r in rows if r["default"]] == ["0.2.0"]


def test_plugin_modules_add_subcommands(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("inference.core.training.commands")

    def add_commands(subparsers: object) -> None:
        parser = subparsers.add_parser("train")  # type: ignore[attr-defined]
        parser.set_defaults(func=lambda args: 7)

    module.add_commands = add_commands  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "inference.core.training.commands", module)
    assert cli.main(["train"]) == 7


def test_a_broken_plugin_is_not_silenced(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(name: str) -> None:
        raise ModuleNotFoundError("No module named 'sklearn'", name="sklearn")

    monkeypatch.setattr(cli.importlib, "import_module", fail)
    with pytest.raises(ModuleNotFoundError, match="sklearn"):
        cli.build_parser()


def test_the_core_and_the_cli_never_import_django() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import inference.core\n"
        "for m in pkgutil.walk_packages(inference.core.__path__, 'inference.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "from inference.cli import build_parser\n"
        "build_parser()\n"
        "print(sorted(k for k in sys.modules if k == 'django' or k.startswith('django.')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": ""},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
