"""The vision pipeline; never imports Django. Public entry points (imported lazily, so that
`import damage_vision` stays cheap in a web process that never runs a model):

    from damage_vision import Predictor, synthesise_case
    predictor = Predictor.from_manifest()              # default version, ONNX Runtime
    photos = predictor.predict(paths_or_bytes)         # list[PhotoResult]
    case = predictor.synthesise(photos)                # CaseResult (threshold of the version)

Others: `load_taxonomy`, `list_versions`, `default_version`, `load_manifest`,
`dsi_from_boxes`, `case_dsi_from_boxes`, `PipelineSettings`, and the result types of
`damage_vision.pipeline.types`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from damage_vision.pipeline.types import (
    BoxDamage,
    CaseFinding,
    CaseResult,
    DamagedPart,
    InferenceInputError,
    ModelInfo,
    PhotoQuality,
    PhotoResult,
    SeverityTerms,
    StageTimings,
    WeightsMismatchError,
)

if TYPE_CHECKING:
    from damage_vision.pipeline.predictor import Predictor
    from damage_vision.pipeline.settings import PipelineSettings
    from damage_vision.pipeline.severity import case_dsi_from_boxes, dsi_from_boxes
    from damage_vision.synthesis import synthesise_case
    from damage_vision.taxonomy import Taxonomy, load_taxonomy
    from damage_vision.versions.registry import (
        Manifest,
        ManifestError,
        default_version,
        list_versions,
        load_manifest,
    )

_LAZY = {
    "Predictor": "damage_vision.pipeline.predictor",
    "Manifest": "damage_vision.versions.registry",
    "ManifestError": "damage_vision.versions.registry",
    "default_version": "damage_vision.versions.registry",
    "list_versions": "damage_vision.versions.registry",
    "load_manifest": "damage_vision.versions.registry",
    "PipelineSettings": "damage_vision.pipeline.settings",
    "case_dsi_from_boxes": "damage_vision.pipeline.severity",
    "dsi_from_boxes": "damage_vision.pipeline.severity",
    "synthesise_case": "damage_vision.synthesis",
    "Taxonomy": "damage_vision.taxonomy",
    "load_taxonomy": "damage_vision.taxonomy",
}

__all__ = [
    "BoxDamage",
    "CaseFinding",
    "CaseResult",
    "DamagedPart",
    "InferenceInputError",
    "Manifest",
    "ManifestError",
    "ModelInfo",
    "PhotoQuality",
    "PhotoResult",
    "PipelineSettings",
    "Predictor",
    "SeverityTerms",
    "StageTimings",
    "Taxonomy",
    "WeightsMismatchError",
    "case_dsi_from_boxes",
    "default_version",
    "dsi_from_boxes",
    "list_versions",
    "load_manifest",
    "load_taxonomy",
    "synthesise_case",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'damage_vision' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
