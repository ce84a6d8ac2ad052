"""Part and damage taxonomies, loaded from the YAML files in `damage_vision/taxonomy/`.

A taxonomy is data, not code: its ordered classes (index 0 is background for parts and
"no damage" for damage), display colours, merge maps from source taxonomies or datasets,
and for damage taxonomies the Damage Severity Index type weight of every class.

    >>> parts = load_taxonomy("parts_reduced_dsmlr")
    >>> parts.classes[0], parts.num_classes
    ('background', 10)
    >>> lut = parts.lookup_from("carparts-dsmlr", ["_background_", "front_bumper", "tailgate"])
    >>> [parts.classes[i] for i in lut]
    ['background', 'bumper', 'trunk']

File format (one taxonomy per file, the file stem equals `name`)::

    name: damage_categorical
    kind: damage                       # parts | damage
    description: ...
    classes:                           # ordered; index 0 is background / no damage
      - {name: no_damage, colour: "#000000", dsi_weight: 0.0}
      - {name: surface_damage, colour: "#ffe119", dsi_weight: 55.0, nearest_cardd: scratch}
    merge_maps:                        # source taxonomy or dataset -> {source class: class}
      damage-bilgi: {cizik: surface_damage, ...}
    reference_parts:                   # parts only, optional: known physical sizes
      wheel: {area_cm2: 2800.0, sd_cm2: 600.0, shape: round, note: ...}
    max_areas:                         # parts only, optional: largest visible area, cm^2
      bumper: {area_cm2: 12000.0, note: ...}

`shape` (optional: `round` or `panel`) names the plausibility rules an instance of a
reference part must pass before it gives a scale (`damage_vision.pipeline.sizing`). A maximum
area bounds any damage on that part: an estimate above it is not shown. Reference and
maximum sizes must be positive, finite numbers, and a reference part may not be larger
than its own maximum.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import yaml

TAXONOMY_DIR = Path(__file__).resolve().parent

Kind = Literal["parts", "damage"]
RGB = tuple[int, int, int]
Shape = Literal["round", "panel"]
SHAPES: tuple[Shape, ...] = ("round", "panel")


class TaxonomyError(ValueError):
    """A taxonomy file is missing or malformed, or a class name is unknown."""


@dataclass(frozen=True)
class ReferencePart:
    """A part of roughly known physical size, used to estimate damage sizes in cm^2."""

    area_cm2: float  # visible area of the whole part, photographed roughly face-on
    sd_cm2: float  # one standard deviation across passenger car models
    note: str = ""
    shape: Shape | None = None  # plausibility rules of `damage_vision.pipeline.sizing`; None: none


@dataclass(frozen=True)
class MaxArea:
    """The largest visible area a part has on a passenger car: no damage on it is larger."""

    area_cm2: float
    note: str = ""


@dataclass(frozen=True)
class Taxonomy:
    """An ordered set of classes with colours, merge maps and (damage only) DSI weights."""

    name: str
    kind: Kind
    classes: tuple[str, ...]
    colours: tuple[RGB, ...]
    merge_maps: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    dsi_weights: Mapping[str, float] = field(default_factory=dict)
    nearest_cardd: Mapping[str, str] = field(default_factory=dict)
    reference_parts: Mapping[str, ReferencePart] = field(default_factory=dict)
    description: str = ""
    max_areas: Mapping[str, MaxArea] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.classes) < 2:
            raise TaxonomyError(f"taxonomy {self.name!r} needs a background and at least one class")
        if len(set(self.classes)) != len(self.classes):
            raise TaxonomyError(f"taxonomy {self.name!r} lists a class twice: {self.classes}")
        if len(self.colours) != len(self.classes):
            raise TaxonomyError(f"taxonomy {self.name!r}: one colour per class is required")
        if self.kind not in ("parts", "damage"):
            raise TaxonomyError(f"taxonomy {self.name!r}: kind must be parts or damage")
        if self.kind == "damage":
            missing = [c for c in self.classes if c not in self.dsi_weights]
            if missing:
                raise TaxonomyError(
                    f"damage taxonomy {self.name!r} needs a dsi_weight for every class; "
                    f"missing: {missing}"
                )
        for source, mapping in self.merge_maps.items():
            unknown = sorted(set(mapping.values()) - set(self.classes))
            if unknown:
                raise TaxonomyError(
                    f"merge map {source!r} -> {self.name!r} targets unknown classes {unknown}"
                )
        unknown_refs = sorted(set(self.reference_parts) - set(self.classes))
        if unknown_refs:
            raise TaxonomyError(f"taxonomy {self.name!r}: unknown reference parts {unknown_refs}")
        self._check_sizes()

    def _check_sizes(self) -> None:
        """Reference and maximum sizes: parts taxonomies only, known parts, sane numbers."""
        if self.kind != "parts" and (self.reference_parts or self.max_areas):
            raise TaxonomyError(
                f"taxonomy {self.name!r}: reference_parts and max_areas are for parts "
                "taxonomies only"
            )
        unknown = sorted(set(self.max_areas) - set(self.classes))
        if unknown:
            raise TaxonomyError(
                f"taxonomy {self.name!r}: max_areas names unknown classes {unknown}; "
                f"classes: {self.classes}"
            )
        if self.background in self.max_areas or self.background in self.reference_parts:
            raise TaxonomyError(
                f"taxonomy {self.name!r}: {self.background!r} is not a part; it has no size"
            )
        for name, limit in self.max_areas.items():
            _check_positive(limit.area_cm2, f"taxonomy {self.name!r} max_areas.{name}.area_cm2")
        for name, ref in self.reference_parts.items():
            where = f"taxonomy {self.name!r} reference_parts.{name}"
            _check_positive(ref.area_cm2, f"{where}.area_cm2")
            _check_positive(ref.sd_cm2, f"{where}.sd_cm2")
            if ref.shape is not None and ref.shape not in SHAPES:
                raise TaxonomyError(
                    f"{where}: shape must be one of {list(SHAPES)}, got {ref.shape!r}"
                )
            most = self.max_areas.get(name)
            if most is not None and ref.area_cm2 > most.area_cm2:
                raise TaxonomyError(
                    f"{where}: area_cm2 {ref.area_cm2:g} exceeds the part's maximum "
                    f"(max_areas.{name}: {most.area_cm2:g}); one of the two is wrong"
                )

    @property
    def num_classes(self) -> int:
        """Number of classes including background (the width of a model head)."""
        return len(self.classes)

    @property
    def background(self) -> str:
        """Name of class 0: background (parts) or no damage (damage)."""
        return self.classes[0]

    def index(self, name: str) -> int:
        """Index of a class by name; raises `TaxonomyError` naming the valid classes."""
        try:
            return self.classes.index(name)
        except ValueError:
            raise TaxonomyError(
                f"{name!r} is not a class of taxonomy {self.name!r}; classes: {self.classes}"
            ) from None

    def max_area_cm2(self, name: str) -> float | None:
        """Largest visible area of part `name` in cm^2, or None when the YAML gives none."""
        self.index(name)
        limit = self.max_areas.get(name)
        return None if limit is None else limit.area_cm2

    @property
    def largest_max_area_cm2(self) -> float | None:
        """The largest of the parts' maximum areas (None when no part has one)."""
        return max((m.area_cm2 for m in self.max_areas.values()), default=None)

    def colour(self, name: str) -> RGB:
        return self.colours[self.index(name)]

    def palette(self) -> npt.NDArray[np.uint8]:
        """Colours as a (num_classes, 3) uint8 array, indexable by a label map."""
        return np.asarray(self.colours, dtype=np.uint8).reshape(-1, 3)

    def dsi_weight(self, name: str) -> float:
        """D_i of the severity index for a damage class."""
        if self.kind != "damage":
            raise TaxonomyError(f"{self.name!r} is a parts taxonomy; it has no DSI weights")
        self.index(name)
        return float(self.dsi_weights[name])

    def merge_map(self, source: str) -> Mapping[str, str]:
        """Source class name -> class name of this taxonomy, for a source taxonomy or dataset."""
        if source == self.name:
            return {c: c for c in self.classes}
        try:
            return self.merge_maps[source]
        except KeyError:
            raise TaxonomyError(
                f"taxonomy {self.name!r} has no merge map from {source!r}; "
                f"known sources: {sorted(self.merge_maps)}"
            ) from None

    def lookup_from(self, source: str, source_classes: Sequence[str]) -> npt.NDArray[np.int64]:
        """Index array `lut` with `lut[i]` = index here of `source_classes[i]`.

        `source_classes` are the source's class names in the order of its label ids, so
        `lut[source_label_map]` converts a label map. A source class absent from the merge
        map raises `TaxonomyError` (map it to background explicitly in the YAML instead).
        """
        mapping = self.merge_map(source)
        missing = [c for c in source_classes if c not in mapping]
        if missing:
            raise TaxonomyError(
                f"merge map {source!r} -> {self.name!r} does not say where {missing} go; "
                f"add them to {self.name}.yaml"
            )
        return np.array([self.index(mapping[c]) for c in source_classes], dtype=np.int64)

    def convert(
        self, source: Taxonomy, label_map: npt.NDArray[np.integer]
    ) -> npt.NDArray[np.uint8]:
        """Relabel a label map of taxonomy `source` into this taxonomy."""
        lut = self.lookup_from(source.name, source.classes).astype(np.uint8)
        return lut[label_map]


