"""Joint part + damage segmentation samples and the torch dataset over them.

The public part set (carparts-dsmlr) and damage set (damage-bilgi) share no image, so
each sample carries a label map for the heads it has labels for; the other head's target
is `IGNORE_INDEX` everywhere and adds nothing to that head's loss or metrics.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image
from torch.utils.data import Dataset

from damage_vision.data.augment import (
    closeup_crop,
    hflip,
    paper_augmentations,
    resize_long_side,
)
from damage_vision.data.coco import (
    IGNORE_INDEX,
    CocoDataset,
    cached_label_maps,
    category_lookup,
    load_coco,
    read_label_map,
)
from damage_vision.taxonomy import Taxonomy

Head = Literal["parts", "damage"]
HEADS: tuple[Head, ...] = ("parts", "damage")
Sampling = Literal["none", "under", "over"]


@dataclass(frozen=True)
class SegSample:
    """One photo and the cached label map of each head it is labelled for. `closeup`: the
    photo is seen as one fixed close-up of its car (validating part names on close-ups)."""

    image: Path
    parts: Path | None
    damage: Path | None
    source: str = ""
    closeup: bool = False

    def label(self, head: Head) -> Path | None:
        return self.parts if head == "parts" else self.damage


def coco_samples(
    dataset: CocoDataset,
    head: Head,
    taxonomy: Taxonomy,
    mapping: Mapping[str, str | None] | None = None,
    source: str | None = None,
    cache_dir: Path | None = None,
) -> list[SegSample]:
    """Samples of a COCO dataset for one head; label maps are rasterised once and cached."""
    lut = category_lookup(dataset, taxonomy, mapping, source)
    labels = cached_label_maps(dataset, taxonomy, lut, cache_dir)
    folder = dataset.annotation_file.parent
    name = source or f"{folder.parent.name}/{folder.name}"  # e.g. damage-bilgi/train
    return [
        SegSample(
            image=im.path,
            parts=labels[im.id] if head == "parts" else None,
            damage=labels[im.id] if head == "damage" else None,
            source=name,
        )
        for im in dataset.images
    ]


def load_coco_samples(
    annotations: str | Path,
    head: Head,
    taxonomy: Taxonomy,
    images: str | Path | None = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    mapping: Mapping[str, str | None] | None = None,
    cache_dir: Path | None = None,
) -> list[SegSample]:
    """`coco_samples` of a COCO file, keeping only `include` / dropping `exclude` file names."""
    dataset = load_coco(annotations, images)
    if include is not None:
        dataset = dataset.subset(include)
    if exclude is not None:
        dropped = set(exclude)
        dataset = dataset.subset(
            [im.file_name for im in dataset.images if im.file_name not in dropped]
        )
    return coco_samples(dataset, head, taxonomy, mapping, cache_dir=cache_dir)


def split_names(names: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Deterministic (kept, held-out) split of file names; `fraction` is held out."""
    ordered = sorted(names)
    rng = random.Random(seed)
    rng.shuffle(ordered)
    n_out = round(len(ordered) * fraction)
    return sorted(ordered[n_out:]), sorted(ordered[:n_out])


