"""How a model version finds damage, one strategy each behind one interface: the joint
network's per-pixel damage head (paper 1, `MaskFinder`) or a detector's boxes (paper 2,
`BoxFinder`). The predictor asks the version's finder to prepare its own input, run its
network and turn the outputs into findings; it never branches on the back end itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from damage_vision.pipeline.backends import Backend
from damage_vision.pipeline.calibration import Calibrator
from damage_vision.pipeline.detection import (
    box_damage_map,
    box_findings,
    decode_detections,
    detector_input,
)
from damage_vision.pipeline.postprocess import (
    PhotoAnalysis,
    analyse_photo,
    argmax_map,
    damage_probabilities,
)
from damage_vision.pipeline.settings import PipelineSettings
from damage_vision.taxonomy import Taxonomy
from damage_vision.versions.registry import Manifest

LabelMap = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class FinderInput:
    """What a finder prepared from a photo for its own network (None: it needs nothing
    beyond the joint network's input) and the scale from the photo to that input."""

    array: npt.NDArray[np.float32] | None = None
    scale: float = 1.0


class DamageFinder(Protocol):
    name: str  # the manifest's `damage_backend`

    def prepare(self, rgb: npt.NDArray[np.uint8]) -> FinderInput: ...

    def run(self, backend: Backend, prepared: FinderInput) -> Any | None:
        """The finder's own network output for one photo; None when it has no network of
        its own (its damage comes from the joint network's damage head)."""

    def analyse(
        self,
        *,
        part_map: LabelMap,
        damage_logits: npt.NDArray[np.floating],
        part_logits: npt.NDArray[np.floating],
        output: Any | None,
        prepared: FinderInput,
    ) -> tuple[LabelMap, PhotoAnalysis]:
        """The damage map and the photo's findings (parts, sizes, confidence, DSI)."""


@dataclass
class _Context:
    part_taxonomy: Taxonomy
    damage_taxonomy: Taxonomy
    settings: PipelineSettings
    calibrator: Calibrator | None


class MaskFinder:
    """Paper 1: each damage is a region of the joint network's damage map."""

    name = "segmentation"

    def __init__(self, context: _Context) -> None:
        self.context = context

    def prepare(self, rgb: npt.NDArray[np.uint8]) -> FinderInput:
        return FinderInput()

    def run(self, backend: Backend, prepared: FinderInput) -> None:
        return None

    def analyse(
        self,
        *,
        part_map: LabelMap,
        damage_logits: npt.NDArray[np.floating],
        part_logits: npt.NDArray[np.floating],
        output: Any | None,
        prepared: FinderInput,
    ) -> tuple[LabelMap, PhotoAnalysis]:
        c = self.context
        damage_map, _ = argmax_map(damage_logits)
        analysis = analyse_photo(
            part_map,
            damage_map,
            damage_probabilities(damage_logits),
            c.part_taxonomy,
            c.damage_taxonomy,
            c.settings,
            c.calibrator,
            part_logits,
        )
        return damage_map, analysis


class BoxFinder:
    """Paper 2: each damage is a detector box on the letterboxed photo; the joint network
    still names the part under it."""

    name = "detection"

    def __init__(self, context: _Context, detector: dict[str, Any]) -> None:
        self.context = context
        self.input_size = int(detector.get("input_size", 640))
        self.conf = float(detector.get("conf", 0.25))
        self.iou = float(detector.get("iou", 0.7))

    def prepare(self, rgb: npt.NDArray[np.uint8]) -> FinderInput:
        array, scale = detector_input(rgb, self.input_size)
        return FinderInput(array, scale)

    def run(self, backend: Backend, prepared: FinderInput) -> npt.NDArray[np.floating]:
        assert prepared.array is not None  # prepare() made it
        return backend.detect(prepared.array)[0]

    def analyse(
        self,
        *,
        part_map: LabelMap,
        damage_logits: npt.NDArray[np.floating],
        part_logits: npt.NDArray[np.floating],
        output: Any | None,
        prepared: FinderInput,
    ) -> tuple[LabelMap, PhotoAnalysis]:
        c = self.context
        if output is None:
            raise ValueError("a detection version's photo has no detector output")
        h, w = part_map.shape
        boxes = decode_detections(
            output,
            c.damage_taxonomy.classes[1:],
            prepared.scale,
            (w, h),
            conf=self.conf,
            iou=self.iou,
        )
        damage_map = box_damage_map(boxes, (h, w), c.damage_taxonomy)
        analysis = box_findings(
            boxes, part_map, c.part_taxonomy, c.damage_taxonomy, c.settings, c.calibrator
        )
        return damage_map, analysis


def damage_finder(
    manifest: Manifest,
    part_taxonomy: Taxonomy,
    damage_taxonomy: Taxonomy,
    settings: PipelineSettings,
    calibrator: Calibrator | None,
) -> DamageFinder:
    """The finder of a version's `damage_backend`."""
    context = _Context(part_taxonomy, damage_taxonomy, settings, calibrator)
    if manifest.damage_backend == "detection":
        return BoxFinder(context, manifest.detector)
    if manifest.damage_backend == "segmentation":
        return MaskFinder(context)
    raise ValueError(
        f"damage_backend must be segmentation or detection, got {manifest.damage_backend!r}"
    )