def _check_positive(value: float, where: str) -> None:
    if not (math.isfinite(value) and value > 0):
        raise TaxonomyError(f"{where} must be a finite number of cm^2 above 0, got {value!r}")


def _number(entry: Mapping[str, Any], key: str, where: str) -> float:
    if key not in entry:
        raise TaxonomyError(f"{where}: {key} is required (a number of cm^2)")
    value = entry[key]
    # bool is an int in Python; `true` in YAML is surely a typo, not a size.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TaxonomyError(f"{where}: {key} must be a number of cm^2, got {value!r}")
    return float(value)


def _entries(data: Mapping[str, Any], section: str, keys: set[str], where: str) -> dict[str, Any]:
    """The `section` mapping of a taxonomy file: part name -> mapping with only `keys`."""
    raw = data.get(section) or {}
    if not isinstance(raw, Mapping):
        raise TaxonomyError(f"{where}: {section} must map part names to entries, got {raw!r}")
    entries: dict[str, Any] = {}
    for part, entry in raw.items():
        at = f"{where} {section}.{part}"
        if not isinstance(entry, Mapping):
            raise TaxonomyError(f"{at}: expected a mapping like {{area_cm2: ...}}, got {entry!r}")
        extra = sorted(set(entry) - keys)
        if extra:
            raise TaxonomyError(f"{at}: unknown keys {extra}; allowed: {sorted(keys)}")
        entries[str(part)] = entry
    return entries