def take_fraction(samples: Sequence[SegSample], fraction: float, seed: int) -> list[SegSample]:
    """A seeded random `fraction` of the samples of each source (learning curves)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if fraction == 1.0:
        return list(samples)
    out: list[SegSample] = []
    for src in sorted({s.source for s in samples}):
        group = [s for s in samples if s.source == src]
        rng = random.Random(seed)
        picked = sorted(rng.sample(range(len(group)), max(1, round(len(group) * fraction))))
        out += [group[i] for i in picked]
    return out


def class_presence(
    samples: Sequence[SegSample], taxonomies: Mapping[Head, Taxonomy]
) -> npt.NDArray[np.bool_]:
    """(samples, parts classes + damage classes) booleans: which classes each label map has."""
    sizes = [taxonomies[h].num_classes for h in HEADS]
    out = np.zeros((len(samples), sum(sizes)), dtype=bool)
    for i, sample in enumerate(samples):
        offset = 0
        for head, size in zip(HEADS, sizes, strict=True):
            path = sample.label(head)
            if path is not None:
                counts = np.bincount(read_label_map(path).ravel(), minlength=256)[:size]
                out[i, offset : offset + size] = counts > 0
            offset += size
    return out


def sampling_plan(presence: npt.NDArray[np.bool_], strategy: Sampling, seed: int) -> list[int]:
    """Sample indices for one epoch.

    - `none`: every sample once.
    - `over`: as many draws as samples, with replacement, each sample weighted by
      1 / (images containing its rarest class), so rare classes are seen more often.
    - `under`: without replacement, as many samples as (classes present) x (images of the
      rarest class), drawn with the same weights, so frequent classes are seen less.
    Background-only samples weigh like the most frequent class.
    """
    n = presence.shape[0]
    if strategy == "none":
        return list(range(n))
    counts = presence.sum(axis=0)
    present = counts > 0
    inv = np.where(present, 1.0 / np.maximum(counts, 1), 0.0)
    floor = float(inv[present].min()) if present.any() else 1.0
    weights = np.array([max(float(inv[row].max(initial=0.0)), floor) for row in presence])
    weights /= weights.sum()
    rng = np.random.default_rng(seed)
    if strategy == "over":
        drawn: list[int] = np.asarray(rng.choice(n, size=n, replace=True, p=weights)).tolist()
        return sorted(drawn)
    if strategy == "under":
        size = min(n, int(present.sum()) * int(counts[present].min()))
        return sorted(rng.choice(n, size=size, replace=False, p=weights).tolist())
    raise ValueError(f"sampling must be none, under or over, got {strategy!r}")


def read_rgb(path: Path) -> npt.NDArray[np.uint8]:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


class JointSegmentationDataset(Dataset[dict[str, torch.Tensor]]):
    """Items `{"image": (3,H,W) float, "parts": (H,W) long, "damage": (H,W) long}`.

    Training (`train=True`): a photo with part labels becomes, with probability `closeup`,
    a close-up of its car (`closeup_area` of the car's box, `closeup_crop`); long side
    resized to `resize`, a random flip with label swap, then the paper's augmentations with
    a `crop` x `crop` crop. A sample marked `closeup` is always its one fixed close-up. Evaluation: long side
    resized to `resize` and padded to a multiple of 32 (padding labelled `IGNORE_INDEX`).
    Normalisation `(x / 255 - mean) / std`, as the predictor does.
    """

    def __init__(
        self,
        samples: Sequence[SegSample],
        resize: int,
        crop: int | None = None,
        train: bool = False,
        mean: tuple[float, float, float] = (0.5, 0.5, 0.5),
        std: tuple[float, float, float] = (0.5, 0.5, 0.5),
        swap_luts: Mapping[Head, npt.NDArray[np.uint8]] | None = None,
        seed: int | None = None,
        closeup: float = 0.0,
        closeup_area: tuple[float, float] = (0.2, 0.5),
    ) -> None:
        if not 0.0 <= closeup <= 1.0:
            raise ValueError(f"closeup is a probability in [0, 1], got {closeup}")
        if not 0.0 < closeup_area[0] <= closeup_area[1] <= 1.0:
            raise ValueError(f"closeup_area must be 0 < low <= high <= 1, got {closeup_area}")
        self.samples = list(samples)
        self.closeup = closeup
        self.closeup_area = closeup_area
        self.resize = resize
        self.crop = crop or resize
        self.train = train
        self.mean = np.asarray(mean, dtype=np.float32) * 255.0
        self.std = np.asarray(std, dtype=np.float32) * 255.0
        identity = np.arange(256, dtype=np.uint8)
        self.swap_luts = {h: (swap_luts or {}).get(h, identity) for h in HEADS}
        self.augment = paper_augmentations(self.crop, seed) if train else None

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> tuple[npt.NDArray[np.uint8], dict[Head, npt.NDArray[np.uint8]]]:
        """The photo and both label maps at full size (absent heads all `IGNORE_INDEX`)."""
        sample = self.samples[index]
        image = read_rgb(sample.image)
        h, w = image.shape[:2]
        labels: dict[Head, npt.NDArray[np.uint8]] = {}
        for head in HEADS:
            path = sample.label(head)
            if path is None:
                labels[head] = np.full((h, w), IGNORE_INDEX, dtype=np.uint8)
                continue
            label = read_label_map(path)
            if label.shape != (h, w):
                raise ValueError(
                    f"{sample.image}: image is {w}x{h} but its {head} labels are "
                    f"{label.shape[1]}x{label.shape[0]}; the COCO width/height are wrong"
                )
            labels[head] = label
        return image, labels

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image, labels = self.load(index)
        sample = self.samples[index]
        absent = [sample.label(h) is None for h in HEADS]
        masks = [labels[h] for h in HEADS]
        if sample.parts is not None:
            if sample.closeup:  # the same window every epoch
                rng = np.random.default_rng(zlib.crc32(sample.image.name.encode()))
                image, masks = closeup_crop(image, masks, masks[0], self.closeup_area, rng)
            elif self.augment is not None and self.closeup and random.random() < self.closeup:
                rng = np.random.default_rng(random.getrandbits(32))
                image, masks = closeup_crop(image, masks, masks[0], self.closeup_area, rng)
        image, masks = resize_long_side(image, masks, self.resize)
        if self.augment is not None:
            if random.random() < 0.5:
                image, masks = hflip(image, masks, [self.swap_luts[h] for h in HEADS])
            out = self.augment(image=image, masks=masks)
            image, masks = out["image"], list(out["masks"])
        normalised = (np.asarray(image, dtype=np.float32) - self.mean) / self.std
        if self.augment is None:
            # pad like the predictor: zeros after normalisation (the mean colour), and
            # the ignore label, so padding counts in no metric
            h, w = normalised.shape[:2]
            ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
            normalised = np.pad(normalised, ((0, ph - h), (0, pw - w), (0, 0)))
            masks = [
                np.pad(m, ((0, ph - h), (0, pw - w)), constant_values=IGNORE_INDEX) for m in masks
            ]
        tensors = []
        for mask, missing in zip(masks, absent, strict=True):
            array = np.asarray(mask, dtype=np.int64)
            if missing:
                array = np.full_like(array, IGNORE_INDEX)
            tensors.append(torch.from_numpy(array))
        return {
            "image": torch.from_numpy(normalised.transpose(2, 0, 1).copy()),
            "parts": tensors[0],
            "damage": tensors[1],
        }


def pad_collate(batch: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack items of different sizes by padding images with 0 and labels with ignore."""
    height = max(item["image"].shape[1] for item in batch)
    width = max(item["image"].shape[2] for item in batch)
    images = torch.zeros(len(batch), 3, height, width)
    parts = torch.full((len(batch), height, width), IGNORE_INDEX, dtype=torch.long)
    damage = torch.full((len(batch), height, width), IGNORE_INDEX, dtype=torch.long)
    for i, item in enumerate(batch):
        _, h, w = item["image"].shape
        images[i, :, :h, :w] = item["image"]
        parts[i, :h, :w] = item["parts"]
        damage[i, :h, :w] = item["damage"]
    return {"image": images, "parts": parts, "damage": damage}
