"""Segmentation losses (dice by default, cross entropy, focal, dice + cross entropy) that
honour the ignore label.

A head whose targets in a batch are all `IGNORE_INDEX` (a damage-only batch for the parts
head) contributes a zero loss that still keeps the graph connected.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from damage_vision.data.coco import IGNORE_INDEX
from damage_vision.training.config import LOSSES

LossName = Literal["dice", "ce", "focal", "dice_ce"]


def dice_loss(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int = IGNORE_INDEX, eps: float = 1e-7
) -> torch.Tensor:
    """Multi-class soft dice loss: 1 - mean over classes present in the target of
    2 |p * y| / (|p| + |y|), with p the softmax and both sums over valid pixels of the batch
    (smp's `DiceLoss(mode="multiclass")` convention: classes absent from the target are
    left out of the mean)."""
    classes = logits.shape[1]
    valid = target != ignore_index
    probs = logits.softmax(dim=1) * valid.unsqueeze(1)
    onehot = F.one_hot(torch.where(valid, target, 0), classes).permute(0, 3, 1, 2).to(probs.dtype)
    onehot = onehot * valid.unsqueeze(1)
    dims = (0, 2, 3)
    intersection = (probs * onehot).sum(dims)
    cardinality = probs.sum(dims) + onehot.sum(dims)
    score = 2.0 * intersection / cardinality.clamp_min(eps)
    present = onehot.sum(dims) > 0
    if not bool(present.any()):
        return logits.sum() * 0.0
    return 1.0 - score[present].mean()


def focal_loss(
    logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """Multi-class focal loss (Lin et al. 2017, alpha = 1), mean over valid pixels."""
    valid = target != ignore_index
    if not bool(valid.any()):
        return logits.sum() * 0.0
    logp = F.log_softmax(logits, dim=1)
    safe = torch.where(valid, target, 0).unsqueeze(1)
    logp_t = logp.gather(1, safe).squeeze(1)
    loss = -((1.0 - logp_t.exp()) ** gamma) * logp_t
    return loss[valid].mean()


def ce_loss(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    if not bool((target != ignore_index).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits, target, ignore_index=ignore_index)


class SegmentationLoss(nn.Module):
    """(1 - lambda) * loss(parts) + lambda * loss(damage) (paper 1, joint model)."""

    def __init__(self, name: LossName = "dice", damage_weight: float = 0.5) -> None:
        super().__init__()
        if name not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {name!r}")
        if not 0.0 <= damage_weight <= 1.0:
            raise ValueError("damage_weight (lambda) must lie in [0, 1]")
        self.name = name
        self.damage_weight = damage_weight

    def single(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.name == "dice":
            return dice_loss(logits, target)
        if self.name == "focal":
            return focal_loss(logits, target)
        if self.name == "dice_ce":
            # Dice weighs every class present alike (thin damage counts); cross entropy
            # gives every pixel a gradient and keeps the probabilities honest.
            return dice_loss(logits, target) + ce_loss(logits, target)
        return ce_loss(logits, target)

    def forward(
        self,
        parts_logits: torch.Tensor,
        damage_logits: torch.Tensor,
        parts: torch.Tensor,
        damage: torch.Tensor,
    ) -> torch.Tensor:
        lam = self.damage_weight
        return (1.0 - lam) * self.single(parts_logits, parts) + lam * self.single(
            damage_logits, damage
        )
