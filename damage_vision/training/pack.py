"""`python -m damage_vision pack-data`: a compact copy of the training data for the device machine.
Long and one piece: one command, its size budget and the list of what it packs.

The device machine (docs/gpu-recipe.md) receives the repository's working tree and at most
64 MiB in all, the git-tracked tree and the carried wheels (`.whl/`) included, and cannot
reach `../shared/data`. The pack holds what bin/gpu-recipe trains on, in the data root's
own layout so that the same configs read it through `$DAMAGE_DATA_DIR`:

- `carparts-dsmlr/train`: every image (the held-out
  `damage_vision/configs/splits/carparts-dsmlr-val.txt` stays in, as the configs' validation);
- `damage-bilgi/train`: every image;
- `damage-bilgi/valid`: the calibration half only (`damage-bilgi-valid-fit.txt` and
  `damage-bilgi-valid-threshold.txt`); the evaluation half is only for reporting and
  never leaves `../shared/data`.

Images are re-encoded as JPEG with the long side at most `max_side`; polygons, RLE, boxes
and areas are scaled with them and the COCO files keep only the keys `load_coco` reads.
`image_format="webp"` stores WebP instead (about 40% smaller at the same side) under the
same file names, since the split lists name the photos: Pillow and OpenCV (Ultralytics)
read an image by its content, not its suffix.
The long side and the quality are the best rung of a ladder whose estimated size (from a
sample of each part) fits the budget; the written pack is measured and a smaller rung is
taken if it does not fit. `pack.json` records the choice, the sizes and the budget.
"""

from __future__ import annotations

import io
import json
import math
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from damage_vision.data.coco import decode_segmentation, load_coco
from damage_vision.data.paths import CONFIGS_DIR, REPO_ROOT, data_root
from damage_vision.training.config import read_list

MIB = 1024 * 1024
TRAVEL_LIMIT_MIB = 64.0
"""What the device tool carries in one call: tracked + untracked-not-ignored + carried."""
SIDES = (512, 480, 448, 416, 384, 352, 320, 288, 256)
QUALITIES = (85, 75, 65, 55)
FORMATS = ("jpeg", "webp")
SAMPLE_PER_PART = 24
PACK_FORMAT = 1

IMAGE_KEYS = ("id", "file_name", "width", "height")
ANNOTATION_KEYS = ("id", "image_id", "category_id", "segmentation", "bbox", "area", "iscrowd")
CATEGORY_KEYS = ("id", "name", "supercategory")


class PackError(ValueError):
    """The pack cannot be made; the message says what to change."""


@dataclass(frozen=True)
class PackPart:
    """One COCO file of the data root to pack, optionally restricted to split lists."""

    name: str  # folder below the data root, e.g. damage-bilgi/valid
    annotations: str  # the COCO file's name in that folder
    include: tuple[str, ...] = ()  # split lists (CONFIGS_DIR/splits) whose names are packed
    required: tuple[str, ...] = ()  # split lists whose names must all be packed
    forbidden: tuple[str, ...] = ()  # split lists whose names must never be packed


PARTS = (
    PackPart("carparts-dsmlr/train", "annotations.json", required=("carparts-dsmlr-val.txt",)),
    PackPart("damage-bilgi/train", "_annotations.coco.json"),
    PackPart(
        "damage-bilgi/valid",
        "_annotations.coco.json",
        include=("damage-bilgi-valid-fit.txt", "damage-bilgi-valid-threshold.txt"),
        forbidden=("damage-bilgi-valid-evaluation.txt",),
    ),
)


@dataclass(frozen=True)
class Budget:
    """The travel budget in MiB: what is left for the pack of `limit`."""

    limit: float
    tracked: float
    untracked: float
    wheels: float
    reserve: float
    given: float | None = None  # --budget-mib, which replaces the computed `left`

    @property
    def left(self) -> float:
        if self.given is not None:
            return self.given
        return self.limit - self.tracked - self.untracked - self.wheels - self.reserve

    def describe(self) -> str:
        if self.given is not None:
            return f"{self.left:.1f} MiB (--budget-mib)"
        return (
            f"{self.left:.1f} MiB left of {self.limit:.0f} MiB (tracked tree "
            f"{self.tracked:.1f} MiB, untracked files {self.untracked:.1f} MiB, .whl "
            f"{self.wheels:.1f} MiB, reserve {self.reserve:.1f} MiB)"
        )


@dataclass(frozen=True)
class Setting:
    side: int
    quality: int
    image_format: str = "jpeg"  # jpeg | webp

    def __str__(self) -> str:
        return f"long side {self.side}, {self.image_format.upper()} quality {self.quality}"


