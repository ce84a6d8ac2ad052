"""A finding's confidence as a probability: evidence features and their calibrator.

Each finding carries the evidence of its own pixels (`finding_evidence`): the mean and
upper quantile of its class probability, the margin to the second damage class, its size,
the share of its part it covers, how sure the part model is there, how compact it is, how
many fragments were merged, and its damage class. A calibrator maps the evidence to the
probability that the finding is correct (at least half of it on labelled damage of its
class): a logistic regression on standardised features, then an isotonic map fitted on
out-of-fold predictions (scikit-learn's `CalibratedClassifierCV`, `ensemble=False`).

The fitted calibrator is stored as a small JSON file beside the weights (named and
checked by its sha256 like them): the scaler, the coefficients and the isotonic knots,
applied here with numpy, so no pickle is ever loaded and inference needs no scikit-learn.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FORMAT = 1
# Evidence computed for every finding; a calibrator uses a subset (its `features`).
EVIDENCE = (
    "c_base",  # mean probability of the finding's class over its pixels (the paper's C_base)
    "q90",  # 90th percentile of that probability
    "margin",  # mean (top class - second class) damage probability
    "log_area",  # log10 of the finding's share of the photo
    "share_of_part",  # share of its part it covers (1 for "other_panel")
    "part_certainty",  # mean top part probability over its pixels
    "part_cover",  # share of the whole damage lying on this finding's part
    "fill",  # pixels / bounding-box pixels
    "fragments",  # damage fragments merged into it (log2(1 + n))
    "other_panel",  # 1 when on a part the part model does not label
    "visible_parts",  # parts visible in the photo / 10
    "peak",  # highest probability of its class over its pixels
    "damage_mass",  # mean probability of any damage (1 - P(no damage))
    "border",  # 1 when it touches the photo's border
    "relative_area",  # its area / the area of the photo's largest finding
    "photo_findings",  # log2 of the number of findings in the photo
)


class CalibratorError(ValueError):
    """A calibrator file is malformed or does not fit the model version."""


def feature_vector(
    evidence: Mapping[str, float], damage: str, features: Sequence[str], classes: Sequence[str]
) -> list[float]:
    """The model's input for one finding: its evidence, then its class one-hot."""
    try:
        values = [float(evidence[name]) for name in features]
    except KeyError as exc:
        raise CalibratorError(f"finding evidence lacks {exc}; known: {sorted(evidence)}") from None
    return values + [1.0 if damage == c else 0.0 for c in classes]


