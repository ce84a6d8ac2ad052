"""Part and damage taxonomies, loaded from the YAML files in `inference/core/taxonomies/`.

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
      wheel: {area_cm2: 2800.0, sd_cm2: 600.0, note: ...}
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import yaml

TAXONOMY_DIR = Path(__file__).resolve().parent / "taxonomies"

Kind = Literal["parts", "damage"]
RGB = tuple[int, int, int]


class TaxonomyError(ValueError):
    """A taxonomy file is missing or malformed, or a class name is unknown."""


@dataclass(frozen=True)
class ReferencePart:
    """A part of roughly known physical size, used to estimate damage sizes in cm^2."""

    area_cm2: float  # visible area of the whole part, photographed roughly face-on
    sd_cm2: float  # one standard deviation across passenger car models
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
    refs = {
        str(part): ReferencePart(
            area_cm2=float(ref["area_cm2"]),
            sd_cm2=float(ref["sd_cm2"]),
            note=str(ref.get("note", "")),
        )
        for part, ref in (data.get("reference_parts") or {}).items()
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
