"""Plain words for the customer's report: the one place that turns taxonomy class names,
severity scores, sizes and review states into what a claimant reads (the case page and the
PDF). Adjusters keep the precise figures on their own pages.

Every class of every shipped taxonomy (damage_vision/taxonomy/*.yaml) has an entry
below; tests/portal/test_customer_report.py checks that none is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Part classes of parts_original, parts_reduced, parts_dsmlr and parts_reduced_dsmlr, and
# "other_panel" (damage on a panel the part model does not label).
PART_WORDS: dict[str, str] = {
    "background": "other body panel",  # never shown by the pipeline; kept for old rows
    "other_panel": "other body panel",
    "front_bumper": "front bumper",
    "rear_bumper": "rear bumper",
    "back_bumper": "rear bumper",
    "bumper": "bumper",
    "grille": "grille",
    "front_lamps": "headlamp",
    "fog_lamps": "fog lamp",
    "rear_lamps": "rear lamp",
    "lamps": "lamp",
    "front_left_light": "front left lamp",
    "front_right_light": "front right lamp",
    "back_left_light": "rear left lamp",
    "back_right_light": "rear right lamp",
    "front_fender": "front wing",
    "fender": "wing",
    "windshield": "windscreen",
    "front_glass": "windscreen",
    "windshield_pillar": "windscreen pillar",
    "front_door_shell": "front door",
    "rear_door_shell": "rear door",
    "door_shell": "door",
    "front_left_door": "front left door",
    "front_right_door": "front right door",
    "back_left_door": "rear left door",
    "back_right_door": "rear right door",
    "hood": "bonnet",
    "wheel": "wheel",
    "door_glass": "door window",
    "quarter_glass": "small side window",
    "window": "side window",
    "back_window": "rear window",
    "back_glass": "rear window",
    "roof": "roof",
    "mirror": "door mirror",
    "left_mirror": "left door mirror",
    "right_mirror": "right door mirror",
    "rocker_panel": "sill below the doors",
    "rear_quarter_panel": "rear wing",
    "panel": "body panel",
    "lower_rear_cover": "lower rear panel",
    "trunk": "boot lid",
    "tailgate": "tailgate",
}

# Damage classes of damage_categorical, _original, _reduced, _binary, _cardd and _bilgi.
DAMAGE_WORDS: dict[str, str] = {
    "no_damage": "no damage",
    "damage": "damage",
    # damage_categorical (Ma et al.'s final choice)
    "surface_damage": "scratch or paint damage",
    "deformity": "dent or deformation",
    "body_damage": "broken or missing part",
    # damage_original and damage_reduced
    "paint_chip": "paint chip",
    "scratch": "scratch",
    "dent": "dent",
    "crack": "crack",
    "corrosion": "rust",
    "missing": "missing part",
    "broken": "broken",
    "other": "rust or missing part",
    # damage_cardd (the detector)
    "glass_shatter": "shattered glass",
    "lamp_broken": "broken lamp",
    "tire_flat": "flat tyre",
    # damage_bilgi (Turkish class names)
    "airbag": "airbag went off",
    "astar": "paint off down to the primer",
    "cam_catlagi": "cracked glass",
    "cizik": "scratch",
    "far_hasar": "damaged headlamp",
    "gocuk": "dent",
    "kaput_hasar": "damaged bonnet",
    "kirik-kayip": "broken or missing part",
}


def _fallback(name: str) -> str:
    # A class of a taxonomy added later: readable words rather than an identifier.
    return re.sub(r"[_-]+", " ", name).strip() or "damage"


def part_words(name: str) -> str:
    return PART_WORDS.get(name, _fallback(name))


def damage_words(name: str) -> str:
    return DAMAGE_WORDS.get(name, _fallback(name))


# Severity (the Damage Severity Index, 0-100) in words. S_i = 0.4 area + 0.2 confidence +
# 0.4 type weight, so a small scratch an adjuster checked scores about 43, a small dent
# about 48, a small crack or broken part about 60, and only a large area or a crack over
# a sizeable part reaches 65.
SEVERITY_MEDIUM_FROM = 45.0
SEVERITY_SEVERE_FROM = 65.0
SEVERITY_CUTOFFS_TEXT = (
    f"light below {SEVERITY_MEDIUM_FROM:.0f}, medium {SEVERITY_MEDIUM_FROM:.0f} to "
    f"{SEVERITY_SEVERE_FROM - 1:.0f}, severe {SEVERITY_SEVERE_FROM:.0f} and above"
)
SEVERITY_MEANS = "how much of the visible car is damaged and how badly; 0 is none"
# Why figures can move after a review although nothing was changed: a damage an adjuster
# checked counts as certain (the index's confidence term).
SEVERITY_AFTER_REVIEW = (
    "after an adjuster's check, every damage kept counts as certain, so a severity can be "
    "higher than before the check"
)
# Why the claim's figure may differ from a photo's: the same damage in three photos counts
# once for the claim (review/services.report_compute, damage_vision/synthesis.py).
PER_PHOTO_NOTE = "the claim counts each damaged part once, however many photos show it"


def severity_number(score: float) -> int:
    """The score people read: a whole number, halves rounded up (44.5 -> 45)."""
    return int(score + 0.5)


def severity_word(score: float) -> str:
    value = severity_number(score)
    if value <= 0:
        return "none"
    if value < SEVERITY_MEDIUM_FROM:
        return "light"
    if value < SEVERITY_SEVERE_FROM:
        return "medium"
    return "severe"


def severity_sentence(score: float | None) -> str:
    """'Severity 52 of 100: how much of the visible car is damaged and how badly; 0 is none'."""
    if score is None:
        return "Severity: not known yet"
    return f"Severity {severity_number(score)} of 100: {SEVERITY_MEANS}"


def size_words(area_cm2: float | None, *, box: bool = False) -> str:
    """'about 0.4 m²' (from 0.1 m²), 'about 150 cm²' below; '' when the size is not known.

    A detector box is larger than the damage inside it, so its size is an upper bound."""
    if not area_cm2 or area_cm2 <= 0:
        return ""
    if area_cm2 >= 1000:
        text = f"{area_cm2 / 10000:.1f} m²"
    elif area_cm2 >= 100:
        text = f"{round(area_cm2, -1):.0f} cm²"  # two significant figures: 153 -> 150
    else:
        text = f"{max(1, round(area_cm2)):.0f} cm²"
    return f"{'up to about' if box else 'about'} {text}"


# The case's status as its customer reads it. A contest sends the case back to an adjuster,
# but a photo sent with the contest is processed like any other, and processing may set
# the case's status back to "released" while the contest's review round is still open: the
# customer reads that their contest is being reviewed until the adjuster finishes it.
CONTEST_UNDER_REVIEW = "Your contest is being reviewed"
# Statuses that say something the contest does not change: photos still being processed,
# a failure, photos to add, or the adjuster's finished check.
STATUSES_OVER_A_CONTEST = ("processing", "needs_photos", "reviewed")


def case_status_words(*, status: str, display: str, contest_pending: bool) -> str:
    """What the status badge of a customer's case says: `display` (the status's label),
    or that their contest is being reviewed while a contest waits for a finished review."""
    if contest_pending and status not in STATUSES_OVER_A_CONTEST:
        return CONTEST_UNDER_REVIEW
    return display


# Who stands behind a row, as people read it.
CHECKED = "checked by an adjuster"
HIGH = "high"
TO_CHECK = "to be checked"

# What the adjuster changed, by the source of the reviewed row (`review.services`).
CHANGES = {"edited": "changed by the adjuster", "added": "added by the adjuster"}


def changes_words(sources: Iterable[str]) -> str:
    found = set(sources)
    return "; ".join(text for source, text in CHANGES.items() if source in found)


def row_sentence(*, part: str, damage: str, severity: float | None, size: str) -> str:
    """'Front bumper: scratch, medium, about 0.4 m²' from class names and figures."""
    words = [damage_words(damage)]
    if severity is not None:
        words.append(severity_word(severity))
    if size:
        words.append(size)
    text = part_words(part)
    return f"{text[:1].upper()}{text[1:]}: {', '.join(words)}"


# "no vehicle found (probability 0.12); take a photo ..." -> without the model's number.
_PROBABILITY = re.compile(r"\s*\((?:probability|p|confidence)\s*[=:]?\s*[0-9.]+%?\)", re.I)


def set_aside_words(reason: str) -> str:
    return _PROBABILITY.sub("", reason).strip().rstrip(".")


def failure_words(error: str) -> str:
    """The reason a photo failed (written for customers by the worker), without numbers
    of the model; a generic one when there is none."""
    text = set_aside_words(error)
    return text or "an unexpected error; press Retry, or add the photo again"
