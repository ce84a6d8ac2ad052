"""Model versions on disk: a directory holding `manifest.json` and weight files named by
their sha256. Shipped versions live in `inference/weights/<version>/`.

manifest.json (format 1)::

    {
      "format": 1,
      "name": "deeplabv3plus-lite0-joint",       "version": "0.0.0-untrained",
      "status": "candidate",                       # candidate | active | retired
      "description": "...",
      "architecture": "deeplabv3plus",             "encoder": "timm-tf_efficientnet_lite0",
      "joint": true,
      "model_kwargs": {},                          # extra smp arguments (decoder_channels...)
      "part_taxonomy": "parts_reduced_dsmlr",      "damage_taxonomy": "damage_categorical",
      "input_size": 512,                           "pad_multiple": 32,
      "normalisation": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
      "threshold": 0.5,                            # C_refined below it goes to review
      "target_precision": 0.9,                     # what the threshold promises (optional)
      "threshold_promise": {...},                  # how the threshold was chosen (optional)
      "calibrator": {"file": "calibrator-<sha256>.json", "sha256": "<sha256>"},  # optional
      "metrics": {},
      "vehicle": {"arch": "lite0", "head": "imagenet", "input_size": 224, "threshold": 0.5},
      "weights": {
        "segmentation": {"torch": {"file": "segmentation-<sha256>.pt", "sha256": "<sha256>"},
                         "onnx":  {"file": "segmentation-<sha256>.onnx", "sha256": "<sha256>"}},
        "vehicle":      {"torch": {...}, "onnx": {...}}
      },
      "settings": {},                              # PipelineSettings overrides (optional)
      "provenance": {...}                          # how the weights were made (free form)
    }

A version without a calibrator reports `confidence = C_base` (marked uncalibrated).
`.pt` files are state dicts (fp16 on disk, loaded with `weights_only=True`); `.onnx`
files hold fp16 initializers behind Cast nodes that ONNX Runtime folds at load time.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from damage_vision.pipeline.types import WeightsMismatchError

# The shipped versions stay in the Django app that registers them (inference/weights).
WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "inference" / "weights"
MANIFEST = "manifest.json"
FORMAT = 1

Backend = Literal["onnx", "torch"]
BACKENDS: tuple[Backend, ...] = ("onnx", "torch")
ROLES = ("segmentation", "vehicle")
# How a version finds damage: per-pixel masks of the joint network (paper 1), or boxes of
# the YOLOv9-CS detector (paper 2) with the joint network's part map naming the parts.
DAMAGE_BACKENDS = ("segmentation", "detection")
STATUSES = ("candidate", "active", "retired")


class ManifestError(ValueError):
    """A model version directory or its manifest is missing or malformed."""


@dataclass(frozen=True)
class WeightFile:
    file: str
    sha256: str


@dataclass(frozen=True)
class VehicleSpec:
    arch: str = "lite0"
    head: str = "imagenet"  # "imagenet" (sum of vehicle classes) or "binary" (trained)
    input_size: int = 224
    threshold: float = 0.5


@dataclass(frozen=True)
class Manifest:
    """A parsed model version; `directory` is where its weight files are."""

    directory: Path
    name: str
    version: str
    status: str
    architecture: str
    encoder: str
    joint: bool
    part_taxonomy: str
    damage_taxonomy: str
    input_size: int
    pad_multiple: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    threshold: float
    vehicle: VehicleSpec
    weights: dict[str, dict[str, WeightFile]]
    metrics: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # extra smp arguments
    description: str = ""
    calibrator: WeightFile | None = None  # finding-confidence calibrator (JSON), optional
    target_precision: float = 0.9  # precision the threshold is chosen to keep
    threshold_promise: dict[str, Any] = field(default_factory=dict)  # how it was chosen
    damage_backend: str = "segmentation"  # one of DAMAGE_BACKENDS
    # detection back end: {"input_size": px, "conf": min score, "iou": NMS IoU}
    detector: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def weight_file(self, role: str, backend: Backend) -> WeightFile:
        try:
            return self.weights[role][backend]
        except KeyError:
            available = {r: sorted(b) for r, b in self.weights.items()}
            hint = " (run `python -m damage_vision export-onnx`)" if backend == "onnx" else ""
            raise ManifestError(
                f"model {self.version} has no {backend} weights for {role}{hint}; "
                f"it has {available}"
            ) from None

    def weight_path(self, role: str, backend: Backend, verify: bool = True) -> Path:
        """Path of a weight file; with `verify`, checks its sha256 against the manifest."""
        entry = self.weight_file(role, backend)
        path = self.directory / entry.file
        if not path.is_file():
            raise ManifestError(f"{path} is listed in the manifest but missing")
        if verify:
            actual = file_sha256(path)
            if actual != entry.sha256:
                raise WeightsMismatchError(
                    f"{path.name} has sha256 {actual[:12]}..., the manifest says "
                    f"{entry.sha256[:12]}...: the file is corrupted or was replaced; restore "
                    "it or register the new weights as a new version"
                )
        return path

    def calibrator_path(self, verify: bool = True) -> Path | None:
        """Path of the calibrator file (sha256 checked with `verify`); None without one."""
        if self.calibrator is None:
            return None
        path = self.directory / self.calibrator.file
        if not path.is_file():
            raise ManifestError(f"{path} is listed in the manifest but missing")
        if verify and file_sha256(path) != self.calibrator.sha256:
            raise WeightsMismatchError(
                f"{path.name} does not match its sha256 in the manifest: the calibrator is "
                "corrupted or was replaced; restore it or register a new version"
            )
        return path

    def weights_sha256(self, backend: Backend) -> str:
        """One identity for the weights a backend runs: sha256 over the role:file-hash pairs."""
        parts = [
            f"{role}:{self.weight_file(role, backend).sha256}" for role in sorted(self.weights)
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    @property
    def backends(self) -> tuple[Backend, ...]:
        """Back ends for which every role has weights."""
        return tuple(b for b in BACKENDS if all(b in files for files in self.weights.values()))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _triple(value: Any, what: str) -> tuple[float, float, float]:
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise ManifestError(f"normalisation {what} must be three numbers, got {value!r}")
    a, b, c = (float(v) for v in value)
    return (a, b, c)


def manifest_from_dict(data: dict[str, Any], directory: Path) -> Manifest:
    """Validate and parse a manifest dictionary."""
    if data.get("format") != FORMAT:
        raise ManifestError(f"{directory}: manifest format {data.get('format')!r}, expected 1")
    try:
        weights = {
            str(role): {
                str(backend): WeightFile(file=str(e["file"]), sha256=str(e["sha256"]))
                for backend, e in files.items()
            }
            for role, files in data["weights"].items()
        }
        vehicle = VehicleSpec(**data.get("vehicle", {}))
        calibrator = data.get("calibrator")
        manifest = Manifest(
            directory=directory,
            name=str(data["name"]),
            version=str(data["version"]),
            status=str(data.get("status", "candidate")),
            architecture=str(data["architecture"]),
            encoder=str(data["encoder"]),
            joint=bool(data["joint"]),
            part_taxonomy=str(data["part_taxonomy"]),
            damage_taxonomy=str(data["damage_taxonomy"]),
            input_size=int(data["input_size"]),
            pad_multiple=int(data.get("pad_multiple", 32)),
            mean=_triple(data["normalisation"]["mean"], "mean"),
            std=_triple(data["normalisation"]["std"], "std"),
            threshold=float(data["threshold"]),
            vehicle=vehicle,
            weights=weights,
            metrics=dict(data.get("metrics", {})),
            settings=dict(data.get("settings", {})),
            model_kwargs=dict(data.get("model_kwargs", {})),
            description=str(data.get("description", "")),
            calibrator=(
                None
                if calibrator is None
                else WeightFile(file=str(calibrator["file"]), sha256=str(calibrator["sha256"]))
            ),
            target_precision=float(data.get("target_precision", 0.9)),
            threshold_promise=dict(data.get("threshold_promise", {})),
            damage_backend=str(data.get("damage_backend", "segmentation")),
            detector=dict(data.get("detector", {})),
            raw=data,
        )
    except (KeyError, TypeError) as exc:
        raise ManifestError(
            f"{directory}/{MANIFEST} is missing or has a malformed field: {exc}"
        ) from None
    if not 0.0 < manifest.target_precision < 1.0:
        raise ManifestError(f"target_precision must lie in (0, 1), got {manifest.target_precision}")
    if manifest.status not in STATUSES:
        raise ManifestError(f"status must be one of {STATUSES}, got {manifest.status!r}")
    if manifest.damage_backend not in DAMAGE_BACKENDS:
        raise ManifestError(
            f"damage_backend must be one of {DAMAGE_BACKENDS}, got {manifest.damage_backend!r}"
        )
    roles = ROLES + (("detector",) if manifest.damage_backend == "detection" else ())
    missing = [r for r in roles if r not in manifest.weights]
    if missing:
        raise ManifestError(f"{directory}: manifest lists no weights for {missing}")
    return manifest


def load_manifest(path: str | Path) -> Manifest:
    """Load a model version from its directory (or the path of its manifest.json)."""
    path = Path(path)
    directory = path.parent if path.name == MANIFEST else path
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise ManifestError(
            f"no {MANIFEST} in {directory}; a model version is a directory holding one "
            f"(shipped versions: {[m.version for m in list_versions()]})"
        )
    try:
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{manifest_path} is not valid JSON: {exc}") from None
    return manifest_from_dict(data, directory)


def write_manifest(data: dict[str, Any], directory: Path) -> Path:
    """Write `data` as the manifest of `directory` (validated first)."""
    manifest_from_dict(data, directory)
    path = directory / MANIFEST
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def _version_key(version: str) -> tuple[tuple[int, ...], int, str]:
    match = re.match(r"^(\d+(?:\.\d+)*)(?:[-+](.*))?$", version)
    if not match:
        return ((), 0, version)
    numbers = tuple(int(n) for n in match.group(1).split("."))
    suffix = match.group(2) or ""
    return (numbers, 0 if suffix else 1, suffix)  # a release sorts after its pre-releases


def list_versions(root: str | Path = WEIGHTS_DIR) -> list[Manifest]:
    """Model versions under `root` (one directory each), oldest version first."""
    root = Path(root)
    if not root.is_dir():
        return []
    manifests = [load_manifest(d) for d in sorted(root.iterdir()) if (d / MANIFEST).is_file()]
    return sorted(manifests, key=lambda m: _version_key(m.version))


def default_version(root: str | Path = WEIGHTS_DIR) -> Manifest:
    """The newest `active` version under `root`, else the newest `candidate` (a
    segmentation one when there is one)."""
    versions = list_versions(root)
    for status in ("active", "candidate"):
        matching = [m for m in versions if m.status == status]
        if status == "candidate":  # a detection version is the default only when active
            matching = [m for m in matching if m.damage_backend == "segmentation"] or matching
        if matching:
            return matching[-1]
    raise ManifestError(
        f"no active or candidate model version under {root}; create the default with "
        "`python -m damage_vision init-default`"
    )


def resolve_model(model: str | Path | None, root: str | Path = WEIGHTS_DIR) -> Manifest:
    """A model version from a directory, a manifest path, a shipped version name or None
    (the default)."""
    if model is None:
        return default_version(root)
    candidate = Path(model)
    if candidate.exists():
        return load_manifest(candidate)
    for manifest in list_versions(root):
        if manifest.version == str(model):
            return manifest
    raise ManifestError(
        f"unknown model {model!r}: not a directory and not a shipped version "
        f"({[m.version for m in list_versions(root)]})"
    )
