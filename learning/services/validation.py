"""Checking what a training run is asked to start from and train on, before anything is
stored: the schedule against `SCHEDULE_BOUNDS` (crop no larger than resize), the public
datasets against those this server holds (`PUBLIC_LIMIT_MAX` images at most each), and the
start version (a segmentation version with PyTorch weights). Each refusal is an
ApplicationError.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from common.errors import ApplicationError
from damage_vision.versions.registry import ManifestError, load_manifest
from inference.models import ModelVersion
from learning.sources import PUBLIC_SOURCES, available_sources

# Schedule keys: (lowest, highest, default). Crop must not exceed resize.
SCHEDULE_BOUNDS: dict[str, tuple[float, float, float]] = {
    "epochs": (1, 50, 3),
    "resize": (64, 1024, 512),
    "crop": (64, 1024, 384),
    "max_steps_per_epoch": (1, 5000, 100),
    "batch_size": (2, 16, 4),
    "lr": (1e-6, 1e-2, 1e-4),
}
PUBLIC_LIMIT_MAX = 100_000


def schedule_clean(schedule: dict[str, Any]) -> dict[str, Any]:
    """The schedule with its defaults filled in, each value within `SCHEDULE_BOUNDS`."""
    clean: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(schedule) - set(SCHEDULE_BOUNDS))
    if unknown:
        raise ApplicationError(
            f"Unknown schedule setting {', '.join(unknown)}; use {', '.join(SCHEDULE_BOUNDS)}."
        )
    for key, (low, high, default) in SCHEDULE_BOUNDS.items():
        raw = schedule.get(key, default)
        try:
            value: float = float(raw) if key == "lr" else int(raw)
        except (TypeError, ValueError):
            errors[key] = [f"{key} must be a number, got {raw!r}."]
            continue
        if not low <= value <= high:
            errors[key] = [f"{key} must be between {low:g} and {high:g}, got {value:g}."]
            continue
        clean[key] = value
    if not errors and clean["crop"] > clean["resize"]:
        errors["crop"] = [
            f"crop ({clean['crop']} px) must not exceed resize ({clean['resize']} px); "
            "lower the crop or raise the resize."
        ]
    if errors:
        first = next(iter(errors.values()))[0]
        raise ApplicationError(f"The schedule is out of bounds: {first}", errors=errors)
    return clean


def public_sources_clean(public: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The public datasets asked for, each on this server, as `{name, limit}`."""
    offered = {s.name for s in available_sources()}
    clean: list[dict[str, Any]] = []
    for entry in public:
        name = str(entry.get("name", ""))
        if name not in PUBLIC_SOURCES:
            raise ApplicationError(
                f"No public dataset is called {name!r}; choose from {', '.join(PUBLIC_SOURCES)}."
            )
        if name not in offered:
            raise ApplicationError(
                f"The public dataset {name} is not on this server (looked under the data "
                "root, $DAMAGE_DATA_DIR or ../shared/data); leave it out or install it."
            )
        try:
            limit = int(entry.get("limit", 0))
        except (TypeError, ValueError):
            limit = 0
        if not 1 <= limit <= PUBLIC_LIMIT_MAX:
            raise ApplicationError(
                f"The image limit of {name} must be between 1 and {PUBLIC_LIMIT_MAX}."
            )
        clean.append({"name": name, "limit": limit})
    return clean


def start_version_manifest(version: ModelVersion) -> Any:
    """The manifest of `version` if a run can start from it (segmentation, PyTorch weights)."""
    if version.damage_backend != ModelVersion.DamageBackend.SEGMENTATION:
        raise ApplicationError(
            f"{version} finds damage with a detector; training from the browser fine-tunes a "
            "segmentation version. Choose one whose damage back end is segmentation."
        )
    try:
        manifest = load_manifest(version.manifest_path)
        manifest.weight_path("segmentation", "torch")
    except (ManifestError, FileNotFoundError, OSError) as exc:
        raise ApplicationError(
            f"{version} has no PyTorch segmentation weights to start from ({exc}); "
            "choose a version whose directory holds its .pt files."
        ) from None
    return manifest