@dataclass
class PartPlan:
    """The images and COCO document of one part, before any encoding."""

    part: PackPart
    doc: dict[str, Any]
    sources: dict[int, Path]  # image id -> source photo


def _git_files(repo: Path, *args: str) -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "-C", str(repo), "ls-files", "-z", *args],
            check=True,
            capture_output=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise PackError(
            f"cannot list the files of {repo} with git ({exc}); pass --budget-mib to give "
            "the budget yourself"
        ) from None
    return [repo / name for name in listed.decode().split("\0") if name]


def _size_mib(paths: Sequence[Path]) -> float:
    return sum(p.stat().st_size for p in paths if p.is_file() and not p.is_symlink()) / MIB


def _tree_size_mib(folder: Path) -> float:
    return _size_mib([p for p in folder.rglob("*")]) if folder.is_dir() else 0.0


def travel_budget(
    repo: Path = REPO_ROOT,
    wheels: Path | None = None,
    reserve_mib: float = 1.0,
    given_mib: float | None = None,
) -> Budget:
    """What a device call leaves for the pack: 64 MiB less the tracked files, the untracked
    files git does not ignore (they travel too), the `.whl` folder and a reserve for edits
    made before the call."""
    if given_mib is not None:
        return Budget(TRAVEL_LIMIT_MIB, 0.0, 0.0, 0.0, 0.0, given=given_mib)
    tracked = _size_mib(_git_files(repo))
    untracked_files = _git_files(repo, "--others", "--exclude-standard")
    wheels_dir = wheels if wheels is not None else repo / ".whl"
    return Budget(
        limit=TRAVEL_LIMIT_MIB,
        tracked=tracked,
        untracked=_size_mib(untracked_files),
        wheels=_tree_size_mib(wheels_dir),
        reserve=reserve_mib,
    )


def check_ignored(out: Path, repo: Path = REPO_ROOT) -> None:
    """A pack inside the repository must be ignored by git, or it would be committed."""
    try:
        relative = out.resolve().relative_to(repo.resolve())
    except ValueError:
        return  # outside the repository
    probe = subprocess.run(
        ["git", "-C", str(repo), "check-ignore", "-q", f"{relative}/pack.json"],
        capture_output=True,
    )
    if probe.returncode == 1:
        raise PackError(
            f"{relative}/ is not ignored by git, so the pack would be committed with the "
            f"tree; add '/{relative}/' to .gitignore first"
        )


def _scaled_size(width: int, height: int, side: int) -> tuple[int, int]:
    """The size with the long side at most `side` (never enlarged), as `resize_long_side`
    rounds it."""
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _encode(photo: Image.Image, size: tuple[int, int], setting: Setting) -> bytes:
    image = photo if photo.size == size else photo.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if setting.image_format == "webp":
        image.save(buffer, "WEBP", quality=setting.quality, method=4)
    else:
        image.save(buffer, "JPEG", quality=setting.quality, optimize=True, progressive=True)
    return buffer.getvalue()


def _open_rgb(path: Path) -> Image.Image:
    # the training code reads the stored pixels (no EXIF rotation) and converts to RGB
    with Image.open(path) as image:
        return image.convert("RGB")


def _scale_segmentation(
    segmentation: Any, sx: float, sy: float, old: tuple[int, int], new: tuple[int, int]
) -> Any:
    """Polygons scaled point by point; RLE decoded, resized (nearest) and re-encoded."""
    if isinstance(segmentation, list):
        return [
            [round(v * (sx if i % 2 == 0 else sy), 1) for i, v in enumerate(polygon)]
            for polygon in segmentation
            if isinstance(polygon, list)
        ]
    if isinstance(segmentation, dict):
        (w, h), (nw, nh) = old, new
        mask = decode_segmentation(segmentation, h, w).astype(np.uint8) * 255
        resized = np.asarray(Image.fromarray(mask).resize((nw, nh), Image.Resampling.NEAREST))
        rle = mask_utils.encode(np.asfortranarray((resized > 127).astype(np.uint8)))
        return {"size": [nh, nw], "counts": rle["counts"].decode("ascii")}
    return segmentation


