"""Inference back ends: ONNX Runtime (default; never imports torch) and PyTorch eager.

Both expose the same two calls on numpy batches:

- `vehicle(x)`: x (N, 3, S, S) normalised -> (N,) vehicle-presence probabilities;
- `segment(x)`: x (N, 3, H, W) normalised, H and W multiples of 32 -> (parts, damage)
  logits, (N, C, H, W) float32 each;
- `detect(x)` (a detection version, ONNX only): x (N, 3, S, S) RGB in [0, 1] -> the
  detector's raw (N, 4 + C, A) boxes and scores (`damage_vision.pipeline.detection`).

Each checks at load time that its weights match the manifest's taxonomies and raises
`WeightsMismatchError` naming both counts otherwise.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from damage_vision.pipeline.types import WeightsMismatchError
from damage_vision.taxonomy import load_taxonomy
from damage_vision.versions.registry import Manifest

if TYPE_CHECKING:
    import onnxruntime

FloatArray = npt.NDArray[np.float32]

SEG_INPUT = "image"
SEG_OUTPUTS = ("parts", "damage")
VEHICLE_INPUT = "image"
VEHICLE_OUTPUT = "vehicle_probability"
DET_INPUT = "image"
DET_OUTPUT = "detections"


class Backend(Protocol):
    name: str

    def vehicle(self, x: FloatArray) -> FloatArray: ...

    def segment(self, x: FloatArray) -> tuple[FloatArray, FloatArray]: ...

    def detect(self, x: FloatArray) -> FloatArray: ...


def default_threads() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def check_class_counts(manifest: Manifest, parts: int, damage: int, where: str) -> None:
    """Raise `WeightsMismatchError` when head sizes differ from the taxonomies."""
    expected_parts = load_taxonomy(manifest.part_taxonomy).num_classes
    expected_damage = load_taxonomy(manifest.damage_taxonomy).num_classes
    if (parts, damage) != (expected_parts, expected_damage):
        raise WeightsMismatchError(
            f"{where} predicts {parts} part and {damage} damage classes, but the manifest "
            f"declares {manifest.part_taxonomy} ({expected_parts} classes) and "
            f"{manifest.damage_taxonomy} ({expected_damage}); fix the taxonomy names in "
            "manifest.json or use weights trained for them"
        )


class OnnxBackend:
    """ONNX Runtime sessions, one per model, sharing `threads` intra-op threads each.

    Idle spinning is switched off: with several sessions in one process a spinning pool
    steals the CPU from the session that is working (PERFORMANCE-NOTES.md).
    """

    name = "onnx"

    def __init__(self, manifest: Manifest, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.threads = threads or default_threads()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        options.log_severity_level = 3
        self._seg = self._session(ort, manifest, "segmentation", options)
        self._vehicle = self._session(ort, manifest, "vehicle", options)
        shapes = {o.name: o.shape for o in self._seg.get_outputs()}
        try:
            parts, damage = (int(shapes[name][1]) for name in SEG_OUTPUTS)
        except (KeyError, TypeError, ValueError):
            raise WeightsMismatchError(
                f"the segmentation ONNX file of {manifest.version} must have outputs "
                f"{SEG_OUTPUTS} with a fixed class dimension; re-export it with "
                "`python -m damage_vision export-onnx`"
            ) from None
        check_class_counts(manifest, parts, damage, "the segmentation ONNX model")
        self._det = None
        if manifest.damage_backend == "detection":
            self._det = self._session(ort, manifest, "detector", options)
            outputs = {o.name: o.shape for o in self._det.get_outputs()}
            expected = 4 + damage - 1
            channels = outputs.get(DET_OUTPUT, [None, None])[1]
            if channels != expected:
                raise WeightsMismatchError(
                    f"the detector ONNX file of {manifest.version} must have an output "
                    f"{DET_OUTPUT!r} of {expected} channels (4 box + {damage - 1} damage "
                    f"classes of {manifest.damage_taxonomy}); it has {outputs}"
                )

    @staticmethod
    def _session(
        ort: Any, manifest: Manifest, role: str, options: Any
    ) -> onnxruntime.InferenceSession:
        path = manifest.weight_path(role, "onnx")
        try:
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own exception types for corrupt files
            raise WeightsMismatchError(
                f"{path.name} is not a loadable ONNX model ({exc}); re-export it with "
                "`python -m damage_vision export-onnx`"
            ) from None

    def vehicle(self, x: FloatArray) -> FloatArray:
        (probability,) = self._vehicle.run([VEHICLE_OUTPUT], {VEHICLE_INPUT: x})
        return np.asarray(probability, dtype=np.float32)

    def segment(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        parts, damage = self._seg.run(list(SEG_OUTPUTS), {SEG_INPUT: x})
        return np.asarray(parts, dtype=np.float32), np.asarray(damage, dtype=np.float32)

    def detect(self, x: FloatArray) -> FloatArray:
        if self._det is None:
            raise RuntimeError(
                "this model version has no detector (damage_backend is not detection)"
            )
        (raw,) = self._det.run([DET_OUTPUT], {DET_INPUT: x})
        return np.asarray(raw, dtype=np.float32)
