"""COCO segmentation datasets: polygons, uncompressed and compressed RLE, mapped by category
name onto a taxonomy and rasterised once into cached label maps.

Variants handled:

- Roboflow exports: `file_name` beside the JSON, an unused supercategory (id 0, e.g. `car`);
- COCO-Annotator exports (carparts-dsmlr): `path` such as `JPEGImages/x.jpg`, a
  `_background_` category, `iscrowd: false`;
- the label snapshots of reviewed claims (`learning/labels.py`): compressed RLE at full
  size, images in `images/`.

Category names, not ids, decide the class: `category_lookup` maps them through a merge map
of the taxonomy (`merge_maps` in its YAML, found automatically for the public datasets) or
through a mapping file (`load_mapping`) for any other dataset.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml
from PIL import Image
from pycocotools import mask as mask_utils

from damage_vision.data.paths import DataNotFoundError, cache_root
from damage_vision.taxonomy import Taxonomy, TaxonomyError

IGNORE_INDEX = 255
"""Label of pixels (or whole heads) that contribute to no loss and no metric."""

LabelMap = npt.NDArray[np.uint8]
CACHE_FORMAT = 1  # bump when rasterisation changes, to invalidate cached label maps


class CocoFormatError(ValueError):
    """The COCO file cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class CocoAnnotation:
    image_id: int
    category_id: int
    segmentation: Any
    bbox: tuple[float, float, float, float]
    area: float
    iscrowd: bool


@dataclass(frozen=True)
class CocoImage:
    id: int
    file_name: str
    width: int
    height: int
    path: Path


@dataclass
class CocoDataset:
    """A parsed COCO file: images (with resolved paths), categories and annotations."""

    annotation_file: Path
    images: list[CocoImage]
    categories: dict[int, str]
    annotations: dict[int, list[CocoAnnotation]] = field(default_factory=dict)

    def used_categories(self) -> list[str]:
        """Names of the categories that at least one annotation uses, by id order."""
        used = {a.category_id for anns in self.annotations.values() for a in anns}
        return [self.categories[i] for i in sorted(used)]

    def subset(self, file_names: Iterable[str]) -> CocoDataset:
        """Only the images whose `file_name` is listed (order of this dataset kept)."""
        wanted = set(file_names)
        images = [im for im in self.images if im.file_name in wanted]
        missing = wanted - {im.file_name for im in images}
        if missing:
            raise CocoFormatError(
                f"{len(missing)} listed images are not in {self.annotation_file}, e.g. "
                f"{sorted(missing)[:3]}"
            )
        ids = {im.id for im in images}
        return CocoDataset(
            self.annotation_file,
            images,
            dict(self.categories),
            {k: v for k, v in self.annotations.items() if k in ids},
        )


def _resolve_image(entry: Mapping[str, Any], json_dir: Path, images_dir: Path | None) -> Path:
    file_name = str(entry["file_name"])
    rel = str(entry.get("path") or file_name)
    bases = [b for b in (images_dir, json_dir) if b is not None]
    candidates = []
    for base in bases:
        candidates += [base / file_name, base / rel, base / "images" / file_name]
        candidates += [base / "JPEGImages" / file_name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return candidates[0]


def load_coco(annotation_file: str | Path, images_dir: str | Path | None = None) -> CocoDataset:
    """Parse a COCO file; image paths are resolved against `images_dir`, then the JSON's folder
    (also `images/` and `JPEGImages/` below them). Raises `CocoFormatError` or
    `DataNotFoundError` with what to fix."""
    path = Path(annotation_file)
    if not path.is_file():
        raise DataNotFoundError(f"no COCO annotation file at {path}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CocoFormatError(f"{path} is not valid JSON: {exc}") from None
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            raise CocoFormatError(f"{path} has no {key!r} list; is it a COCO detection file?")
    base = Path(images_dir) if images_dir is not None else None
    images = []
    for entry in doc["images"]:
        if entry.get("deleted"):
            continue
        images.append(
            CocoImage(
                id=int(entry["id"]),
                file_name=str(entry["file_name"]),
                width=int(entry["width"]),
                height=int(entry["height"]),
                path=_resolve_image(entry, path.parent, base),
            )
        )
    categories = {int(c["id"]): str(c["name"]) for c in doc["categories"]}
    annotations: dict[int, list[CocoAnnotation]] = {im.id: [] for im in images}
    for a in doc["annotations"]:
        image_id = int(a["image_id"])
        if image_id not in annotations:
            continue
        if int(a["category_id"]) not in categories:
            raise CocoFormatError(
                f"{path}: annotation {a.get('id')} uses category {a['category_id']}, which "
                "the categories list does not define"
            )
        bbox = a.get("bbox") or [0.0, 0.0, 0.0, 0.0]
        annotations[image_id].append(
            CocoAnnotation(
                image_id=image_id,
                category_id=int(a["category_id"]),
                segmentation=a.get("segmentation"),
                bbox=(float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])),
                area=float(a.get("area") or bbox[2] * bbox[3]),
                iscrowd=bool(a.get("iscrowd", False)),
            )
        )
    return CocoDataset(path, images, categories, annotations)


