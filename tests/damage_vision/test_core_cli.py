"""`python -m damage_vision`: predict --json, versions, plugin subcommands, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask

from damage_vision import cli
from tests.conftest import python_fresh


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


@pytest.fixture(scope="module")
def sideways_jpg(bus_jpg: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bus.jpg stored 192 wide x 256 high with EXIF orientation 6 (rotate 90 degrees
    clockwise): the photo is 256 x 192 once oriented, 4x the 64 x 48 processed grid."""
    path = tmp_path_factory.mktemp("photos") / "sideways.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    with Image.open(bus_jpg) as image:
        image.convert("RGB").resize((192, 256)).save(path, exif=exif, quality=95)
    return path


def test_predict_masks_are_rle_at_the_oriented_photo_size(
    tiny_version: Path, sideways_jpg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from damage_vision.pipeline.predictor import Predictor

    with Image.open(sideways_jpg) as stored:
        assert stored.size == (192, 256)
    args = ["predict", str(sideways_jpg), "--json", "--masks", "--model", str(tiny_version)]
    assert cli.main(args) == 0
    (photo,) = json.loads(capsys.readouterr().out)["photos"]
    assert photo["image_size"] == [256, 192]  # (width, height) after orientation
    assert photo["processed_size"] == [64, 48]
    (result,) = Predictor.from_manifest(str(tiny_version), backend="onnx").predict([sideways_jpg])
    assert len(photo["findings"]) == len(result.findings) > 0
    for row, finding in zip(photo["findings"], result.findings, strict=True):
        assert set(row["mask"]) == {"size", "counts"}
        assert row["mask"]["size"] == [192, 256]  # the stored 192 x 256 file, turned
        assert 0.0 <= row["confidence"] <= 1.0
        decoded = coco_mask.decode({**row["mask"], "counts": row["mask"]["counts"].encode()})
        assert decoded.shape == (192, 256)
        upscaled = np.repeat(np.repeat(finding.mask, 4, axis=0), 4, axis=1)
        assert np.array_equal(decoded.astype(bool), upscaled)
        assert int(decoded.sum()) == 16 * row["area_px"]


def test_predict_without_masks_is_unchanged(
    tiny_version: Path, sideways_jpg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["predict", str(sideways_jpg), "--json", "--model", str(tiny_version)]) == 0
    (photo,) = json.loads(capsys.readouterr().out)["photos"]
    assert photo["findings"]
    assert all("mask" not in row and "confidence" in row for row in photo["findings"])


def test_masks_need_json(
    tiny_version: Path, sideways_jpg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["predict", str(sideways_jpg), "--masks", "--model", str(tiny_version)]) == 2
    captured = capsys.readouterr()
    assert "--masks adds masks to the JSON output; add --json" in captured.err
    assert captured.out == ""


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
    assert [r["version"] for r in rows if r["default"]] == ["0.3.0"]


def test_training_and_evaluation_commands_are_on_the_command_line() -> None:
    """They always ship: the command line adds them itself (no plug-in lookup)."""
    parser = cli.build_parser()
    names = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert {"predict", "train", "package", "pack-data", "evaluate", "calibrate"} <= names
    assert callable(parser.parse_args(["train", "--config", "damage_vision/configs/x.yaml"]).func)


def test_the_core_and_the_cli_never_import_django() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import damage_vision\n"
        "for m in pkgutil.walk_packages(damage_vision.__path__, 'damage_vision.'):\n"
        "    importlib.import_module(m.name)\n"
        "from damage_vision.cli import build_parser\n"
        "build_parser()\n"
        "print(sorted(k for k in sys.modules if k == 'django' or k.startswith('django.')))\n"
    )
    printed = python_fresh(code)
    assert printed.strip() == "[]"
