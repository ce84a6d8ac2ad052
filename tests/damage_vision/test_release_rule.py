"""One rule releases a finding (damage_vision.release): every caller asks it, and the
comparison of a confidence with a threshold is written nowhere else in the product."""

from __future__ import annotations

import re

import numpy as np
import pytest

from damage_vision.release import needs_review, released, released_mask
from tests.conftest import product_sources

# A confidence (C_refined, a finding's confidence, an array of scores) on one side of an
# ordering comparison and a threshold on the other.
COMPARISON = re.compile(
    r"(?:c_refined|confidence|\bconf\b|\bscores?\b|\bs\b)\s*(?:<=?|>=?)\s*[\w.\[\]()]*threshold"
    r"|threshold\s*(?:<=?|>=?)\s*[\w.\[\]()]*(?:c_refined|confidence|\bconf\b)"
)


# Cuts that are not the release of a finding: (file, the line's text).
NOT_RELEASE = {
    # the vehicle classifier's accuracy at its probability cut (module 1, not a finding)
    ("damage_vision/evaluation/metrics.py", "return float(((s >= threshold) == y).mean())"),
}


def test_the_rule_at_the_threshold() -> None:
    assert released(0.9, 0.9)
    assert not needs_review(0.9, 0.9)
    assert needs_review(0.8999, 0.9)
    assert not released(0.99, 1.0)  # a threshold of 1.0 sends everything below it to a person
    assert released_mask([0.1, 0.5, 0.7], 0.5).tolist() == [False, True, True]
    assert released_mask(np.array([]), 0.5).shape == (0,)


@pytest.mark.parametrize(
    "line",
    [
        "needs_review=c_refined < version.threshold,",
        "if f.c_refined >= f.model_version.threshold:",
        "released = conf >= threshold",
        "released = s >= threshold if threshold is not None else",
        "x = TO_CHECK if f.c_refined < threshold else HIGH",
    ],
)
def test_the_guard_recognises_the_comparison(line: str) -> None:
    assert COMPARISON.search(line)


def test_no_comparison_outside_the_rule() -> None:
    offenders = []
    for name, source in product_sources():
        if name == "damage_vision/release.py":
            continue
        for number, line in enumerate(source.splitlines(), 1):
            code = line.split("#", 1)[0]
            if any(name == f and text in code for f, text in NOT_RELEASE):
                continue
            if COMPARISON.search(code):
                offenders.append(f"{name}:{number}: {line.strip()}")
    assert not offenders, "use damage_vision.release instead of comparing:\n" + "\n".join(offenders)
