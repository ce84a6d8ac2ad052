"""What a finished review round keeps, as one typed value: the damages the reviewed report
counts (`KeptDamage`) and the report's figures (`ReviewOutcome`). It is derived once, from
the decisions in force when an adjuster finishes (`review.selectors.reviewed_outcome`),
stored with the report (`ReviewedReport.outcome`, as `to_json` writes it) and read back
by everyone who shows or exports the report: the customer's page and PDF, the reviewed
overlays, the label export and the shadow evaluation. It never imports Django.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from damage_vision.pipeline.severity import case_dsi
from damage_vision.pipeline.severity import dsi as mean_score
from review.rle import Rle, RleError

SOURCES = ("model", "accepted", "edited", "added")
SHAPES = ("mask", "box")


class OutcomeError(ValueError):
    """A stored outcome cannot be read; the message says which value is wrong."""


@dataclass(frozen=True)
class KeptDamage:
    """A damage a reviewed report counts: a model finding kept (undecided above its
    version's threshold, accepted, or redrawn) or one an adjuster added.

    `score` is S_i, with confidence 1 once a person saw the damage; `area_cm2` the model's
    size, scaled to the redrawn mask for an edit, None for an added damage. `mask` and
    `box` ([x0, y0, x1, y1], exclusive) live in `grid` (width, height): the model's
    processed grid for a finding kept as the model drew it, the photo's full size for
    what an adjuster drew."""

    part: str
    damage: str
    photo_id: int
    photo_number: int  # the photo's number in the case, as the report's rows name photos
    # Its number on the customer's reviewed photo: 1, 2, ... in the kept list's order on
    # that photo (the model's findings, then the added ones), no gap for a rejected one.
    number: int
    score: float
    area_cm2: float | None
    shape: str  # "mask" | "box" (the mask is the filled box)
    source: str  # "model" | "accepted" | "edited" | "added"
    finding_id: int | None  # the model finding it comes from; None when added
    decision_id: int | None  # the adjuster's decision; None when kept undecided
    box: tuple[int, int, int, int]
    grid: tuple[int, int]
    mask: Rle

    @property
    def checked(self) -> bool:
        """A person looked at it (every source but the model's own)."""
        return self.source != "model"

    def to_json(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "damage": self.damage,
            "photo": self.photo_id,
            "photo_number": self.photo_number,
            "number": self.number,
            "score": self.score,
            "area_cm2": self.area_cm2,
            "shape": self.shape,
            "source": self.source,
            "finding": self.finding_id,
            "decision": self.decision_id,
            "box": list(self.box),
            "grid": list(self.grid),
            "mask": self.mask.as_coco(),
        }

    @classmethod
    def from_json(cls, value: object) -> KeptDamage:
        item = _object(value, "a kept damage")
        source = _str(item, "source")
        shape = _str(item, "shape")
        if source not in SOURCES:
            raise OutcomeError(f"a kept damage's source is {source!r}, not one of {SOURCES}")
        if shape not in SHAPES:
            raise OutcomeError(f"a kept damage's shape is {shape!r}, not one of {SHAPES}")
        box = _ints(item, "box", 4)
        grid = _ints(item, "grid", 2)
        try:
            mask = Rle.from_coco(item.get("mask"))
        except RleError as exc:
            raise OutcomeError(f"a kept damage's mask: {exc}") from None
        area = item.get("area_cm2")
        return cls(
            part=_str(item, "part"),
            damage=_str(item, "damage"),
            photo_id=_int(item, "photo"),
            photo_number=_int(item, "photo_number"),
            number=_int(item, "number"),
            score=_float(item, "score"),
            area_cm2=None if area is None else _float(item, "area_cm2"),
            shape=shape,
            source=source,
            finding_id=_optional_int(item, "finding"),
            decision_id=_optional_int(item, "decision"),
            box=(box[0], box[1], box[2], box[3]),
            grid=(grid[0], grid[1]),
            mask=mask,
        )


@dataclass(frozen=True)
class DamagedPartRow:
    """One row of the reviewed report: a (part, damage) pair and the damages showing it."""

    part: str
    damage: str
    photos: tuple[int, ...]  # photo numbers, in the order the kept list first names them
    sources: tuple[str, ...]  # one per kept damage of the row, in the kept list's order

    def to_json(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "damage": self.damage,
            "photos": list(self.photos),
            "sources": list(self.sources),
        }

    @classmethod
    def from_json(cls, value: object) -> DamagedPartRow:
        row = _object(value, "a damaged-part row")
        return cls(
            part=_str(row, "part"),
            damage=_str(row, "damage"),
            photos=tuple(_ints(row, "photos")),
            sources=tuple(_strs(row, "sources")),
        )


@dataclass(frozen=True)
class ReviewOutcome:
    """A reviewed report: what it keeps and its figures, as the adjuster finished it.

    A photo's DSI is the mean S_i of what it shows; the case's is the mean over its rows
    (part, damage type), each row the mean of its damages' S_i, as in the model's
    synthesis, rounded to 4 places as the report stores it."""

    kept: tuple[KeptDamage, ...]  # by photo and finding number, then the added ones
    rejected_findings: tuple[int, ...]  # model findings an adjuster rejected
    dsi: float
    photo_dsi: Mapping[int, float]  # by photo id, for the photos that show a kept damage
    damaged_parts: tuple[DamagedPartRow, ...]  # by part, then damage

    @property
    def rejected(self) -> int:
        return len(self.rejected_findings)

    @property
    def added(self) -> int:
        return sum(1 for k in self.kept if k.source == "added")

    @property
    def kept_findings(self) -> int:
        """Model findings the report keeps (what `ReviewedReport.kept` counts)."""
        return len(self.kept) - self.added

    @classmethod
    def of(cls, *, kept: Iterable[KeptDamage], rejected_findings: Iterable[int]) -> ReviewOutcome:
        """The report of `kept` damages: its rows and figures."""
        kept = tuple(kept)
        photos: dict[tuple[str, str], list[int]] = {}
        sources: dict[tuple[str, str], list[str]] = {}
        by_photo: dict[int, list[float]] = {}
        by_row: dict[tuple[str, str], list[float]] = {}
        for k in kept:
            key = (k.part, k.damage)
            numbers = photos.setdefault(key, [])
            if k.photo_number not in numbers:
                numbers.append(k.photo_number)
            sources.setdefault(key, []).append(k.source)
            by_photo.setdefault(k.photo_id, []).append(k.score)
            by_row.setdefault(key, []).append(k.score)
        return cls(
            kept=kept,
            rejected_findings=tuple(rejected_findings),
            dsi=round(case_dsi(by_row.values()), 4),
            photo_dsi={photo: mean_score(scores) for photo, scores in by_photo.items()},
            damaged_parts=tuple(
                DamagedPartRow(key[0], key[1], tuple(photos[key]), tuple(sources[key]))
                for key in sorted(photos)
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kept": [k.to_json() for k in self.kept],
            "rejected_findings": list(self.rejected_findings),
            "dsi": self.dsi,
            "photo_dsi": {str(photo): value for photo, value in self.photo_dsi.items()},
            "damaged_parts": [r.to_json() for r in self.damaged_parts],
        }

    @classmethod
    def from_json(cls, value: object) -> ReviewOutcome:
        """The outcome `to_json` wrote; `OutcomeError` for anything else."""
        data = _object(value, "a reviewed report's outcome")
        photo_dsi = data.get("photo_dsi")
        if not isinstance(photo_dsi, dict):
            raise OutcomeError("'photo_dsi' must be an object of photo id to DSI")
        try:
            per_photo = {int(photo): _number(v) for photo, v in photo_dsi.items()}
        except ValueError:
            raise OutcomeError("'photo_dsi' must map photo ids to numbers") from None
        return cls(
            kept=tuple(KeptDamage.from_json(k) for k in _list(data, "kept")),
            rejected_findings=tuple(_ints(data, "rejected_findings")),
            dsi=_float(data, "dsi"),
            photo_dsi=per_photo,
            damaged_parts=tuple(DamagedPartRow.from_json(r) for r in _list(data, "damaged_parts")),
        )


# Reading JSON -----------------------------------------------------------------------------


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise OutcomeError(f"expected {what} as an object, got {type(value).__name__}")
    return value


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise OutcomeError(f"{key!r} must be a list")
    return value


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise OutcomeError(f"{key!r} must be a string")
    return value


def _strs(data: dict[str, Any], key: str) -> list[str]:
    values = _list(data, key)
    if not all(isinstance(v, str) for v in values):
        raise OutcomeError(f"{key!r} must be a list of strings")
    return values


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise OutcomeError(f"{key!r} must be a whole number")
    return value


def _optional_int(data: dict[str, Any], key: str) -> int | None:
    return None if data.get(key) is None else _int(data, key)


def _ints(data: dict[str, Any], key: str, length: int | None = None) -> list[int]:
    values = _list(data, key)
    if not all(_is_int(v) for v in values) or (length is not None and len(values) != length):
        size = f"{length} " if length is not None else ""
        raise OutcomeError(f"{key!r} must be a list of {size}whole numbers")
    return [int(v) for v in values]


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"not a number: {value!r}")
    return float(value)


def _float(data: dict[str, Any], key: str) -> float:
    try:
        return _number(data.get(key))
    except ValueError:
        raise OutcomeError(f"{key!r} must be a number") from None
