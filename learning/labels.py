"""Label-export writers: reviewed photos to COCO (RLE), PNG label maps and YOLO segmentation.

Pure functions over plain dataclasses; the Django side (`learning.services.snapshot_export`)
gathers the reviewed photos and calls `write_snapshot`. Never imports Django.

Snapshot layout (read by the training command's COCO loader):

    <root>/<version>/
        annotations.json     COCO; segmentation is compressed RLE at the image's full size,
                             attributes.shape "box" when the label is a box (the filled box)
        images/<file>        the photo, EXIF orientation applied
        masks/<stem>.png     8-bit label map, pixel value = COCO category id, 0 = background
        labels/<stem>.txt    Ultralytics YOLO segmentation, class index = category id - 1
        data.yaml            Ultralytics dataset file (path, train, val, names)
        manifest.json        version, counts, categories, provenance
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

from review import rle as rle_codec
from review.rle import Rle


class LabelExportError(ValueError):
    """The snapshot cannot be written; the message says what to do."""


@dataclass(frozen=True)
class LabelledObject:
    category: str
    rle: Rle  # at the photo's full size (EXIF orientation applied)
    part: str = ""
    source: str = ""  # "accepted" | "edited" | "added"
    shape: str = "mask"  # "box": a detector's or a person's box; `rle` is the filled box


@dataclass(frozen=True)
class LabelledImage:
    file_name: str  # unique name inside images/
    source_path: Path
    width: int
    height: int
    objects: tuple[LabelledObject, ...] = field(default_factory=tuple)
    # Opens the photo where it is no local file (an object-storage bucket): the Django side
    # passes e.g. `partial(storage.open, name, "rb")`, and `source_path` is then not read.
    source_open: Callable[[], IO[bytes]] | None = field(default=None, compare=False)


def category_ids(categories: Sequence[str]) -> dict[str, int]:
    """COCO ids start at 1 so that 0 stays background in the PNG label maps."""
    if len(set(categories)) != len(categories):
        raise LabelExportError("category names must be unique")
    if len(categories) > 255:
        raise LabelExportError("PNG label maps hold at most 255 categories")
    return {name: i + 1 for i, name in enumerate(categories)}


def _check(image: LabelledImage, ids: dict[str, int]) -> None:
    for obj in image.objects:
        if obj.category not in ids:
            raise LabelExportError(
                f"{image.file_name}: category {obj.category!r} is not in the taxonomy "
                f"({', '.join(ids)}); map it before exporting"
            )
        if (obj.rle.height, obj.rle.width) != (image.height, image.width):
            raise LabelExportError(
                f"{image.file_name}: a mask of {obj.rle.width}x{obj.rle.height} does not match "
                f"the photo's {image.width}x{image.height}"
            )


def coco_document(
    images: Sequence[LabelledImage], categories: Sequence[str], *, description: str
) -> dict[str, object]:
    ids = category_ids(categories)
    coco_images: list[dict[str, object]] = []
    annotations: list[dict[str, object]] = []
    for image_id, image in enumerate(images, start=1):
        _check(image, ids)
        coco_images.append(
            {
                "id": image_id,
                "file_name": image.file_name,
                "width": image.width,
                "height": image.height,
            }
        )
        for obj in image.objects:
            box = rle_codec.bbox(rle_codec.decode(obj.rle))
            if box is None:
                continue  # an emptied mask is not a label
            x0, y0, x1, y1 = box
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": ids[obj.category],
                    "segmentation": obj.rle.as_coco(),
                    "area": rle_codec.area(obj.rle),
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "iscrowd": 0,
                    "attributes": {"part": obj.part, "source": obj.source, "shape": obj.shape},
                }
            )
    return {
        "info": {"description": description},
        "images": coco_images,
        "annotations": annotations,
        "categories": [
            {"id": i, "name": name, "supercategory": "damage"} for name, i in ids.items()
        ],
    }


def png_label_map(image: LabelledImage, ids: dict[str, int]) -> npt.NDArray[np.uint8]:
    """One 8-bit map per photo; where objects overlap, the later one wins."""
    _check(image, ids)
    out = np.zeros((image.height, image.width), dtype=np.uint8)
    for obj in image.objects:
        out[rle_codec.decode(obj.rle)] = ids[obj.category]
    return out


def yolo_segmentation_lines(image: LabelledImage, ids: dict[str, int]) -> list[str]:
    """Ultralytics segmentation rows: `class x1 y1 x2 y2 ...`, normalised to [0, 1].

    Each outer contour of a mask is one row; contours under three points are dropped.
    """
    _check(image, ids)
    lines: list[str] = []
    for obj in image.objects:
        mask = rle_codec.decode(obj.rle).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            points = contour.reshape(-1, 2)
            if len(points) < 3:
                continue
            coords = " ".join(
                f"{x / image.width:.6f} {y / image.height:.6f}" for x, y in points.tolist()
            )
            lines.append(f"{ids[obj.category] - 1} {coords}")
    return lines


def _copy_image(image: LabelledImage, target: Path) -> None:
    """Copy the photo as it is shown (EXIF orientation applied); JPEG when re-encoded."""
    if image.source_open is None:
        data = image.source_path.read_bytes()
    else:
        with image.source_open() as fh:
            data = fh.read()
    with Image.open(io.BytesIO(data)) as img:
        oriented = ImageOps.exif_transpose(img)
        if oriented is img and img.format == "JPEG" and target.suffix.lower() in (".jpg", ".jpeg"):
            target.write_bytes(data)
            return
        oriented.convert("RGB").save(target, "JPEG", quality=95)


def write_snapshot(
    directory: Path,
    images: Sequence[LabelledImage],
    categories: Sequence[str],
    *,
    version: str,
    provenance: dict[str, object],
) -> dict[str, object]:
    """Write every format into `directory` (which must not exist) and return the manifest."""
    if directory.exists():
        raise LabelExportError(f"{directory} already exists; snapshots are never overwritten")
    if not images:
        raise LabelExportError("no reviewed photo to export yet; review a case first")
    ids = category_ids(categories)
    names = [img.file_name for img in images]
    if len(set(names)) != len(names):
        raise LabelExportError("image file names must be unique inside a snapshot")
    document = coco_document(images, categories, description=f"reviewed labels {version}")

    tmp = directory.with_name(directory.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    for sub in ("images", "masks", "labels"):
        (tmp / sub).mkdir(parents=True)
    for image in images:
        stem = Path(image.file_name).stem
        _copy_image(image, tmp / "images" / image.file_name)
        Image.fromarray(png_label_map(image, ids), mode="L").save(tmp / "masks" / f"{stem}.png")
        lines = yolo_segmentation_lines(image, ids)
        (tmp / "labels" / f"{stem}.txt").write_text("".join(f"{line}\n" for line in lines))
    (tmp / "annotations.json").write_text(json.dumps(document))
    names_yaml = "".join(f"  {i - 1}: {name}\n" for name, i in ids.items())
    (tmp / "data.yaml").write_text(
        f"path: {directory.resolve()}\ntrain: images\nval: images\nnames:\n{names_yaml}"
    )
    annotations = document["annotations"]
    assert isinstance(annotations, list)
    manifest: dict[str, object] = {
        "version": version,
        "images": len(images),
        "annotations": len(annotations),
        "categories": list(categories),
        "formats": {
            "coco": "annotations.json",
            "png_masks": "masks/",
            "yolo_segmentation": "labels/",
            "yolo_dataset": "data.yaml",
        },
        **provenance,
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    tmp.rename(directory)  # readers never see a half-written snapshot
    return manifest
