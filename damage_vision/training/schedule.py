"""Learning-rate schedule of paper 1: linear warm-up, then one-cycle cosine decay."""

from __future__ import annotations

import math

import torch


def warmup_cosine_factor(
    step: int, warmup_steps: int, total_steps: int, floor: float = 0.0
) -> float:
    """Multiplier of the base rate at `step` (0-based): (step + 1) / warmup_steps during the
    warm-up, then a half cosine from 1 down to `floor` at `total_steps`."""
    if total_steps <= 0:
        raise ValueError("total_steps must be positive")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, floor: float = 0.0
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step `LambdaLR` with `warmup_cosine_factor`."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine_factor(step, warmup_steps, total_steps, floor)
    )
