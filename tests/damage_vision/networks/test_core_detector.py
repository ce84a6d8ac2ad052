"""YOLOv9-CS (CBAM in the neck) and the SIoU box loss, against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from ultralytics.cfg import get_cfg
from ultralytics.nn.modules import CBAM

from damage_vision.networks.detector import (
    SIoUBboxLoss,
    SIoUDetectionModel,
    YoloDamageDetector,
    build_detector,
    cbam_layers,
    preserve_torch_threads,
    siou_loss,
    siou_terms,
)


@pytest.fixture(scope="module")
def yolo() -> SIoUDetectionModel:
    model = build_detector(nc=6, box_loss="siou")
    assert isinstance(model, SIoUDetectionModel)
    return model


def test_cbam_follows_every_neck_elan(yolo: SIoUDetectionModel) -> None:
    assert cbam_layers(yolo) == [13, 17, 21, 25]
    assert [yolo.model[i].channel_attention.fc.in_channels for i in (13, 17, 21, 25)] == [
        96,
        64,
        96,
        128,
    ]
    assert yolo.model[-1].f == [17, 21, 25]  # the detect head reads the attended maps
    assert all(isinstance(yolo.model[i], CBAM) for i in (13, 17, 21, 25))


def test_forward_gives_boxes_for_every_anchor(yolo: SIoUDetectionModel) -> None:
    yolo.eval()
    with torch.inference_mode():
        out = yolo(torch.zeros(1, 3, 128, 96))
    prediction = out[0] if isinstance(out, tuple | list) else out
    anchors = (128 // 8) * (96 // 8) + (128 // 16) * (96 // 16) + (128 // 32) * (96 // 32)
    assert tuple(prediction.shape) == (1, 4 + 6, anchors)


def test_siou_offset_along_an_axis_by_hand() -> None:
    # Ground truth (0,0)-(4,4), centre (2,2), 4x4; prediction (2,1)-(6,3), centre (4,2), 4x2.
    terms = siou_terms(torch.tensor([2.0, 1.0, 6.0, 3.0]), torch.tensor([0.0, 0.0, 4.0, 4.0]))
    # Centres differ along x only: alpha = 0, angle cost sin(2 alpha) = 0, gamma = 2.
    assert float(terms["angle"]) == pytest.approx(0.0, abs=1e-6)
    # Enclosing box 6 x 4: rho_x = (2/6)^2 = 1/9, rho_y = 0.
    distance = 1 - math.exp(-2 / 9)
    assert float(terms["distance"]) == pytest.approx(distance, rel=1e-5)
    # omega_w = 0, omega_h = |2 - 4| / 4 = 0.5; theta = 4.
    shape = (1 - math.exp(-0.5)) ** 4
    assert float(terms["shape"]) == pytest.approx(shape, rel=1e-5)
    # Intersection (2,1)-(4,3) = 4; union 16 + 8 - 4 = 20.
    assert float(terms["iou"]) == pytest.approx(0.2, rel=1e-5)
    assert float(terms["loss"]) == pytest.approx(1 - 0.2 + (distance + shape) / 2, rel=1e-5)


def test_siou_diagonal_offset_by_hand() -> None:
    # Ground truth (0,0)-(2,2); prediction (1,1)-(3,3): centres 45 degrees apart.
    terms = siou_terms(torch.tensor([1.0, 1.0, 3.0, 3.0]), torch.tensor([0.0, 0.0, 2.0, 2.0]))
    assert float(terms["angle"]) == pytest.approx(1.0, rel=1e-5)  # 1 - 2 sin^2(0) = 1
    # gamma = 2 - 1 = 1; enclosing 3 x 3: rho_x = rho_y = 1/9.
    distance = 2 * (1 - math.exp(-1 / 9))
    assert float(terms["distance"]) == pytest.approx(distance, rel=1e-5)
    assert float(terms["shape"]) == pytest.approx(0.0, abs=1e-7)
    assert float(terms["iou"]) == pytest.approx(1 / 7, rel=1e-5)
    assert float(terms["loss"]) == pytest.approx(1 - 1 / 7 + distance / 2, rel=1e-5)


def test_angle_cost_at_30_degrees_by_hand() -> None:
    # Centre offset (sqrt(3), 1): alpha = 30 degrees; 1 - 2 sin^2(30 - 45 deg) = sin 60 deg.
    root3 = math.sqrt(3.0)
    terms = siou_terms(
        torch.tensor([root3, 1.0, root3 + 2, 3.0], dtype=torch.float64),
        torch.tensor([0.0, 0.0, 2.0, 2.0], dtype=torch.float64),
    )
    assert float(terms["angle"]) == pytest.approx(math.sqrt(3.0) / 2, rel=1e-6)


def test_perfect_prediction_costs_nothing() -> None:
    box = torch.tensor([[3.0, 4.0, 10.0, 20.0]])
    assert float(siou_loss(box, box)) == pytest.approx(0.0, abs=1e-6)


def test_siou_replaces_ciou_in_the_box_loss() -> None:
    pred = torch.tensor([[[2.0, 1.0, 6.0, 3.0], [1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 1.0, 1.0]]])
    target = torch.tensor([[[0.0, 0.0, 4.0, 4.0], [0.0, 0.0, 2.0, 2.0], [5.0, 5.0, 6.0, 6.0]]])
    scores = torch.tensor([[[0.5, 0.0], [0.25, 0.25], [0.9, 0.0]]])
    fg = torch.tensor([[True, True, False]])  # the third anchor is background
    loss = SIoUBboxLoss(reg_max=16)
    box, dfl = loss(
        torch.zeros(1, 3, 64),
        pred,
        torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]),
        target,
        scores,
        torch.tensor(2.0),
        fg,
        torch.tensor([64.0, 64.0]),
        torch.ones(3, 1),
    )
    first = 1 - 0.2 + ((1 - math.exp(-2 / 9)) + (1 - math.exp(-0.5)) ** 4) / 2
    second = 1 - 1 / 7 + 2 * (1 - math.exp(-1 / 9)) / 2
    assert float(box) == pytest.approx((first * 0.5 + second * 0.5) / 2.0, rel=1e-5)
    assert torch.isfinite(dfl)


def test_training_criterion_uses_siou_and_backpropagates(yolo: SIoUDetectionModel) -> None:
    yolo.args = get_cfg()
    yolo.criterion = None
    yolo.train()
    batch = {
        "img": torch.rand(2, 3, 64, 64),
        "batch_idx": torch.tensor([0.0, 1.0]),
        "cls": torch.tensor([[1.0], [3.0]]),
        "bboxes": torch.tensor([[0.5, 0.5, 0.4, 0.3], [0.3, 0.6, 0.2, 0.2]]),
    }
    loss, _ = yolo.loss(batch)
    assert isinstance(yolo.criterion.bbox_loss, SIoUBboxLoss)
    total = loss.sum()
    assert torch.isfinite(total)
    total.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in yolo.parameters())
    ciou = build_detector(nc=6, box_loss="ciou")
    ciou.args = get_cfg()
    assert type(ciou.init_criterion().bbox_loss).__name__ == "BboxLoss"


def test_detector_restores_the_thread_count() -> None:
    before = torch.get_num_threads()
    with preserve_torch_threads():
        torch.set_num_threads(1)
    assert torch.get_num_threads() == before
    detector = YoloDamageDetector("damage_cardd", input_size=64, conf=0.0)
    boxes = detector.predict(np.full((48, 64, 3), 128, dtype=np.uint8))
    assert torch.get_num_threads() == before
    assert all(0 <= b.box[0] <= b.box[2] <= 64 and 0 <= b.box[1] <= b.box[3] <= 48 for b in boxes)
    assert {b.damage for b in boxes} <= {
        "crack",
        "glass_shatter",
        "dent",
        "scratch",
        "lamp_broken",
        "tire_flat",
    }
