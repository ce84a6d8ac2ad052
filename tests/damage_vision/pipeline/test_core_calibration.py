"""One capability's tests, sharing its fixtures: the calibrator's fit, JSON storage, validation on
load (a long table of malformed calibrators) and reliability, on the same synthetic evidence and
fitted calibrators.

The finding-confidence calibrator: equal to scikit-learn's, stored as JSON named by its
sha256, validated on load, and calibrated on data whose answer is known."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from damage_vision.evaluation.finding_metrics import reliability
from damage_vision.pipeline.calibration import (
    EVIDENCE,
    Calibrator,
    CalibratorError,
    calibrator_from_dict,
    feature_vector,
    fit_calibrator,
    load_calibrator,
    write_calibrator,
)

CLASSES = ("surface_damage", "deformity", "body_damage")
Rows = list[tuple[dict[str, float], str]]


def logistic(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-z))
    return out


def synthetic(n: int, seed: int) -> tuple[Rows, list[bool]]:
    """Findings whose correctness follows a known logistic model of `c_base` alone:
    P(correct) = 1 / (1 + exp(-8 (c_base - 0.55))). Every other evidence value is noise."""
    rng = np.random.default_rng(seed)
    rows: Rows = []
    for _ in range(n):
        evidence = {name: float(rng.normal()) for name in EVIDENCE}
        evidence["c_base"] = float(rng.uniform())
        rows.append((evidence, CLASSES[int(rng.integers(len(CLASSES)))]))
    c_base = np.asarray([e["c_base"] for e, _ in rows])
    correct = rng.uniform(size=n) < logistic(8.0 * (c_base - 0.55))
    return rows, [bool(v) for v in correct]


def matrix(rows: Rows, features: tuple[str, ...] = EVIDENCE) -> npt.NDArray[np.float64]:
    return np.asarray([feature_vector(e, d, features, CLASSES) for e, d in rows])


@pytest.fixture(scope="module")
def fitted() -> dict[str, Calibrator]:
    rows, correct = synthetic(400, seed=1)
    return {
        method: fit_calibrator(rows, correct, classes=CLASSES, method=method)
        for method in ("sigmoid", "isotonic")
    }


# Equal to scikit-learn ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
@pytest.mark.parametrize(
    ("features", "regularisation"),
    [(EVIDENCE, 0.03), (("c_base", "q90", "log_area"), 1.0)],
    ids=["all-evidence", "three-features"],
)
def test_fit_equals_scikit_learns_calibrated_classifier(
    method: str, features: tuple[str, ...], regularisation: float
) -> None:
    rows, correct = synthetic(300, seed=2)
    ours = fit_calibrator(
        rows,
        correct,
        features=features,
        classes=CLASSES,
        regularisation=regularisation,
        method=method,
    )
    x = matrix(rows, features)
    reference = CalibratedClassifierCV(
        make_pipeline(StandardScaler(), LogisticRegression(C=regularisation, max_iter=1000)),
        method=method,
        cv=5,
        ensemble=False,
    ).fit(x, np.asarray(correct))
    fresh_rows, _ = synthetic(200, seed=3)
    for data in (x, matrix(fresh_rows, features)):
        np.testing.assert_allclose(
            ours.probabilities(data), reference.predict_proba(data)[:, 1], rtol=0, atol=1e-12
        )
    assert ours.features == features
    assert ours.classes == CLASSES
    assert ours.method == method
    assert ours.mean.shape == ours.scale.shape == ours.coef.shape == (len(features) + 3,)
    assert dict(ours.meta) == {"findings": 300, "correct": sum(correct)}


def test_confidence_of_one_finding_is_its_row_of_probabilities(
    fitted: dict[str, Calibrator],
) -> None:
    rows, _ = synthetic(5, seed=4)
    for calibrator in fitted.values():
        expected = calibrator.probabilities(matrix(rows))
        got = [calibrator.confidence(e, d) for e, d in rows]
        assert all(isinstance(v, float) for v in got)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)  # one row vs a batch


def test_the_class_one_hot_follows_the_evidence() -> None:
    evidence = {"c_base": 0.7, "q90": 0.9, "extra": 5.0}
    assert feature_vector(evidence, "deformity", ("q90", "c_base"), CLASSES) == [
        0.9,
        0.7,
        0.0,
        1.0,
        0.0,
    ]
    # a class the calibrator was not fitted with is all zeros
    assert feature_vector(evidence, "other", ("c_base",), CLASSES) == [0.7, 0.0, 0.0, 0.0]


def test_a_missing_evidence_key_is_named() -> None:
    evidence = {"c_base": 0.7}
    with pytest.raises(CalibratorError) as excinfo:
        feature_vector(evidence, "deformity", ("c_base", "q90"), CLASSES)
    assert str(excinfo.value) == "finding evidence lacks 'q90'; known: ['c_base']"
    assert evidence == {"c_base": 0.7}


def test_a_row_of_the_wrong_width_is_refused(fitted: dict[str, Calibrator]) -> None:
    with pytest.raises(CalibratorError) as excinfo:
        fitted["sigmoid"].probabilities(np.zeros((2, 5)))
    assert str(excinfo.value) == f"expected {len(EVIDENCE) + 3} inputs a finding, got 5"


# Fitting refuses what it cannot fit -------------------------------------------------------


@pytest.mark.parametrize("outcome", [True, False])
def test_fit_refuses_findings_that_are_all_correct_or_all_wrong(outcome: bool) -> None:
    rows, _ = synthetic(20, seed=5)
    before = copy.deepcopy(rows)
    with pytest.raises(ValueError, match="need both correct and wrong") as excinfo:
        fit_calibrator(rows, [outcome] * 20, classes=CLASSES)
    assert str(excinfo.value) == "need both correct and wrong findings to fit a calibrator"
    assert rows == before


def test_fit_refuses_mismatched_outcomes_and_unknown_methods() -> None:
    rows, correct = synthetic(20, seed=5)
    with pytest.raises(ValueError, match="findings but") as excinfo:
        fit_calibrator(rows, correct[:-1], classes=CLASSES)
    assert str(excinfo.value) == "20 findings but 19 outcomes"
    with pytest.raises(ValueError, match="method must be") as excinfo:
        fit_calibrator(rows, correct, classes=CLASSES, method="beta")
    assert str(excinfo.value) == "method must be 'sigmoid' or 'isotonic', got 'beta'"


def test_a_calibration_that_runs_backwards_is_refused_not_written() -> None:
    # Signal-free evidence: the out-of-fold Platt map comes out with a positive slope
    # (higher score, lower probability); such a calibrator must never be stored.
    rng = np.random.default_rng(2)
    rows: Rows = [({k: float(rng.normal()) for k in EVIDENCE}, "deformity") for _ in range(60)]
    correct = [bool(rng.uniform() < 0.5) for _ in range(60)]
    with pytest.raises(ValueError, match="does not separate right from wrong"):
        fit_calibrator(rows, correct, classes=CLASSES, method="sigmoid")
    # Every calibrator that is fitted survives its own round trip.
    for seed in range(10):
        rng = np.random.default_rng(100 + seed)
        rows = [({k: float(rng.normal()) for k in EVIDENCE}, "deformity") for _ in range(200)]
        correct = [bool(rng.uniform() < 1 / (1 + np.exp(-2 * e["c_base"]))) for e, _ in rows]
        calibrator = fit_calibrator(rows, correct, classes=CLASSES, method="sigmoid")
        restored = calibrator_from_dict(json.loads(json.dumps(calibrator.to_dict())))
        assert restored.to_dict() == calibrator.to_dict()


# Stored as JSON --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_json_round_trip_gives_identical_probabilities(
    fitted: dict[str, Calibrator], method: str
) -> None:
    calibrator = fitted[method]
    restored = calibrator_from_dict(json.loads(json.dumps(calibrator.to_dict())))
    rows, _ = synthetic(300, seed=6)
    x = matrix(rows)
    assert np.array_equal(restored.probabilities(x), calibrator.probabilities(x))
    assert restored.features == calibrator.features
    assert restored.classes == calibrator.classes
    assert restored.method == method
    assert restored.platt == calibrator.platt
    assert dict(restored.meta) == dict(calibrator.meta)
    assert restored.to_dict() == calibrator.to_dict()


def test_to_dict_names_the_kind_and_format(fitted: dict[str, Calibrator]) -> None:
    data = fitted["isotonic"].to_dict()
    assert (data["format"], data["kind"]) == (1, "logistic+isotonic")
    assert data["features"] == list(EVIDENCE)
    assert data["classes"] == list(CLASSES)
    assert set(data) == {
        "format",
        "kind",
        "features",
        "classes",
        "mean",
        "scale",
        "coef",
        "intercept",
        "platt",
        "isotonic",
        "meta",
    }
    assert fitted["sigmoid"].to_dict()["kind"] == "logistic+sigmoid"


def test_write_calibrator_names_the_file_by_the_sha256_of_its_content(
    fitted: dict[str, Calibrator], tmp_path: Path
) -> None:
    name, digest = write_calibrator(fitted["isotonic"], tmp_path)
    path = tmp_path / name
    assert name == f"calibrator-{digest}.json"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert json.loads(path.read_text(encoding="utf-8")) == fitted["isotonic"].to_dict()
    rows, _ = synthetic(50, seed=7)
    loaded = load_calibrator(path)
    assert np.array_equal(
        loaded.probabilities(matrix(rows)), fitted["isotonic"].probabilities(matrix(rows))
    )
    # the same calibrator gives the same file; another one another file
    assert write_calibrator(fitted["isotonic"], tmp_path) == (name, digest)
    other, other_digest = write_calibrator(fitted["sigmoid"], tmp_path)
    assert other_digest != digest
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, other])


def test_load_calibrator_reports_an_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "calibrator-x.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(CalibratorError) as excinfo:
        load_calibrator(path)
    assert str(excinfo.value).startswith(f"cannot read calibrator {path}: Expecting")
    assert path.read_text(encoding="utf-8") == "{not json"


# Validation on load -----------------------------------------------------------------------


def valid(method: str = "sigmoid") -> dict[str, Any]:
    """A hand-written two-feature calibrator over the three classes (width 5)."""
    return {
        "format": 1,
        "kind": f"logistic+{method}",
        "features": ["c_base", "q90"],
        "classes": list(CLASSES),
        "mean": [0.5, 0.6, 0.3, 0.3, 0.4],
        "scale": [0.2, 0.2, 0.5, 0.5, 0.5],
        "coef": [1.0, 0.5, 0.1, -0.1, 0.0],
        "intercept": -0.2,
        "platt": [-1.5, 0.1],
        "isotonic": {"x": [-2.0, 0.0, 2.0], "y": [0.1, 0.5, 0.9]},
        "meta": {"findings": 10},
    }


def test_a_hand_written_calibrator_computes_what_it_says() -> None:
    sigmoid = calibrator_from_dict(valid())
    isotonic = calibrator_from_dict(valid("isotonic"))
    row = [0.7, 0.6, 0.0, 1.0, 0.0]  # c_base 0.7, q90 0.6, deformity
    # z = (0.2/0.2, 0, -0.3/0.5, 0.7/0.5, -0.4/0.5) = (1, 0, -0.6, 1.4, -0.8)
    score = 1.0 * 1.0 + 0.1 * -0.6 + -0.1 * 1.4 - 0.2
    assert sigmoid.raw_scores(np.asarray([row]))[0] == pytest.approx(score)  # 0.6
    assert sigmoid.confidence({"c_base": 0.7, "q90": 0.6}, "deformity") == pytest.approx(
        1.0 / (1.0 + np.exp(-1.5 * score + 0.1))
    )
    assert isotonic.confidence({"c_base": 0.7, "q90": 0.6}, "deformity") == pytest.approx(
        0.5 + 0.4 * score / 2.0
    )
    # beyond the knots the isotonic map is flat
    assert isotonic.probabilities(np.asarray([[10.0, 0, 0, 0, 0]]))[0] == pytest.approx(0.9)


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


KINDS = "('logistic+sigmoid', 'logistic+isotonic')"


@pytest.mark.parametrize(
    ("method", "change", "message"),
    [
        (
            "sigmoid",
            _set(("format",), 2),
            f"unknown calibrator format 2 / kind 'logistic+sigmoid'; expected format 1 and "
            f"one of {KINDS}",
        ),
        (
            "sigmoid",
            _set(("kind",), "boosting+isotonic"),
            f"unknown calibrator format 1 / kind 'boosting+isotonic'; expected format 1 and "
            f"one of {KINDS}",
        ),
        (
            "sigmoid",
            _set(("features",), ["c_base", "colour"]),
            f"calibrator uses unknown evidence ['colour']; known: {EVIDENCE}",
        ),
        (
            "sigmoid",
            _set(("coef",), [1.0, 0.5, 0.1, -0.1]),
            "scaler and coefficients must have 5 entries each",
        ),
        (
            "sigmoid",
            _set(("mean",), [0.5, 0.6, 0.3, 0.3, 0.4, 0.0]),
            "scaler and coefficients must have 5 entries each",
        ),
        (
            "sigmoid",
            _set(("classes",), ["surface_damage", "deformity"]),
            "scaler and coefficients must have 4 entries each",
        ),
        (
            "sigmoid",
            _set(("scale",), [0.2, 0.0, 0.5, 0.5, 0.5]),
            "the scaler and coefficients must be finite, the scale positive",
        ),
        (
            "sigmoid",
            _set(("scale",), [0.2, -1.0, 0.5, 0.5, 0.5]),
            "the scaler and coefficients must be finite, the scale positive",
        ),
        (
            "sigmoid",
            _set(("coef",), [1.0, float("nan"), 0.1, -0.1, 0.0]),
            "the scaler and coefficients must be finite, the scale positive",
        ),
        (
            "isotonic",
            _set(("isotonic", "x"), [-2.0, 2.0, 0.0]),
            "isotonic knots must be non-decreasing",
        ),
        (
            "isotonic",
            _set(("isotonic", "y"), [0.1, 0.9, 0.5]),
            "isotonic knots must be non-decreasing",
        ),
        (
            "isotonic",
            _set(("isotonic",), {"x": [0.0], "y": [0.5]}),
            "an isotonic map needs >= 2 knots, as many x as y",
        ),
        (
            "isotonic",
            _set(("isotonic", "y"), [0.1, 0.9]),
            "an isotonic map needs >= 2 knots, as many x as y",
        ),
        (
            "sigmoid",
            _set(("platt",), [0.5, 0.1]),
            "Platt slope a must be negative (higher score, higher p), got 0.5",
        ),
        (
            "sigmoid",
            _set(("platt",), [0.0, 0.1]),
            "Platt slope a must be negative (higher score, higher p), got 0.0",
        ),
        (
            "sigmoid",
            lambda data: data.pop("coef"),
            "calibrator is missing or has a malformed field: 'coef'",
        ),
    ],
    ids=[
        "format",
        "kind",
        "unknown-evidence",
        "short-coef",
        "long-mean",
        "class-count",
        "zero-scale",
        "negative-scale",
        "nan-coef",
        "iso-x-decreasing",
        "iso-y-decreasing",
        "one-knot",
        "knots-x-y-lengths",
        "positive-platt-slope",
        "zero-platt-slope",
        "missing-field",
    ],
)
def test_a_malformed_calibrator_is_refused_with_its_reason(
    method: str, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    data = valid(method)
    change(data)
    before = copy.deepcopy(data)
    with pytest.raises(CalibratorError) as excinfo:
        calibrator_from_dict(data)
    assert str(excinfo.value) == message
    assert json.dumps(data, sort_keys=True) == json.dumps(before, sort_keys=True)


def test_a_positive_platt_slope_is_harmless_for_an_isotonic_calibrator() -> None:
    data = valid("isotonic")
    data["platt"] = [0.5, 0.1]
    assert calibrator_from_dict(data).method == "isotonic"


# Calibrated on data whose answer is known ------------------------------------------------


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibrated_probabilities_are_reliable_on_fresh_data(method: str) -> None:
    rows, correct = synthetic(3000, seed=10)
    calibrator = fit_calibrator(rows, correct, classes=CLASSES, method=method)
    fresh_rows, fresh_correct = synthetic(5000, seed=11)
    p = calibrator.probabilities(matrix(fresh_rows))
    result = reliability(p, fresh_correct, bins=10)
    assert result.n == 5000
    assert result.ece < 0.05
    # and it follows the true model, which c_base alone (the paper's confidence) does not
    c_base = np.asarray([e["c_base"] for e, _ in fresh_rows])
    truth = logistic(8.0 * (c_base - 0.55))
    assert float(np.abs(p - truth).mean()) < 0.05
    assert reliability(c_base, fresh_correct).ece > 0.05
