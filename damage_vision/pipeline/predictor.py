"""The per-photo pipeline: load once, then preprocess, infer and postprocess, each timed.

    predictor = Predictor.from_manifest()            # the default shipped version, ONNX
    photos = predictor.predict(["front.jpg", "door.jpg"])
    case = predictor.synthesise(photos)

With `backend="onnx"` nothing here imports torch (about 0.5 GB less resident memory).
A Celery worker should build one `Predictor` per process and reuse it.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from damage_vision.pipeline.backends import Backend, OnnxBackend
from damage_vision.pipeline.calibration import Calibrator, load_calibrator
from damage_vision.pipeline.damage_finders import FinderInput, damage_finder
from damage_vision.pipeline.images import (
    ImageInput,
    LoadedImage,
    blur_score,
    classifier_input,
    grey_levels,
    load_image,
    normalise,
)
from damage_vision.pipeline.postprocess import argmax_map
from damage_vision.pipeline.settings import Denominator, PipelineSettings
from damage_vision.pipeline.types import (
    CaseResult,
    DamagedPart,
    InferenceInputError,
    ModelInfo,
    PhotoQuality,
    PhotoResult,
    StageTimings,
    WeightsMismatchError,
)
from damage_vision.synthesis import synthesise_case
from damage_vision.taxonomy import load_taxonomy
from damage_vision.versions.registry import Backend as BackendName
from damage_vision.versions.registry import Manifest, resolve_model

# Photos of one shape run through the segmentation network together, at most this many
# at once (activation memory grows with the batch; CPU throughput does not).
SEGMENTATION_BATCH = 4

REASON_MESSAGES = {
    "no_vehicle": "no vehicle found (probability {p:.2f}); take a photo that shows the vehicle",
    "blurred": "the photo is blurred; hold the camera still and take it again",
    "too_dark": "the photo is too dark; take it in better light",
    "overexposed": "the photo is overexposed; avoid direct sunlight or flash glare",
    "too_close": (
        "no vehicle part can be recognised; step back so that the damaged part and its "
        "surroundings are in the photo"
    ),
}


@dataclass
class _Prepared:
    image: LoadedImage
    seg_input: np.ndarray
    cls_input: np.ndarray
    blur: float
    brightness: float
    preprocess_ms: float
    damage_input: FinderInput  # what the version's damage finder prepared for its network


def _now() -> float:
    return time.perf_counter()


class Predictor:
    """A loaded model version; `predict` runs the whole per-photo pipeline on a batch."""

    def __init__(
        self,
        manifest: Manifest,
        backend: Backend,
        settings: PipelineSettings | None = None,
    ) -> None:
        self.manifest = manifest
        self.backend = backend
        self.settings = settings or PipelineSettings().with_overrides(manifest.settings)
        self.part_taxonomy = load_taxonomy(manifest.part_taxonomy)
        self.damage_taxonomy = load_taxonomy(manifest.damage_taxonomy)
        calibrator_path = manifest.calibrator_path()
        self.calibrator: Calibrator | None = (
            None if calibrator_path is None else load_calibrator(calibrator_path)
        )
        if self.calibrator is not None:
            unknown = sorted(set(self.calibrator.classes) - set(self.damage_taxonomy.classes))
            if unknown:
                raise WeightsMismatchError(
                    f"the calibrator of {manifest.version} names damage classes {unknown} "
                    f"that taxonomy {manifest.damage_taxonomy!r} does not have"
                )
        self.damage_finder = damage_finder(
            manifest, self.part_taxonomy, self.damage_taxonomy, self.settings, self.calibrator
        )
        self.model_info = ModelInfo(
            name=manifest.name,
            version=manifest.version,
            weights_sha256=manifest.weights_sha256(backend.name),  # type: ignore[arg-type]
            part_taxonomy=manifest.part_taxonomy,
            damage_taxonomy=manifest.damage_taxonomy,
            backend=backend.name,
            calibrated=self.calibrator is not None,
            damage_backend=manifest.damage_backend,
        )

    @classmethod
    def from_manifest(
        cls,
        path: str | Path | None = None,
        backend: BackendName = "onnx",
        threads: int | None = None,
        settings: PipelineSettings | None = None,
        input_size: int | None = None,
    ) -> Predictor:
        """Load a model version (a directory, a shipped version name, or None for the default).

        `threads`: intra-op threads (default: every core this process may use).
        `input_size`: long side to resize photos to instead of the version's own (the
        networks are fully convolutional; used to time every version at 512 px). Raises
        `ManifestError` for a missing or malformed version and `WeightsMismatchError` when
        weights are corrupted or do not match the declared taxonomies.
        """
        manifest = resolve_model(path)
        if input_size is not None:
            if input_size < 32:
                raise ValueError(f"input_size must be at least 32 px, got {input_size}")
            manifest = dataclasses.replace(manifest, input_size=input_size)
        runner: Backend
        if backend == "onnx":
            runner = OnnxBackend(manifest, threads)
        elif backend == "torch":
            from damage_vision.pipeline.torch_backend import TorchBackend

            runner = TorchBackend(manifest, threads)
        else:
            raise ValueError(f"backend must be 'onnx' or 'torch', got {backend!r}")
        return cls(manifest, runner, settings)

    def _prepare(self, source: ImageInput) -> _Prepared:
        start = _now()
        image = load_image(source, self.manifest.input_size)
        m = self.manifest
        grey = grey_levels(image.rgb)
        prepared = _Prepared(
            image=image,
            seg_input=normalise(image.rgb, m.mean, m.std, m.pad_multiple),
            cls_input=classifier_input(image.rgb, m.vehicle.input_size, m.mean, m.std),
            blur=blur_score(grey),
            brightness=float(grey.mean() / 255.0),
            preprocess_ms=0.0,
            damage_input=self.damage_finder.prepare(image.rgb),
        )
        prepared.preprocess_ms = (_now() - start) * 1000
        return prepared

    def _quality_reasons(self, p: _Prepared, vehicle_probability: float) -> list[str]:
        s = self.settings
        reasons = []
        if vehicle_probability < self.manifest.vehicle.threshold:
            reasons.append("no_vehicle")
        if p.blur < s.blur_threshold:
            reasons.append("blurred")
        if p.brightness < s.dark_threshold:
            reasons.append("too_dark")
        elif p.brightness > s.bright_threshold:
            reasons.append("overexposed")
        return reasons

    def predict(self, images: ImageInput | Sequence[ImageInput]) -> list[PhotoResult]:
        """Run the pipeline on one photo or a batch; results in input order.

        A photo that is not an image raises `InferenceInputError` naming its position; a
        photo without a vehicle, blurred, badly exposed or too close comes back with
        `set_aside_reason` set and no findings.
        """
        single = str | Path | bytes | bytearray | memoryview | np.ndarray | Image.Image
        batch: list[ImageInput] = [images] if isinstance(images, single) else list(images)
        if len(batch) == 0:
            return []
        prepared: list[_Prepared] = []
        for position, source in enumerate(batch):
            try:
                prepared.append(self._prepare(source))
            except InferenceInputError as exc:
                prefix = f"photo {position + 1} of {len(batch)}: " if len(batch) > 1 else ""
                raise InferenceInputError(f"{prefix}{exc}") from None

        start = _now()
        probabilities = self.backend.vehicle(np.concatenate([p.cls_input for p in prepared]))
        vehicle_ms = (_now() - start) * 1000 / len(prepared)

        reasons = [
            self._quality_reasons(p, float(pr))
            for p, pr in zip(prepared, probabilities, strict=True)
        ]
        segment_ms = [0.0] * len(prepared)
        logits: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, p in enumerate(prepared):
            if not reasons[i]:
                by_shape[p.seg_input.shape].append(i)
        chunks = [
            same[k : k + SEGMENTATION_BATCH]
            for same in by_shape.values()
            for k in range(0, len(same), SEGMENTATION_BATCH)
        ]
        for indices in chunks:
            start = _now()
            parts, damage = self.backend.segment(
                np.concatenate([prepared[i].seg_input for i in indices])
            )
            elapsed = (_now() - start) * 1000 / len(indices)
            for row, i in enumerate(indices):
                logits[i] = (parts[row], damage[row])
                segment_ms[i] = elapsed
        detections: dict[int, Any] = {}
        detect_ms = [0.0] * len(prepared)
        for i in logits:
            start = _now()
            output = self.damage_finder.run(self.backend, prepared[i].damage_input)
            if output is not None:  # the finder has a network of its own: time it
                detections[i] = output
                detect_ms[i] = (_now() - start) * 1000

        return [
            self._finish(
                p,
                float(probabilities[i]),
                reasons[i],
                logits.get(i),
                vehicle_ms,
                segment_ms[i],
                detections.get(i),
                detect_ms[i],
            )
            for i, p in enumerate(prepared)
        ]

    def _finish(
        self,
        p: _Prepared,
        vehicle_probability: float,
        reasons: list[str],
        logits: tuple[np.ndarray, np.ndarray] | None,
        vehicle_ms: float,
        segment_ms: float,
        detections: Any | None = None,
        detect_ms: float = 0.0,
    ) -> PhotoResult:
        start = _now()
        h, w = p.image.rgb.shape[:2]
        if logits is None:
            part_map = np.zeros((h, w), dtype=np.uint8)
            damage_map = np.zeros((h, w), dtype=np.uint8)
            visible: frozenset[str] = frozenset()
            findings: tuple[DamagedPart, ...] = ()
            perspective, photo_dsi = "none", 0.0
        else:
            part_logits = logits[0][:, :h, :w]
            damage_logits = logits[1][:, :h, :w]
            part_map, _ = argmax_map(part_logits)
            damage_map, analysis = self.damage_finder.analyse(
                part_map=part_map,
                damage_logits=damage_logits,
                part_logits=part_logits,
                output=detections,
                prepared=p.damage_input,
            )
            visible, perspective = analysis.visible_parts, analysis.perspective
            findings, photo_dsi = analysis.findings, analysis.dsi
            if not visible:
                reasons = [*reasons, "too_close"]
                findings, photo_dsi = (), 0.0
        message = (
            "; ".join(REASON_MESSAGES[r].format(p=vehicle_probability) for r in reasons)
            if reasons
            else None
        )
        postprocess_ms = (_now() - start) * 1000
        return PhotoResult(
            image_size=p.image.original_size,
            processed_size=(w, h),
            vehicle_probability=vehicle_probability,
            quality=PhotoQuality(
                usable=not reasons,
                reasons=tuple(reasons),
                blur_score=p.blur,
                brightness=p.brightness,
            ),
            set_aside_reason=message,
            part_map=part_map,
            damage_map=damage_map,
            visible_parts=visible,
            perspective=perspective,
            findings=findings,
            dsi=photo_dsi,
            timings=StageTimings(
                preprocess_ms=p.preprocess_ms,
                vehicle_ms=vehicle_ms,
                segmentation_ms=segment_ms,
                postprocess_ms=postprocess_ms,
                total_ms=p.preprocess_ms + vehicle_ms + segment_ms + detect_ms + postprocess_ms,
                detection_ms=detect_ms,
            ),
            model=self.model_info,
        )

    def synthesise(
        self, photos: Sequence[PhotoResult], denominator: Denominator | None = None
    ) -> CaseResult:
        """Case synthesis with this version's threshold and the settings' denominator."""
        return synthesise_case(
            photos,
            self.manifest.threshold,
            denominator or self.settings.denominator,
            background_part=self.part_taxonomy.background,
        )