def scale_document(doc: dict[str, Any], side: int) -> dict[str, Any]:
    """The COCO document with every image's long side at most `side` and every annotation
    scaled with its image; only the keys the loaders read are kept."""
    images, scales = [], {}
    for entry in doc["images"]:
        w, h = int(entry["width"]), int(entry["height"])
        nw, nh = _scaled_size(w, h, side)
        scales[int(entry["id"])] = (nw / w, nh / h, (w, h), (nw, nh))
        images.append({k: entry[k] for k in IMAGE_KEYS} | {"width": nw, "height": nh})
    annotations = []
    for ann in doc["annotations"]:
        sx, sy, old, new = scales[int(ann["image_id"])]
        row = {k: ann[k] for k in ANNOTATION_KEYS if k in ann}
        row["iscrowd"] = int(bool(ann.get("iscrowd", 0)))
        row["segmentation"] = _scale_segmentation(ann.get("segmentation"), sx, sy, old, new)
        if ann.get("bbox"):
            x, y, bw, bh = (float(v) for v in ann["bbox"])
            row["bbox"] = [round(x * sx, 2), round(y * sy, 2), round(bw * sx, 2), round(bh * sy, 2)]
        if "area" in ann:
            row["area"] = round(float(ann["area"]) * sx * sy, 2)
        annotations.append(row)
    categories = [{k: c[k] for k in CATEGORY_KEYS if k in c} for c in doc["categories"]]
    return {"images": images, "annotations": annotations, "categories": categories}


def plan_part(part: PackPart, root: Path, splits: Path) -> PartPlan:
    """Read one part's COCO file and keep the images the pack carries; checks the split
    lists (all `required` names present, no `forbidden` name packed)."""
    coco_path = root / part.name / part.annotations
    dataset = load_coco(coco_path)  # resolves the photos (JPEGImages/, images/, beside)
    by_name = {im.file_name: im for im in dataset.images}
    names = list(by_name)
    if part.include:
        wanted: list[str] = []
        for listed in part.include:
            wanted += read_list(splits / listed)
        missing = sorted(set(wanted) - set(by_name))
        if missing:
            raise PackError(
                f"{len(missing)} names of {', '.join(part.include)} are not in {coco_path}, "
                f"e.g. {missing[:3]}"
            )
        names = [n for n in names if n in set(wanted)]
    for listed in part.required:
        absent = sorted(set(read_list(splits / listed)) - set(names))
        if absent:
            raise PackError(f"{len(absent)} names of {listed} are not in {coco_path}: {absent[:3]}")
    for listed in part.forbidden:
        leaked = sorted(set(read_list(splits / listed)) & set(names))
        if leaked:
            raise PackError(
                f"{len(leaked)} images of {listed} would be packed from {part.name} "
                f"(e.g. {leaked[:3]}); that half is for reporting only"
            )
    for name in names:
        if not by_name[name].path.is_file():
            raise PackError(f"{coco_path} lists {name}, which is not at {by_name[name].path}")
    raw = json.loads(coco_path.read_text(encoding="utf-8"))
    keep_ids = {by_name[n].id for n in names}
    doc = {
        "images": [e for e in raw["images"] if int(e["id"]) in keep_ids],
        "annotations": [a for a in raw["annotations"] if int(a["image_id"]) in keep_ids],
        "categories": raw["categories"],
    }
    return PartPlan(part, doc, {by_name[n].id: by_name[n].path for n in names})


def _sample_ids(plan: PartPlan, count: int) -> list[int]:
    ids = sorted(plan.sources)
    if len(ids) <= count:
        return ids
    step = len(ids) / count
    return [ids[int(i * step)] for i in range(count)]


def _json_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")


def sample_photos(plans: Sequence[PartPlan]) -> dict[str, list[Image.Image]]:
    """An evenly spread sample of each part's photos, decoded once for `estimate_mib`."""
    return {
        plan.part.name: [_open_rgb(plan.sources[i]) for i in _sample_ids(plan, SAMPLE_PER_PART)]
        for plan in plans
    }


def estimate_mib(
    plans: Sequence[PartPlan], samples: dict[str, list[Image.Image]], setting: Setting
) -> dict[str, float]:
    """Each part's size at `setting` in MiB, from its sample of photos and its JSON."""
    estimate: dict[str, float] = {}
    for plan in plans:
        photos = samples[plan.part.name]
        encoded = [len(_encode(p, _scaled_size(*p.size, setting.side), setting)) for p in photos]
        images = float(np.mean(encoded)) * len(plan.sources) if encoded else 0.0
        doc = len(_json_bytes(scale_document(plan.doc, setting.side)))
        estimate[plan.part.name] = (images + doc) / MIB
    return estimate


