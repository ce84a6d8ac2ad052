"""Bootstrap comparison of two segmentation models on the same images (paper 1, II-E)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from damage_vision.evaluation.metrics import bootstrap_miou_difference


def load_per_image(report_or_npz: Path) -> tuple[np.ndarray, list[str]]:
    """Per-image confusion matrices and image names written by `evaluate --out`."""
    path = report_or_npz
    if path.suffix == ".json":
        path = path.with_suffix(".npz")
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing; run `evaluate --out {path.with_suffix('.json')}` first"
        )
    data = np.load(path)
    return data["confusion"].astype(np.int64), [str(n) for n in data["images"]]


def compare_reports(
    a: Path, b: Path, replicates: int = 5000, seed: int = 0, confidence: float = 0.95
) -> dict[str, Any]:
    """mIoU(a) - mIoU(b) and its bootstrap interval over the images both reports share."""
    cms_a, names_a = load_per_image(a)
    cms_b, names_b = load_per_image(b)
    if names_a != names_b:
        common = sorted(set(names_a) & set(names_b))
        if not common:
            raise ValueError("the two reports share no image; evaluate both on the same set")
        ia = {n: i for i, n in enumerate(names_a)}
        ib = {n: i for i, n in enumerate(names_b)}
        cms_a = cms_a[[ia[n] for n in common]]
        cms_b = cms_b[[ib[n] for n in common]]
    result = bootstrap_miou_difference(cms_a, cms_b, replicates, confidence, seed)
    return {
        "a": str(a),
        "b": str(b),
        "images": int(cms_a.shape[0]),
        "miou_difference": round(result.difference, 6),
        "ci_low": round(result.low, 6),
        "ci_high": round(result.high, 6),
        "confidence": confidence,
        "replicates": replicates,
        "significant": result.significant,
    }
