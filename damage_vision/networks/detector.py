"""Damage detector back end on Ultralytics YOLO: YOLOv9-CS (paper 2) and the SIoU box loss.

- `build_detector(cfg, nc, box_loss)`: a `DetectionModel` from a model YAML; the default
  `yolov9t-cs.yaml` beside this file puts Ultralytics' `CBAM` block after every
  RepNCSPELAN4 of the neck. Ultralytics' CBAM is a light variant of Woo et al.'s: its
  channel attention is average pooling + a 1x1 convolution + sigmoid (no max-pool branch,
  no reduction MLP); the spatial attention is the paper's (7x7 conv over channel mean and
  max).
- `siou_loss(pred, target)`: SIoU (Gevorgyan 2022; paper 2 equations 5-8), the sum of an
  IoU cost and half the distance (angle-aware) and shape costs. `box_loss="siou"` swaps it
  for CIoU inside Ultralytics' `v8DetectionLoss`; `SIoUDetectionTrainer` trains with it.
- `YoloDamageDetector`: load once, predict boxes on RGB arrays, restore torch threads.

Ultralytics sets `torch.set_num_threads(cpus - 1)` in `select_device` (called by its
predictor and trainer); `preserve_torch_threads()` puts the previous value back.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

os.environ.setdefault("YOLO_OFFLINE", "1")  # never reach out for fonts, assets or updates

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from ultralytics.models.yolo.detect import DetectionTrainer
from ultralytics.nn import tasks as ultralytics_tasks
from ultralytics.nn.modules import CBAM
from ultralytics.nn.tasks import DetectionModel
from ultralytics.utils.loss import BboxLoss, v8DetectionLoss
from ultralytics.utils.nms import non_max_suppression

from damage_vision.pipeline.types import BoxDamage
from damage_vision.taxonomy import Taxonomy, resolve_taxonomy

BoxLossName = Literal["ciou", "siou"]

MODEL_DIR = Path(__file__).resolve().parent
YOLOV9_CS_YAML = MODEL_DIR / "yolov9t-cs.yaml"

# Ultralytics' YAML parser looks module names up in its own module namespace, where CBAM
# is not imported; make it resolvable there.
if not hasattr(ultralytics_tasks, "CBAM"):
    ultralytics_tasks.CBAM = CBAM  # type: ignore[attr-defined]


@contextlib.contextmanager
def preserve_torch_threads() -> Iterator[None]:
    """Restore torch's intra-op thread count after Ultralytics changed it."""
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def siou_terms(
    pred: torch.Tensor, target: torch.Tensor, theta: float = 4.0, eps: float = 1e-7
) -> dict[str, torch.Tensor]:
    """The SIoU terms for boxes in (x0, y0, x1, y1), shape (..., 4) each.

    - angle cost Lambda = 1 - 2 sin^2(arcsin(sin alpha) - pi/4) = sin(2 alpha), alpha the
      angle between the line joining the centres and the x axis (Lambda is symmetric in
      alpha and pi/2 - alpha, so the SIoU paper's choice of the nearer axis changes nothing);
    - distance cost Delta = sum over t in (x, y) of 1 - exp(-gamma rho_t), gamma =
      2 - Lambda, rho_x = (dcx / c_w)^2, rho_y = (dcy / c_h)^2, with c_w, c_h the size of the
      smallest enclosing box;
    - shape cost Omega = sum over t in (w, h) of (1 - exp(-omega_t))^theta, omega_w =
      |w - w_gt| / max(w, w_gt);
    - IoU cost 1 - IoU; loss = 1 - IoU + (Delta + Omega) / 2.
    """
    px0, py0, px1, py1 = pred.unbind(-1)
    tx0, ty0, tx1, ty1 = target.unbind(-1)
    pw, ph = px1 - px0, py1 - py0
    tw, th = tx1 - tx0, ty1 - ty0
    inter = (torch.minimum(px1, tx1) - torch.maximum(px0, tx0)).clamp(min=0) * (
        torch.minimum(py1, ty1) - torch.maximum(py0, ty0)
    ).clamp(min=0)
    union = pw * ph + tw * th - inter + eps
    iou = inter / union

    dx = (tx0 + tx1 - px0 - px1) / 2
    dy = (ty0 + ty1 - py0 - py1) / 2
    sigma = torch.sqrt(dx**2 + dy**2) + eps
    sin_alpha = (dy.abs() / sigma).clamp(max=1.0)
    angle = 1 - 2 * torch.sin(torch.arcsin(sin_alpha) - math.pi / 4) ** 2

    cw = torch.maximum(px1, tx1) - torch.minimum(px0, tx0) + eps
    ch = torch.maximum(py1, ty1) - torch.minimum(py0, ty0) + eps
    gamma = 2 - angle
    distance = (1 - torch.exp(-gamma * (dx / cw) ** 2)) + (1 - torch.exp(-gamma * (dy / ch) ** 2))

    omega_w = (pw - tw).abs() / (torch.maximum(pw, tw) + eps)
    omega_h = (ph - th).abs() / (torch.maximum(ph, th) + eps)
    shape = (1 - torch.exp(-omega_w)) ** theta + (1 - torch.exp(-omega_h)) ** theta

    loss = 1 - iou + (distance + shape) / 2
    return {
        "iou": iou,
        "angle": angle,
        "distance": distance,
        "shape": shape,
        "loss": loss,
    }


def siou_loss(pred: torch.Tensor, target: torch.Tensor, theta: float = 4.0) -> torch.Tensor:
    """SIoU loss per box pair (no reduction); boxes (x0, y0, x1, y1)."""
    return siou_terms(pred, target, theta)["loss"]