@dataclass(frozen=True)
class Calibrator:
    """Logistic regression on standardised evidence, then a Platt or isotonic map."""

    features: tuple[str, ...]
    classes: tuple[str, ...]  # damage classes one-hot encoded after the features
    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    coef: npt.NDArray[np.float64]
    intercept: float
    method: str  # "sigmoid" (Platt: 1 / (1 + exp(a s + b))) or "isotonic" (knots)
    platt: tuple[float, float]  # (a, b) for "sigmoid"
    iso_x: npt.NDArray[np.float64]  # knots for "isotonic"
    iso_y: npt.NDArray[np.float64]
    meta: Mapping[str, Any]

    def raw_scores(self, x: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """The logistic regression's decision function (log-odds), what the isotonic map
        was fitted on."""
        z = (np.asarray(x, dtype=np.float64) - self.mean) / self.scale
        scores: npt.NDArray[np.float64] = z @ self.coef + self.intercept
        return scores

    def probabilities(self, x: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """Calibrated probabilities for rows of `x` (features then class one-hot)."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if x.shape[1] != self.mean.size:
            raise CalibratorError(f"expected {self.mean.size} inputs a finding, got {x.shape[1]}")
        scores = self.raw_scores(x)
        if self.method == "sigmoid":
            a, b = self.platt
            out: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(a * scores + b))
        else:
            out = np.interp(scores, self.iso_x, self.iso_y)
        return np.clip(out, 0.0, 1.0)

    def confidence(self, evidence: Mapping[str, float], damage: str) -> float:
        row = feature_vector(evidence, damage, self.features, self.classes)
        return float(self.probabilities(np.asarray([row]))[0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "kind": f"logistic+{self.method}",
            "features": list(self.features),
            "classes": list(self.classes),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "platt": list(self.platt),
            "isotonic": {"x": self.iso_x.tolist(), "y": self.iso_y.tolist()},
            "meta": dict(self.meta),
        }


def calibrator_from_dict(data: Mapping[str, Any]) -> Calibrator:
    """Parse and validate a calibrator dictionary (the JSON file's content)."""
    kinds = ("logistic+sigmoid", "logistic+isotonic")
    if data.get("format") != FORMAT or data.get("kind") not in kinds:
        raise CalibratorError(
            f"unknown calibrator format {data.get('format')!r} / kind {data.get('kind')!r}; "
            f"expected format 1 and one of {kinds}"
        )
    method = str(data["kind"]).split("+", 1)[1]
    try:
        features = tuple(str(f) for f in data["features"])
        classes = tuple(str(c) for c in data["classes"])
        mean = np.asarray(data["mean"], dtype=np.float64)
        scale = np.asarray(data["scale"], dtype=np.float64)
        coef = np.asarray(data["coef"], dtype=np.float64)
        iso_x = np.asarray(data["isotonic"]["x"], dtype=np.float64)
        iso_y = np.asarray(data["isotonic"]["y"], dtype=np.float64)
        intercept = float(data["intercept"])
        a, b = (float(v) for v in data.get("platt", (0.0, 0.0)))
    except (KeyError, TypeError, ValueError) as exc:
        raise CalibratorError(f"calibrator is missing or has a malformed field: {exc}") from None
    unknown = sorted(set(features) - set(EVIDENCE))
    if unknown:
        raise CalibratorError(f"calibrator uses unknown evidence {unknown}; known: {EVIDENCE}")
    width = len(features) + len(classes)
    if not (mean.shape == scale.shape == coef.shape == (width,)):
        raise CalibratorError(f"scaler and coefficients must have {width} entries each")
    if (scale <= 0).any() or not np.isfinite(np.concatenate([mean, scale, coef])).all():
        raise CalibratorError("the scaler and coefficients must be finite, the scale positive")
    if method == "isotonic":
        if iso_x.size < 2 or iso_x.shape != iso_y.shape:
            raise CalibratorError("an isotonic map needs >= 2 knots, as many x as y")
        if (np.diff(iso_x) < 0).any() or (np.diff(iso_y) < 0).any():
            raise CalibratorError("isotonic knots must be non-decreasing")
    elif a >= 0:
        raise CalibratorError(f"Platt slope a must be negative (higher score, higher p), got {a}")
    return Calibrator(
        features,
        classes,
        mean,
        scale,
        coef,
        intercept,
        method,
        (a, b),
        iso_x,
        iso_y,
        dict(data.get("meta", {})),
    )


def load_calibrator(path: str | Path) -> Calibrator:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CalibratorError(f"cannot read calibrator {path}: {exc}") from None
    return calibrator_from_dict(data)


def write_calibrator(calibrator: Calibrator, directory: Path) -> tuple[str, str]:
    """Write `calibrator-<sha256>.json` into `directory`; returns (file name, sha256)."""
    text = json.dumps(calibrator.to_dict(), indent=1) + "\n"
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    name = f"calibrator-{digest}.json"
    (directory / name).write_text(text, encoding="utf-8")
    return name, digest


def fit_calibrator(
    rows: Sequence[tuple[Mapping[str, float], str]],
    correct: Sequence[bool],
    *,
    features: Sequence[str] = EVIDENCE,
    classes: Sequence[str],
    folds: int = 5,
    regularisation: float = 0.03,
    method: str = "sigmoid",
    meta: Mapping[str, Any] | None = None,
) -> Calibrator:
    """Fit on (evidence, damage class) rows and their outcomes (see the module docstring)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if method not in ("sigmoid", "isotonic"):
        raise ValueError(f"method must be 'sigmoid' or 'isotonic', got {method!r}")
    y = np.asarray(correct, dtype=bool)
    if len(rows) != y.size:
        raise ValueError(f"{len(rows)} findings but {y.size} outcomes")
    if y.all() or not y.any():
        raise ValueError("need both correct and wrong findings to fit a calibrator")
    x = np.asarray([feature_vector(e, d, features, classes) for e, d in rows], dtype=np.float64)
    base = make_pipeline(StandardScaler(), LogisticRegression(C=regularisation, max_iter=1000))
    model = CalibratedClassifierCV(base, method=method, cv=folds, ensemble=False)
    model.fit(x, y)
    fitted = model.calibrated_classifiers_[0]
    scaler = fitted.estimator.named_steps["standardscaler"]
    logistic = fitted.estimator.named_steps["logisticregression"]
    mapping = fitted.calibrators[0]
    iso_x = getattr(mapping, "X_thresholds_", np.zeros(0))
    iso_y = getattr(mapping, "y_thresholds_", np.zeros(0))
    platt = (float(getattr(mapping, "a_", 0.0)), float(getattr(mapping, "b_", 0.0)))
    if method == "sigmoid" and platt[0] >= 0:
        raise ValueError(
            f"on these {y.size} findings the evidence does not separate right from wrong ones "
            "(the fitted Platt map runs backwards); label more photos, or use "
            "method='isotonic'"
        )
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    return Calibrator(
        features=tuple(features),
        classes=tuple(classes),
        mean=np.asarray(scaler.mean_, dtype=np.float64),
        scale=np.asarray(scale, dtype=np.float64),
        coef=np.asarray(logistic.coef_[0], dtype=np.float64),
        intercept=float(logistic.intercept_[0]),
        method=method,
        platt=platt,
        iso_x=np.asarray(iso_x, dtype=np.float64),
        iso_y=np.asarray(iso_y, dtype=np.float64),
        meta={"findings": int(y.size), "correct": int(y.sum()), **dict(meta or {})},
    )