def _parse_colour(value: Any, where: str) -> RGB:
    if isinstance(value, str) and value.startswith("#") and len(value) == 7:
        return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))
    if isinstance(value, list | tuple) and len(value) == 3:
        r, g, b = (int(v) for v in value)
        return (r, g, b)
    raise TaxonomyError(f"{where}: colour must be '#rrggbb' or [r, g, b], got {value!r}")


def taxonomy_from_dict(data: Mapping[str, Any], where: str = "<dict>") -> Taxonomy:
    """Build a `Taxonomy` from the parsed YAML structure described in the module docstring."""
    try:
        raw_classes = data["classes"]
        name = str(data["name"])
        kind = data["kind"]
    except (KeyError, TypeError) as exc:
        raise TaxonomyError(f"{where}: needs name, kind and classes ({exc})") from None
    classes: list[str] = []
    colours: list[RGB] = []
    weights: dict[str, float] = {}
    nearest: dict[str, str] = {}
    for i, entry in enumerate(raw_classes):
        if not isinstance(entry, Mapping) or "name" not in entry:
            raise TaxonomyError(f"{where}: class {i} needs at least a name")
        cname = str(entry["name"])
        classes.append(cname)
        colours.append(_parse_colour(entry.get("colour", "#000000"), f"{where} class {cname}"))
        if "dsi_weight" in entry:
            weights[cname] = float(entry["dsi_weight"])
        if "nearest_cardd" in entry:
            nearest[cname] = str(entry["nearest_cardd"])
    merge_maps = {
        str(src): MappingProxyType({str(k): str(v) for k, v in (m or {}).items()})
        for src, m in (data.get("merge_maps") or {}).items()
    }
    refs: dict[str, ReferencePart] = {}
    ref_keys = {"area_cm2", "sd_cm2", "note", "shape"}
    for part, ref in _entries(data, "reference_parts", ref_keys, where).items():
        at = f"{where} reference_parts.{part}"
        shape = ref.get("shape")
        if shape is not None and shape not in SHAPES:
            raise TaxonomyError(f"{at}: shape must be one of {list(SHAPES)}, got {shape!r}")
        refs[part] = ReferencePart(
            area_cm2=_number(ref, "area_cm2", at),
            sd_cm2=_number(ref, "sd_cm2", at),
            note=str(ref.get("note", "")),
            shape=shape,
        )
    max_areas = {
        part: MaxArea(
            area_cm2=_number(entry, "area_cm2", f"{where} max_areas.{part}"),
            note=str(entry.get("note", "")),
        )
        for part, entry in _entries(data, "max_areas", {"area_cm2", "note"}, where).items()
    }
    return Taxonomy(
        name=name,
        kind=kind,
        classes=tuple(classes),
        colours=tuple(colours),
        merge_maps=MappingProxyType(merge_maps),
        dsi_weights=MappingProxyType(weights),
        nearest_cardd=MappingProxyType(nearest),
        reference_parts=MappingProxyType(refs),
        description=str(data.get("description", "")),
        max_areas=MappingProxyType(max_areas),
    )


