"""The vision pipeline; never imports Django. Public entry points (imported lazily, so that
`import inference.core` stays cheap in a web process that never runs a model):

    from inference.core import Predictor, synthesise_case
    predictor = Predictor.from_manifest()              # default version, ONNX Runtime
    photos = predictor.predict(paths_or_bytes)         # list[PhotoResult]
    case = predictor.synthesise(photos)                # CaseResult (threshold of the version)

Others: `load_taxonomy`, `list_versions`, `default_version`, `load_manifest`,
`dsi_from_boxes`, `case_dsi_from_boxes`, `PipelineSettings`, and the result types of
`inference.core.types`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from inference.core.types import (
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
    from inference.core.predictor import Predictor
    from inference.core.registry import (
        Manifest,
        ManifestError,
        default_version,
        list_versions,
        load_manifest,
    )
    from inference.core.settings import PipelineSettings
    from inference.core.severity import case_dsi_from_boxes, dsi_from_boxes
    from inference.core.synthesis import synthesise_case
    from inference.core.taxonomy import Taxonomy, load_taxonomy

_LAZY = {
    "Predictor": "inference.core.predictor",
    "Manifest": "inference.core.registry",
    "ManifestError": "inference.core.registry",
    "default_version": "inference.core.registry",
    "list_versions": "inference.core.registry",
    "load_manifest": "inference.core.registry",
    "PipelineSettings": "inference.core.settings",
    "case_dsi_from_boxes": "inference.core.severity",
    "dsi_from_boxes": "inference.core.severity",
    "synthesise_case": "inference.core.synthesis",
    "Taxonomy": "inference.core.taxonomy",
    "load_taxonomy": "inference.core.taxonomy",
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
        raise AttributeError(f"module 'inference.core' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
