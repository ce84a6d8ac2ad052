"""Public datasets a training run may add to the reviewed labels (under the data root,
`$DAMAGE_DATA_DIR` or `../shared/data`); offered only when their files are there."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from damage_vision.data.paths import CONFIGS_DIR, DataNotFoundError, data_root

SPLITS = CONFIGS_DIR / "splits"


@dataclass(frozen=True)
class PublicSource:
    name: str
    head: str  # the head its labels train: parts or damage
    coco: str  # relative to the data root
    exclude: Path | None = None  # file names kept out (a validation split)
    description: str = ""

    def config_entry(self, *, root: Path, limit: int) -> dict[str, object]:
        entry: dict[str, object] = {
            "head": self.head,
            "coco": str(root / self.coco),
            "limit": limit,
        }
        if self.exclude is not None:
            entry["exclude"] = str(self.exclude)
        return entry


# The validation halves (damage-bilgi valid, the carparts-dsmlr val list) are left out: the
# shipped versions' calibrators and evaluations use them.
PUBLIC_SOURCES: dict[str, PublicSource] = {
    s.name: s
    for s in (
        PublicSource(
            "damage-bilgi train",
            "damage",
            "damage-bilgi/train/_annotations.coco.json",
            description="damage polygons (surface, deformity, body damage)",
        ),
        PublicSource(
            "carparts-dsmlr train",
            "parts",
            "carparts-dsmlr/train/annotations.json",
            exclude=SPLITS / "carparts-dsmlr-val.txt",
            description="car part polygons, its validation list left out",
        ),
    )
}


def available_sources() -> list[PublicSource]:
    """The public sources whose annotation file exists under the data root."""
    try:
        root = data_root()
    except DataNotFoundError:
        return []
    return [s for s in PUBLIC_SOURCES.values() if (root / s.coco).is_file()]
