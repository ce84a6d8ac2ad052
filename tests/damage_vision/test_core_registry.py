"""Model versions on disk: manifests, content hashes, the shipped default, export."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from damage_vision.versions.registry import (
    WEIGHTS_DIR,
    ManifestError,
    default_version,
    file_sha256,
    list_versions,
    load_manifest,
    resolve_model,
)


def test_the_shipped_default_is_the_newest_trained_version() -> None:
    versions = [(m.version, m.damage_backend) for m in list_versions()]
    assert versions == [("0.3.0-yolov9cs", "detection"), ("0.3.0", "segmentation")]
    default = default_version()
    assert default.version == "0.3.0"
    assert default.status == "candidate"
    assert default.raw["provenance"]["trained"] is True
    # the model card's validation figures travel with the weights
    seg = default.metrics["segmentation_validation"]
    assert 0.0 < seg["parts_miou"] < 1.0
    assert 0.0 < seg["damage_miou"] < 1.0
    assert (default.architecture, default.encoder, default.joint) == (
        "deeplabv3plus",
        "timm-tf_efficientnet_lite0",
        True,
    )
    assert (default.part_taxonomy, default.damage_taxonomy) == (
        "parts_reduced_dsmlr",
        "damage_categorical",
    )
    assert default.input_size == 512
    assert default.mean == (0.5, 0.5, 0.5)
    assert default.std == (0.5, 0.5, 0.5)
    assert (default.vehicle.head, default.vehicle.input_size) == ("binary", 160)
    assert default.backends == ("onnx", "torch")


def test_shipped_weight_files_are_named_by_their_hash_and_small() -> None:
    default = default_version()
    for role, files in default.weights.items():
        for backend, entry in files.items():
            path = default.directory / entry.file
            assert entry.file == f"{role}-{entry.sha256}.{'pt' if backend == 'torch' else 'onnx'}"
            assert file_sha256(path) == entry.sha256
            assert path.stat().st_size < 12 * 1024 * 1024  # fp16 on disk


def test_resolve_by_version_name_directory_or_default() -> None:
    default = default_version()
    assert resolve_model(None).directory == default.directory
    assert resolve_model(default.version).directory == default.directory
    assert resolve_model(default.directory).version == default.version
    assert resolve_model(default.directory / "manifest.json").version == default.version
    with pytest.raises(ManifestError, match="unknown model 'nope'"):
        resolve_model("nope")


def test_active_beats_candidate_and_releases_sort_after_prereleases(tmp_path: Path) -> None:
    source = default_version().directory
    for version, status in (
        ("1.0.0-rc1", "candidate"),
        ("1.0.0", "candidate"),
        ("0.9.0", "active"),
    ):
        target = tmp_path / version
        shutil.copytree(source, target)
        data = json.loads((target / "manifest.json").read_text())
        data.update(version=version, status=status)
        (target / "manifest.json").write_text(json.dumps(data))
    assert [m.version for m in list_versions(tmp_path)] == ["0.9.0", "1.0.0-rc1", "1.0.0"]
    assert default_version(tmp_path).version == "0.9.0"


def test_malformed_manifests_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"no manifest\.json"):
        load_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_manifest(tmp_path)
    data = json.loads((default_version().directory / "manifest.json").read_text())
    del data["damage_taxonomy"]
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="damage_taxonomy"):
        load_manifest(tmp_path)
    assert WEIGHTS_DIR.name == "weights"


@pytest.mark.slow
def test_export_onnx_rebuilds_the_onnx_files(tiny_version: Path, tmp_path: Path) -> None:
    from damage_vision.versions.export import export_onnx

    directory = tmp_path / "v"
    shutil.copytree(tiny_version, directory)
    before = load_manifest(directory)
    for role in ("segmentation", "vehicle"):
        (directory / before.weight_file(role, "onnx").file).unlink()
    after = export_onnx(directory)
    for role in ("segmentation", "vehicle"):
        path = after.weight_path(role, "onnx")  # verifies the hash
        assert path.is_file()
    assert after.weights["segmentation"]["torch"] == before.weights["segmentation"]["torch"]