def load_taxonomy_file(path: str | Path) -> Taxonomy:
    """Load one taxonomy YAML file (for taxonomies kept outside the package)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TaxonomyError(f"cannot read taxonomy file {path}: {exc}") from None
    return taxonomy_from_dict(data, where=str(path))


@functools.cache
def load_taxonomy(name: str) -> Taxonomy:
    """Load a shipped taxonomy by name, e.g. `parts_reduced_dsmlr` or `damage_categorical`."""
    path = TAXONOMY_DIR / f"{name}.yaml"
    if not path.is_file():
        raise TaxonomyError(
            f"unknown taxonomy {name!r}; shipped taxonomies: {available_taxonomies()}"
        )
    taxonomy = load_taxonomy_file(path)
    if taxonomy.name != name:
        raise TaxonomyError(f"{path} declares name {taxonomy.name!r}; it must equal the file stem")
    return taxonomy


def available_taxonomies(kind: Kind | None = None) -> list[str]:
    """Names of the shipped taxonomies, optionally only those of one kind."""
    names = sorted(p.stem for p in TAXONOMY_DIR.glob("*.yaml"))
    if kind is None:
        return names
    return [n for n in names if load_taxonomy(n).kind == kind]


def resolve_taxonomy(taxonomy: str | Taxonomy) -> Taxonomy:
    """Accept a taxonomy or its name."""
    return taxonomy if isinstance(taxonomy, Taxonomy) else load_taxonomy(taxonomy)
