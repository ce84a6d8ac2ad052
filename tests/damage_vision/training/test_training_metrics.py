"""Metrics, losses and the learning-rate schedule, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from damage_vision.evaluation.metrics import (
    binary_accuracy,
    bootstrap_miou_difference,
    confusion_matrix,
    count_accuracy,
    mean_iou,
    merge_confusion,
    miou_by_group,
    per_class_iou,
    pixel_accuracy,
    roc_auc,
    set_precision_recall,
    visible_count,
)
from damage_vision.training.losses import SegmentationLoss, ce_loss, dice_loss, focal_loss
from damage_vision.training.schedule import warmup_cosine, warmup_cosine_factor
from damage_vision.training.segmentation import epoch_line


def test_confusion_matrix_ignores_the_ignore_label() -> None:
    truth = np.array([[0, 0, 1], [1, 2, 255]])
    pred = np.array([[0, 1, 1], [1, 0, 2]])
    cm = confusion_matrix(truth, pred, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_confusion_matrix_rejects_out_of_range_labels() -> None:
    with pytest.raises(ValueError, match="labels must lie"):
        confusion_matrix(np.array([0, 3]), np.array([0, 0]), 3)


def test_iou_by_hand() -> None:
    cm = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 0]])
    # class 0: tp 1, union 2 + 2 - 1 = 3; class 1: tp 2, union 2 + 3 - 2 = 3; class 2: 0 / 1
    assert per_class_iou(cm).tolist() == pytest.approx([1 / 3, 2 / 3, 0.0])
    assert mean_iou(cm) == pytest.approx(1 / 3)
    assert pixel_accuracy(cm) == pytest.approx(3 / 5)


def test_classes_absent_everywhere_are_left_out_of_the_mean() -> None:
    cm = np.array([[3, 1, 0], [1, 3, 0], [0, 0, 0]])
    iou = per_class_iou(cm)
    assert math.isnan(iou[2])
    assert mean_iou(cm) == pytest.approx(0.6)  # (3/5 + 3/5) / 2


def test_visible_parts_and_count_accuracy() -> None:
    label = np.zeros((10, 10), dtype=np.uint8)
    label[0, :3] = 1  # 3 pixels
    label[1, :1] = 2  # 1 pixel
    label[9, 9] = 255
    assert visible_count(label, 3, min_share=0.02) == 1  # needs ceil(0.02 * 99) = 2 pixels
    assert visible_count(label, 3, min_share=0.0) == 2
    acc = count_accuracy([3, 5, 2, 0], [3, 4, 4, 0])
    assert (acc.exact, acc.within_one, acc.n) == (0.5, 0.75, 4)


def test_miou_by_group_sums_matrices_per_group() -> None:
    perfect = np.array([[2, 0], [0, 2]])
    wrong = np.array([[0, 2], [2, 0]])
    groups = miou_by_group([perfect, wrong, perfect], [1, 2, 1])
    assert groups == {1: {"miou": 1.0, "images": 2.0}, 2: {"miou": 0.0, "images": 1.0}}


def test_bootstrap_of_identical_models_is_zero() -> None:
    cms = np.stack([np.array([[5, 1], [2, 4]])] * 6)
    result = bootstrap_miou_difference(cms, cms, replicates=200)
    assert (result.difference, result.low, result.high) == (0.0, 0.0, 0.0)
    assert not result.significant


def test_bootstrap_detects_a_better_model() -> None:
    rng = np.random.default_rng(0)
    good, bad = [], []
    for _ in range(30):
        n = int(rng.integers(50, 100))
        good.append(np.array([[n, 2], [3, n]]))
        bad.append(np.array([[n - 20, 22], [23, n - 20]]))
    result = bootstrap_miou_difference(np.stack(good), np.stack(bad), replicates=500, seed=1)
    assert result.low > 0.0
    assert result.significant
    assert result.low <= result.difference <= result.high


def test_roc_auc_with_ties() -> None:
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert math.isnan(roc_auc([1, 1], [0.2, 0.3]))
    assert binary_accuracy([0, 0, 1, 1], [0.1, 0.6, 0.5, 0.8]) == pytest.approx(0.75)


def test_set_precision_recall() -> None:
    truth = [{"bumper", "hood"}, {"door_shell"}, set()]
    pred = [{"bumper"}, {"door_shell", "wheel"}, {"lamps"}]
    s = set_precision_recall(truth, pred)
    assert (s.true_positives, s.false_positives, s.false_negatives) == (2, 2, 1)
    assert s.precision == pytest.approx(0.5)
    assert s.recall == pytest.approx(2 / 3)
    assert s.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))


def test_dice_loss_by_hand() -> None:
    # 2 classes, 2 pixels; probabilities (0.75, 0.25) and (0.25, 0.75); targets 0 and 0
    p = torch.tensor([0.75, 0.25])
    logits = torch.log(torch.stack([p, p.flip(0)], dim=1)).reshape(1, 2, 1, 2)
    target = torch.tensor([[[0, 0]]])
    # class 0 only (class 1 absent): 2 * (0.75 + 0.25) / ((0.75 + 0.25) + 2) = 2/3
    assert float(dice_loss(logits, target)) == pytest.approx(1 - 2 / 3)


def test_dice_loss_skips_ignored_pixels_and_empty_heads() -> None:
    logits = torch.zeros(1, 3, 2, 2, requires_grad=True)
    target = torch.full((1, 2, 2), 255)
    loss = dice_loss(logits, target)
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert logits.grad is not None
    assert float(logits.grad.abs().sum()) == 0.0
    target[0, 0, 0] = 1
    # one valid pixel, uniform probability 1/3: 2 * (1/3) / (1/3 + 1) = 0.5
    assert float(dice_loss(logits, target).detach()) == pytest.approx(0.5)


def test_ce_and_focal_match_the_definitions() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 3, 3)
    target = torch.randint(0, 4, (2, 3, 3))
    target[0, 0, 0] = 255
    assert float(ce_loss(logits, target)) == pytest.approx(
        float(F.cross_entropy(logits, target, ignore_index=255))
    )
    assert float(focal_loss(logits, target, gamma=0.0)) == pytest.approx(
        float(ce_loss(logits, target)), rel=1e-6
    )
    assert float(focal_loss(logits, target, gamma=2.0)) < float(ce_loss(logits, target))
    assert float(ce_loss(logits, torch.full_like(target, 255))) == 0.0


def test_joint_loss_weights_the_heads() -> None:
    parts = torch.zeros(1, 2, 1, 1)
    damage = torch.zeros(1, 3, 1, 1)
    tp = torch.tensor([[[0]]])
    td = torch.tensor([[[1]]])
    ce = SegmentationLoss("ce", damage_weight=0.25)
    expected = 0.75 * math.log(2) + 0.25 * math.log(3)
    assert float(ce(parts, damage, tp, td)) == pytest.approx(expected)
    with pytest.raises(ValueError, match="dice, ce, focal, dice_ce"):
        SegmentationLoss("l2")  # type: ignore[arg-type]


def test_dice_ce_is_the_sum_of_both_on_each_head() -> None:
    torch.manual_seed(1)
    parts, damage = torch.randn(2, 3, 4, 4), torch.randn(2, 4, 4, 4)
    tp, td = torch.randint(0, 3, (2, 4, 4)), torch.randint(0, 4, (2, 4, 4))
    td[1] = 255  # a damage-free item: ignored pixels
    loss = SegmentationLoss("dice_ce", damage_weight=0.5)(parts, damage, tp, td)
    expected = 0.5 * (float(dice_loss(parts, tp)) + float(ce_loss(parts, tp))) + 0.5 * (
        float(dice_loss(damage, td)) + float(ce_loss(damage, td))
    )
    assert float(loss) == pytest.approx(expected)


def test_warmup_then_cosine() -> None:
    factors = [warmup_cosine_factor(s, warmup_steps=4, total_steps=8) for s in range(9)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[4] == pytest.approx(1.0)
    assert factors[6] == pytest.approx(0.5)
    assert factors[8] == pytest.approx(0.0)
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    sched = warmup_cosine(opt, 4, 8)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.25e-4)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5e-4)


def test_f1_is_zero_when_nothing_is_found() -> None:
    s = set_precision_recall([{"hood"}], [set()])
    assert math.isnan(s.precision)
    assert s.recall == 0.0
    assert s.f1 == 0.0


def test_merged_confusion_sums_the_fine_classes_on_both_axes() -> None:
    # fine classes: 0 background, 1 left door, 2 right door -> merged 0 background, 1 door
    cm = np.array([[50, 2, 3], [4, 20, 6], [1, 5, 30]])
    merged = merge_confusion(cm, [0, 1, 1], 2)
    # doors: truth rows 1-2 summed, prediction columns 1-2 summed; left-right mix-ups
    # (6 and 5 pixels) become correct door pixels
    assert merged.tolist() == [[50, 5], [5, 61]]
    assert merged.sum() == cm.sum()
    assert mean_iou(merged) == pytest.approx((50 / 60 + 61 / 71) / 2)
    with pytest.raises(ValueError, match="mapping has 2 entries"):
        merge_confusion(cm, [0, 1], 2)
    with pytest.raises(ValueError, match=r"merged classes must lie in \[0, 2\)"):
        merge_confusion(cm, [0, 1, 2], 2)


def test_epoch_line_names_a_head_without_labels_instead_of_nan() -> None:
    both = {"parts_miou": 0.61234, "damage_miou": 0.4, "total_miou": 0.5}
    assert epoch_line(3, 0.25, both, improved=True) == (
        "epoch 3: loss 0.2500, parts mIoU 0.6123, damage mIoU 0.4000 (best)"
    )
    damage_only = {"damage_miou": 0.4, "total_miou": 0.4}
    assert epoch_line(1, 0.5, damage_only, improved=False) == (
        "epoch 1: loss 0.5000, parts: no part labels, damage mIoU 0.4000"
    )
    parts_only = {"parts_miou": 0.7, "damage_miou": float("nan"), "total_miou": 0.7}
    assert epoch_line(1, 0.5, parts_only, improved=False) == (
        "epoch 1: loss 0.5000, parts mIoU 0.7000, damage: no damage labels"
    )
