"""Metrics of paper 1 (Ma et al. 2023, section II-E) and the rest of the evaluation harness.

All functions take numpy arrays and return plain numbers or arrays; nothing here imports
torch. Conventions:

- a confusion matrix `cm[t, p]` counts pixels of true class t predicted as p; pixels
  labelled `ignore_index` are left out;
- IoU of class c = cm[c, c] / (row c + column c - cm[c, c]); a class absent from both the
  labels and the predictions has no IoU (NaN) and is left out of the mean (mIoU).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def confusion_matrix(
    truth: npt.NDArray[np.integer],
    pred: npt.NDArray[np.integer],
    num_classes: int,
    ignore_index: int = 255,
) -> IntArray:
    """(num_classes, num_classes) pixel counts, rows = truth, columns = prediction."""
    t = np.asarray(truth).ravel().astype(np.int64)
    p = np.asarray(pred).ravel().astype(np.int64)
    if t.shape != p.shape:
        raise ValueError(f"truth has {t.size} pixels, prediction {p.size}; resize one first")
    keep = t != ignore_index
    t, p = t[keep], p[keep]
    if t.size and (t.max() >= num_classes or p.max() >= num_classes or min(t.min(), p.min()) < 0):
        raise ValueError(f"labels must lie in [0, {num_classes}) or equal {ignore_index}")
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def per_class_iou(cm: IntArray) -> FloatArray:
    """IoU of each class; NaN where the class is in neither truth nor prediction."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    union = cm.sum(axis=0) + cm.sum(axis=1) - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, tp / np.where(union > 0, union, 1.0), np.nan)


def mean_iou(cm: IntArray) -> float:
    """Mean of the defined per-class IoUs (NaN if none is defined)."""
    iou = per_class_iou(cm)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")


def merge_confusion(cm: IntArray, mapping: Sequence[int], num_merged: int) -> IntArray:
    """A confusion matrix over merged classes: fine class i counts as merged class
    `mapping[i]`, for truth and prediction alike (how a model trained on a fine taxonomy
    is scored on a merged one, paper 1 Table III)."""
    cm = np.asarray(cm, dtype=np.int64)
    index = np.asarray(mapping, dtype=np.int64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or index.shape != (cm.shape[0],):
        raise ValueError(f"mapping has {index.size} entries for a {cm.shape} confusion matrix")
    if index.size and (index.min() < 0 or index.max() >= num_merged):
        raise ValueError(f"merged classes must lie in [0, {num_merged})")
    onehot = np.zeros((cm.shape[0], num_merged), dtype=np.int64)
    onehot[np.arange(cm.shape[0]), index] = 1
    merged: IntArray = onehot.T @ cm @ onehot
    return merged


def pixel_accuracy(cm: IntArray) -> float:
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")


def visible_count(
    label: npt.NDArray[np.integer], num_classes: int, min_share: float, ignore_index: int = 255
) -> int:
    """Number of non-background classes covering at least `min_share` of the labelled
    pixels (at least one pixel) of a label map."""
    flat = np.asarray(label).ravel()
    flat = flat[flat != ignore_index]
    if flat.size == 0:
        return 0
    counts = np.bincount(flat.astype(np.int64), minlength=num_classes)[:num_classes]
    minimum = max(1, int(np.ceil(min_share * flat.size)))
    return int((counts[1:] >= minimum).sum())


@dataclass(frozen=True)
class CountAccuracy:
    exact: float
    within_one: float
    n: int


def count_accuracy(true_counts: Sequence[int], pred_counts: Sequence[int]) -> CountAccuracy:
    """Share of images whose predicted number of parts equals the true one, and is within 1."""
    t = np.asarray(true_counts, dtype=np.int64)
    p = np.asarray(pred_counts, dtype=np.int64)
    if t.shape != p.shape:
        raise ValueError("one predicted count per true count is needed")
    if t.size == 0:
        return CountAccuracy(float("nan"), float("nan"), 0)
    diff = np.abs(t - p)
    return CountAccuracy(float((diff == 0).mean()), float((diff <= 1).mean()), int(t.size))


def miou_by_group(
    cms: Sequence[IntArray], groups: Sequence[int]
) -> dict[int, dict[str, float | int]]:
    """mIoU of the summed confusion matrices of each group (e.g. number of visible parts)."""
    out: dict[int, dict[str, float | int]] = {}
    for g in sorted(set(groups)):
        members = [cm for cm, k in zip(cms, groups, strict=True) if k == g]
        out[int(g)] = {"miou": mean_iou(np.sum(members, axis=0)), "images": len(members)}
    return out


@dataclass(frozen=True)
class BootstrapResult:
    difference: float  # mIoU(a) - mIoU(b) on the full set
    low: float
    high: float
    replicates: int
    confidence: float

    @property
    def significant(self) -> bool:
        """The interval excludes 0 (the paper's criterion)."""
        return self.low > 0 or self.high < 0


def bootstrap_miou_difference(
    cms_a: npt.NDArray[np.int64],
    cms_b: npt.NDArray[np.int64],
    replicates: int = 5000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapResult:
    """Non-parametric bootstrap of mIoU(a) - mIoU(b) over images (paper 1, section II-E).

    `cms_a`, `cms_b`: (images, C, C) per-image confusion matrices of two models on the same
    images. Each replicate resamples images with replacement, sums their matrices and takes
    the difference of the two mIoUs; the interval is the percentile interval.
    """
    a = np.asarray(cms_a, dtype=np.int64)
    b = np.asarray(cms_b, dtype=np.int64)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"need two (images, C, C) stacks of equal shape, got {a.shape}, {b.shape}")
    n = a.shape[0]
    rng = np.random.default_rng(seed)
    diffs = np.empty(replicates, dtype=np.float64)
    for r in range(replicates):
        counts = np.bincount(rng.integers(0, n, size=n), minlength=n)
        diffs[r] = mean_iou(np.tensordot(counts, a, axes=1)) - mean_iou(
            np.tensordot(counts, b, axes=1)
        )
    alpha = (1.0 - confidence) / 2.0
    low, high = np.nanquantile(diffs, [alpha, 1.0 - alpha])
    return BootstrapResult(
        difference=mean_iou(a.sum(axis=0)) - mean_iou(b.sum(axis=0)),
        low=float(low),
        high=float(high),
        replicates=replicates,
        confidence=confidence,
    )


def roc_auc(
    labels: Sequence[int] | npt.NDArray[np.integer], scores: Sequence[float] | FloatArray
) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties); NaN when only
    one class is present."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(s.size, dtype=np.float64)
    sorted_s = s[order]
    i = 0
    while i < s.size:
        j = i
        while j + 1 < s.size and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def binary_accuracy(
    labels: Sequence[int] | npt.NDArray[np.integer],
    scores: Sequence[float] | FloatArray,
    threshold: float = 0.5,
) -> float:
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    return float(((s >= threshold) == y).mean()) if y.size else float("nan")


@dataclass(frozen=True)
class SetScores:
    precision: float
    recall: float
    f1: float
    true_positives: int
    false_positives: int
    false_negatives: int


def set_precision_recall(
    truth: Iterable[Iterable[str]], predicted: Iterable[Iterable[str]]
) -> SetScores:
    """Micro-averaged precision, recall and F1 of per-photo sets of names (damaged parts):
    a name counts as a true positive when it is in both sets of the same photo."""
    tp = fp = fn = 0
    for t, p in zip(truth, predicted, strict=True):
        ts, ps = set(t), set(p)
        tp += len(ts & ps)
        fp += len(ps - ts)
        fn += len(ts - ps)
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    return SetScores(precision, recall, f1, tp, fp, fn)