def write_pack(plans: Sequence[PartPlan], setting: Setting, out: Path) -> dict[str, Any]:
    """Write every part at `setting` under `out`; returns what each part holds."""
    parts: dict[str, Any] = {}
    for plan in plans:
        folder = out / plan.part.name
        folder.mkdir(parents=True, exist_ok=True)
        doc = scale_document(plan.doc, setting.side)
        for entry in doc["images"]:
            data = _encode(
                _open_rgb(plan.sources[int(entry["id"])]),
                (int(entry["width"]), int(entry["height"])),
                setting,
            )
            (folder / entry["file_name"]).write_bytes(data)
        (folder / plan.part.annotations).write_bytes(_json_bytes(doc))
        parts[plan.part.name] = {
            "images": len(doc["images"]),
            "annotations": len(doc["annotations"]),
            "mib": round(_tree_size_mib(folder), 2),
        }
    return parts


def ladder(
    max_side: int, min_side: int, quality: int | None, image_format: str = "jpeg"
) -> list[Setting]:
    """Settings from the best to the smallest: the long side first, then the quality."""
    if image_format not in FORMATS:
        raise PackError(f"image format must be one of {', '.join(FORMATS)}, got {image_format!r}")
    sides = sorted({max_side} | {s for s in SIDES if min_side <= s < max_side}, reverse=True)
    qualities = (quality,) if quality is not None else QUALITIES
    return [Setting(side, q, image_format) for side in sides for q in qualities]


def pack_data(
    *,
    out: Path,
    source: Path | None = None,
    splits: Path = CONFIGS_DIR / "splits",
    budget: Budget,
    max_side: int = 512,
    min_side: int = 256,
    quality: int | None = None,
    image_format: str = "jpeg",
    log: Any = print,
) -> dict[str, Any]:
    """Write the pack to `out` (replacing an older one) at the best setting that fits
    `budget`; returns the content of `pack.json`. Raises `PackError` when nothing fits."""
    root = source or data_root()
    if budget.left <= 0:
        raise PackError(
            f"no room for a pack: {budget.describe()}; drop wheels from .whl or shrink the "
            "tracked tree"
        )
    plans = [plan_part(part, root, splits) for part in PARTS]
    count = sum(len(p.sources) for p in plans)
    log(f"packing {count} images from {root}; budget {budget.describe()}")
    rungs = ladder(max_side, min_side, quality, image_format)
    samples = sample_photos(plans)
    last_estimate: dict[str, float] = {}
    staging = out.with_name(f"{out.name}.tmp")  # ignored beside the pack (.gitignore)
    for setting in rungs:
        last_estimate = estimate_mib(plans, samples, setting)
        estimated = sum(last_estimate.values())
        if estimated * 1.02 > budget.left:
            log(f"  {setting}: ~{estimated:.1f} MiB estimated, does not fit")
            continue
        shutil.rmtree(staging, ignore_errors=True)
        parts = write_pack(plans, setting, staging)
        total = _tree_size_mib(staging)
        if total > budget.left:
            log(f"  {setting}: {total:.1f} MiB written, does not fit")
            continue
        manifest = {
            "pack_format": PACK_FORMAT,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "source": str(root),
            "side": setting.side,
            "quality": setting.quality,
            "format": setting.image_format,
            "images": count,
            "mib": round(total, 2),
            "parts": parts,
            "splits": {p.name: list(p.include) for p in PARTS if p.include},
            "left_out": "damage-bilgi/valid evaluation half (damage-bilgi-valid-evaluation.txt)",
            "budget": {
                k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(budget).items()
            }
            | {"left": round(budget.left, 2)},
        }
        (staging / "pack.json").write_text(json.dumps(manifest, indent=2) + "\n")
        shutil.rmtree(out, ignore_errors=True)
        staging.replace(out)
        by_part = ", ".join(f"{name} {part['mib']:.1f}" for name, part in parts.items())
        log(
            f"wrote {out}: {count} images at {setting}, {total:.1f} MiB ({by_part}); "
            f"{budget.left - total:.1f} MiB of the budget unused"
        )
        return manifest
    shutil.rmtree(staging, ignore_errors=True)
    smallest = rungs[-1]
    needed = sum(last_estimate.values())
    by_part = ", ".join(f"{k} ~{v:.1f} MiB" for k, v in last_estimate.items())
    raise PackError(
        f"the pack does not fit: at the smallest setting ({smallest}) it needs "
        f"~{needed:.1f} MiB ({by_part}) but the budget is {budget.describe()}. Free "
        f"{math.ceil(needed - budget.left)} MiB: drop wheels the recipe does not import from "
        ".whl, move large untracked files out of the tree, or pack smaller "
        "(--min-side, --quality, --format webp)"
    )