class SIoUBboxLoss(BboxLoss):
    """Ultralytics' box loss with SIoU in place of CIoU; the DFL term is unchanged."""

    def forward(  # type: ignore[override]
        self,
        pred_dist: torch.Tensor,
        pred_bboxes: torch.Tensor,
        anchor_points: torch.Tensor,
        target_bboxes: torch.Tensor,
        target_scores: torch.Tensor,
        target_scores_sum: torch.Tensor,
        fg_mask: torch.Tensor,
        imgsz: torch.Tensor,
        stride: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        _, loss_dfl = super().forward(
            pred_dist,
            pred_bboxes,
            anchor_points,
            target_bboxes,
            target_scores,
            target_scores_sum,
            fg_mask,
            imgsz,
            stride,
        )
        index = fg_mask.nonzero(as_tuple=True)
        weight = target_scores[index].sum(-1)
        loss = siou_loss(pred_bboxes[index], target_bboxes[index])
        loss_box = (loss * weight).sum() / target_scores_sum
        return loss_box, loss_dfl


class SIoUDetectionModel(DetectionModel):
    """A `DetectionModel` whose training criterion uses the SIoU box loss."""

    def init_criterion(self) -> Any:
        criterion = super().init_criterion()
        if isinstance(criterion, v8DetectionLoss):
            reg_max = criterion.reg_max
            criterion.bbox_loss = SIoUBboxLoss(reg_max).to(criterion.device)
        return criterion


class SIoUDetectionTrainer(DetectionTrainer):
    """Ultralytics trainer that builds `SIoUDetectionModel`s: `YOLO(cfg).train(trainer=...)`."""

    def get_model(
        self, cfg: str | dict[str, Any] | None = None, weights: Any = None, verbose: bool = True
    ) -> DetectionModel:
        model = SIoUDetectionModel(cfg, nc=self.data["nc"], ch=self.data["channels"], verbose=False)
        if weights:
            model.load(weights)
        return model


def build_detector(
    cfg: str | Path = YOLOV9_CS_YAML, nc: int | None = None, box_loss: BoxLossName = "siou"
) -> DetectionModel:
    """A YOLO `DetectionModel` from a model YAML (default: YOLOv9t-CS) with `nc` classes."""
    if box_loss not in ("ciou", "siou"):
        raise ValueError(f"box_loss must be 'ciou' or 'siou', got {box_loss!r}")
    cls = SIoUDetectionModel if box_loss == "siou" else DetectionModel
    with preserve_torch_threads():
        model: DetectionModel = cls(str(cfg), nc=nc, verbose=False)
    return model


def _letterbox(
    image: npt.NDArray[np.uint8], size: int, multiple: int = 32
) -> tuple[npt.NDArray[np.float32], float]:
    """Resize the long side to `size`, pad right/bottom to a multiple; (1,3,H,W) in [0, 1]."""
    import cv2

    h, w = image.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    ph, pw = math.ceil(nh / multiple) * multiple, math.ceil(nw / multiple) * multiple
    canvas = np.full((ph, pw, 3), 114, dtype=np.uint8)
    canvas[:nh, :nw] = resized
    return canvas.transpose(2, 0, 1)[None].astype(np.float32) / 255.0, scale


class YoloDamageDetector:
    """Damage boxes from a YOLO model (YOLOv9-CS by default), loaded once."""

    def __init__(
        self,
        taxonomy: str | Taxonomy,
        weights: str | Path | None = None,
        cfg: str | Path = YOLOV9_CS_YAML,
        input_size: int = 640,
        conf: float = 0.25,
        iou: float = 0.7,
    ) -> None:
        """`taxonomy`: damage taxonomy whose classes 1.. are the detector's classes 0..;
        `weights`: a state dict saved with `torch.save(model.state_dict())` (loaded with
        `weights_only=True`); None gives random weights (for timing only)."""
        self.taxonomy = resolve_taxonomy(taxonomy)
        self.input_size = input_size
        self.conf = conf
        self.iou = iou
        self.model = build_detector(cfg, nc=self.taxonomy.num_classes - 1, box_loss="ciou")
        if weights is not None:
            state = torch.load(weights, map_location="cpu", weights_only=True)
            self.model.load_state_dict({k: v.float() for k, v in state.items()})
        self.model.eval()

    @torch.inference_mode()
    def predict(self, image: npt.NDArray[np.uint8]) -> list[BoxDamage]:
        """Boxes on one RGB image (H, W, 3), in that image's pixel coordinates."""
        x, scale = _letterbox(image, self.input_size)
        with preserve_torch_threads():
            raw = self.model(torch.from_numpy(x))
            detections = non_max_suppression(
                raw, conf_thres=self.conf, iou_thres=self.iou, nc=self.taxonomy.num_classes - 1
            )[0]
        h, w = image.shape[:2]
        boxes: list[BoxDamage] = []
        for x0, y0, x1, y1, confidence, cls in detections.tolist():
            boxes.append(
                BoxDamage(
                    damage=self.taxonomy.classes[int(cls) + 1],
                    box=(
                        min(max(x0 / scale, 0.0), w),
                        min(max(y0 / scale, 0.0), h),
                        min(max(x1 / scale, 0.0), w),
                        min(max(y1 / scale, 0.0), h),
                    ),
                    confidence=float(confidence),
                )
            )
        return boxes


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def cbam_layers(model: DetectionModel) -> Sequence[int]:
    """Indices of the CBAM layers of a YOLO model (for tests and reports)."""
    layers = model.get_submodule("model")
    return [i for i, m in enumerate(layers.children()) if isinstance(m, CBAM)]
