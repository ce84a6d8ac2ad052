"""The one rule for releasing a finding without a person (SPEC 9): a finding is released
when its refined confidence reaches its model version's threshold, and goes to an
adjuster when it is below. Everything that routes, lists, reports or evaluates findings
asks here; a test fails when the comparison is written anywhere else.

`released_mask` is the same rule over an array of confidences (evaluation and the
Learn-then-Test threshold choice, which measure what a threshold would release).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def released(c_refined: float, threshold: float) -> bool:
    """True when a finding with this refined confidence needs no person."""
    return c_refined >= threshold


def needs_review(c_refined: float, threshold: float) -> bool:
    """True when a finding with this refined confidence waits for an adjuster."""
    return not released(c_refined, threshold)


def released_mask(confidences: npt.ArrayLike, threshold: float) -> npt.NDArray[np.bool_]:
    """`released` for each confidence of an array."""
    return np.asarray(confidences, dtype=np.float64) >= threshold
