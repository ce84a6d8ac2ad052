"""Multi-view synthesis of a case's photos, confidence refinement and routing (SPEC 7-9).

Only usable photos take part (those with `set_aside_reason is None`); indices always refer
to positions in the input sequence.

- Views: photos with identical visible part sets show the same perspective.
- Close-ups: a photo whose (non-empty) visible parts are a proper subset of another's is
  its close-up; it maps to the smallest such superset (ties: the lowest index).
- Ledger: one row per (part, damage type) seen in any usable photo.
  `C_base` of a row = the highest C_base of its regions; its `confidence` the highest
  (calibrated) confidence.
  `K_agree` = photos showing it / photos that could see it, where "could see" is
  `denominator="visible"`: usable photos where the part is visible (plus those showing
  the finding, so that K_agree <= 1 even when a tiny part fell under the visibility
  cut-off; background is visible everywhere, "other_panel" only where it is shown), or
  `denominator="all"`: all usable photos (Ma et al. divide by all submitted photos).
  `C_refined = confidence * K_agree` (Ma et al. use C_base, which is `confidence` for a
  version without a calibrator); a row needs review when C_refined is below the threshold
  (`damage_vision.release`).
- Severity: a row's score is the mean S_i of its regions; the case DSI is the mean over
  rows (0 when there are none), so one damage photographed five times counts once.
- Routing: the case needs review when any row does, or when no photo is usable (there is
  nothing a machine could release).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from damage_vision.pipeline.settings import Denominator
from damage_vision.pipeline.severity import case_dsi, dsi
from damage_vision.pipeline.types import CaseFinding, CaseResult
from damage_vision.release import needs_review


class _Scored(Protocol):
    @property
    def score(self) -> float: ...


class SeenFinding(Protocol):
    """What the synthesis reads of a finding (a `DamagedPart` is one): never its mask."""

    @property
    def part(self) -> str: ...
    @property
    def damage(self) -> str: ...
    @property
    def c_base(self) -> float: ...
    @property
    def confidence(self) -> float: ...
    @property
    def severity(self) -> _Scored: ...


class SeenPhoto(Protocol):
    """What the synthesis reads of a photo's result (a `PhotoResult` is one)."""

    @property
    def set_aside_reason(self) -> str | None: ...
    @property
    def visible_parts(self) -> frozenset[str]: ...
    @property
    def findings(self) -> Sequence[SeenFinding]: ...


def group_views(parts: Sequence[tuple[int, frozenset[str]]]) -> tuple[tuple[int, ...], ...]:
    """Photo indices grouped by identical visible part sets, groups ordered by first index."""
    groups: dict[frozenset[str], list[int]] = {}
    for index, visible in parts:
        groups.setdefault(visible, []).append(index)
    return tuple(tuple(g) for g in sorted(groups.values(), key=lambda g: g[0]))


def find_close_ups(parts: Sequence[tuple[int, frozenset[str]]]) -> dict[int, int]:
    """Close-up photo -> its wider view (the smallest proper superset, then lowest index)."""
    close_ups: dict[int, int] = {}
    for index, visible in parts:
        if not visible:
            continue
        wider = [(len(v), j) for j, v in parts if visible < v]
        if wider:
            close_ups[index] = min(wider)[1]
    return close_ups


def synthesise_case(
    photos: Sequence[SeenPhoto],
    threshold: float,
    denominator: Denominator = "visible",
    background_part: str = "background",
) -> CaseResult:
    """Ledger, agreement, refined confidence, routing and DSI of one case.

    `threshold`: the model version's confidence threshold. `background_part`: the name of
    the part taxonomy's class 0 (a damage on it can be seen from any photo).
    """
    if denominator not in ("visible", "all"):
        raise ValueError(f"denominator must be 'visible' or 'all', got {denominator!r}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    usable = [(i, p) for i, p in enumerate(photos) if p.set_aside_reason is None]
    parts = [(i, p.visible_parts) for i, p in usable]

    shown_in: dict[tuple[str, str], set[int]] = defaultdict(set)
    best_c_base: dict[tuple[str, str], float] = defaultdict(float)
    best_confidence: dict[tuple[str, str], float] = defaultdict(float)
    scores: dict[tuple[str, str], list[float]] = defaultdict(list)
    order: dict[tuple[str, str], tuple[int, int]] = {}
    for i, photo in usable:
        for position, finding in enumerate(photo.findings):
            key = (finding.part, finding.damage)
            shown_in[key].add(i)
            best_c_base[key] = max(best_c_base[key], finding.c_base)
            best_confidence[key] = max(best_confidence[key], finding.confidence)
            scores[key].append(finding.severity.score)
            order.setdefault(key, (i, position))

    rows: list[CaseFinding] = []
    for key in sorted(shown_in, key=lambda k: order[k]):
        part, damage = key
        agreeing = shown_in[key]
        if denominator == "all":
            could_see = {i for i, _ in usable}
        else:
            # Which photos could see a panel the part model does not label is unknown:
            # only those that show the damage count. Background (versions that named it)
            # is visible from every photo, as before.
            could_see = {
                i for i, p in usable if part == background_part or part in p.visible_parts
            } | agreeing
        k_agree = len(agreeing) / len(could_see)
        c_base = best_c_base[key]
        confidence = best_confidence[key]
        c_refined = confidence * k_agree
        rows.append(
            CaseFinding(
                part=part,
                damage=damage,
                photo_indices=tuple(sorted(agreeing)),
                c_base=c_base,
                k_agree=k_agree,
                c_refined=c_refined,
                needs_review=needs_review(c_refined, threshold),
                severity_score=dsi(scores[key]),
                confidence=confidence,
            )
        )
    return CaseResult(
        findings=tuple(rows),
        dsi=case_dsi(scores[(r.part, r.damage)] for r in rows),
        views=group_views(parts),
        close_ups=find_close_ups(parts),
        needs_review=any(r.needs_review for r in rows) or not usable,
        usable_photos=tuple(i for i, _ in usable),
    )