def decode_segmentation(segmentation: Any, height: int, width: int) -> npt.NDArray[np.bool_]:
    """A boolean (height, width) mask from COCO polygons, uncompressed RLE (`counts` a list)
    or compressed RLE (`counts` a string). Degenerate polygons (< 3 points) are skipped;
    an empty or missing segmentation gives an empty mask."""
    if not segmentation:
        return np.zeros((height, width), dtype=bool)
    if isinstance(segmentation, dict):
        counts = segmentation.get("counts")
        size = segmentation.get("size") or [height, width]
        if [int(size[0]), int(size[1])] != [height, width]:
            raise CocoFormatError(
                f"RLE of size {size} on an image of {height}x{width}; RLE must be at full size"
            )
        if isinstance(counts, list):
            rle = mask_utils.frPyObjects(segmentation, height, width)
        elif isinstance(counts, str | bytes):
            rle = {"size": [height, width], "counts": counts}
        else:
            raise CocoFormatError("RLE 'counts' must be a list of runs or a compressed string")
        return np.asarray(mask_utils.decode(rle), dtype=bool)
    if isinstance(segmentation, list):
        polygons = [
            [float(v) for v in p] for p in segmentation if isinstance(p, list) and len(p) >= 6
        ]
        if not polygons:
            return np.zeros((height, width), dtype=bool)
        rles = mask_utils.frPyObjects(polygons, height, width)
        return np.asarray(mask_utils.decode(mask_utils.merge(rles)), dtype=bool)
    raise CocoFormatError(f"unsupported segmentation of type {type(segmentation).__name__}")


# ----------------------------------------------------------------------------- mapping


def load_mapping(path: str | Path) -> dict[str, str | None]:
    """A mapping file: YAML or JSON `{dataset category: taxonomy class}`, optionally under a
    top-level `mapping:` key. A null value marks the category's pixels as ignored."""
    text = Path(path).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if isinstance(data, dict) and isinstance(data.get("mapping"), dict):
        data = data["mapping"]
    if not isinstance(data, dict):
        raise CocoFormatError(f"{path}: expected a mapping of category name to class name")
    return {str(k): (None if v is None else str(v)) for k, v in data.items()}


def find_source(taxonomy: Taxonomy, category_names: Sequence[str]) -> str:
    """The merge-map source of `taxonomy` whose keys cover all `category_names` (the
    taxonomy itself counts too); raises when none does, naming `--mapping FILE`."""
    names = set(category_names)
    if names <= set(taxonomy.classes):
        return taxonomy.name
    for source, mapping in taxonomy.merge_maps.items():
        if names <= set(mapping):
            return source
    raise TaxonomyError(
        f"the dataset's categories {sorted(names)} match no merge map of taxonomy "
        f"{taxonomy.name!r} (known sources: {sorted(taxonomy.merge_maps)}); pass a mapping "
        "file (--mapping FILE, YAML 'category: class') for this dataset"
    )


def category_lookup(
    dataset: CocoDataset,
    taxonomy: Taxonomy,
    mapping: Mapping[str, str | None] | None = None,
    source: str | None = None,
) -> dict[int, int]:
    """COCO category id -> class index of `taxonomy` (`IGNORE_INDEX` for ignored ones), for
    the categories the annotations use. `mapping` wins over `source`; with neither, the
    source is found from the category names (`find_source`)."""
    used = dataset.used_categories()
    if mapping is None:
        name = source or find_source(taxonomy, used)
        mapping = dict(taxonomy.merge_map(name))
    missing = [c for c in used if c not in mapping]
    if missing:
        raise TaxonomyError(
            f"the mapping does not say where categories {missing} of "
            f"{dataset.annotation_file} go in taxonomy {taxonomy.name!r}"
        )
    by_name = {name: cid for cid, name in dataset.categories.items()}
    lut: dict[int, int] = {}
    for name in used:
        target = mapping[name]
        lut[by_name[name]] = IGNORE_INDEX if target is None else taxonomy.index(target)
    return lut


def rasterise(
    image: CocoImage, annotations: Sequence[CocoAnnotation], lut: Mapping[int, int]
) -> LabelMap:
    """The label map of one image: 0 where nothing is annotated, else the mapped class.

    Larger regions are painted first so that a small region lying on a larger one (a lamp
    on a bumper, a scratch inside a dent) keeps its label.
    """
    label = np.zeros((image.height, image.width), dtype=np.uint8)
    ordered = sorted(annotations, key=lambda a: -a.area)
    for ann in ordered:
        if ann.category_id not in lut:
            continue
        mask = decode_segmentation(ann.segmentation, image.height, image.width)
        label[mask] = lut[ann.category_id]
    return label


def _cache_key(dataset: CocoDataset, taxonomy: Taxonomy, lut: Mapping[int, int]) -> str:
    stat = dataset.annotation_file.stat()
    payload = json.dumps(
        [
            CACHE_FORMAT,
            str(dataset.annotation_file.resolve()),
            stat.st_size,
            int(stat.st_mtime),
            taxonomy.name,
            list(taxonomy.classes),
            sorted(lut.items()),
        ]
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def cached_label_maps(
    dataset: CocoDataset,
    taxonomy: Taxonomy,
    lut: Mapping[int, int],
    cache_dir: Path | None = None,
) -> dict[int, Path]:
    """Rasterise every image's label map once into `cache_dir` (default
    `cache/masks/<key>/`) as 8-bit PNG; returns image id -> PNG path."""
    root = (cache_dir or cache_root() / "masks") / _cache_key(dataset, taxonomy, lut)
    root.mkdir(parents=True, exist_ok=True)
    paths: dict[int, Path] = {}
    for image in dataset.images:
        target = root / f"{image.id}.png"
        if not target.is_file():
            label = rasterise(image, dataset.annotations.get(image.id, []), lut)
            tmp = target.with_suffix(".tmp.png")
            Image.fromarray(label).save(tmp)
            tmp.replace(target)  # atomic: a killed run never leaves half a PNG behind
        paths[image.id] = target
    return paths


def read_label_map(path: Path) -> LabelMap:
    return np.asarray(Image.open(path), dtype=np.uint8)
