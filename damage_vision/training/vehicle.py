"""Vehicle-presence classifier training (module 1 of paper 1): binary head on an ImageNet
EfficientNet-Lite, unweighted BCE, RMSprop lr 1e-4 (the paper's recipe), best checkpoint by
validation accuracy.

Data (config `data.sources`): each source is a folder or COCO file with a fixed label, or
the UIUC folder whose `pos-*` / `neg-*` names carry the label. Real car photos of the part
and damage sets are added as positives so the classifier sees claim-like photos, not only
100x40 grey crops. A seeded share of every source is held out for validation and written
to `val.tsv` (label, path relative to the data root) for `evaluate --task vehicle`.
"""

from __future__ import annotations

import csv
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from damage_vision.data.coco import load_coco
from damage_vision.data.datasets import read_rgb
from damage_vision.data.paths import data_root, resolve_data_path
from damage_vision.evaluation.metrics import binary_accuracy, roc_auc
from damage_vision.networks.classifier import VehiclePresence, build_vehicle_classifier
from damage_vision.networks.pretrained import LITE_MEAN, LITE_STD
from damage_vision.training.config import TrainConfig, read_list
from damage_vision.training.segmentation import seed_everything

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".pgm", ".bmp", ".webp"}


@dataclass(frozen=True)
class VehicleSample:
    path: Path
    label: int  # 1 = a vehicle is in the photo
    source: str


def uiuc_label(path: Path) -> int | None:
    """1 for UIUC `pos-*`, 0 for `neg-*`, None otherwise."""
    if path.name.startswith("pos-"):
        return 1
    if path.name.startswith("neg-"):
        return 0
    return None


def source_samples(entry: dict[str, Any], config_dir: Path) -> list[VehicleSample]:
    """Samples of one `data.sources` entry: `{dir: ..., label: 0|1|uiuc}` or
    `{coco: ..., label: 0|1}`, optionally `exclude: LIST` and `limit: N` (seeded pick)."""
    name = str(entry.get("name") or entry.get("dir") or entry.get("coco"))
    label = entry.get("label", "uiuc")
    if "coco" in entry:
        paths = [im.path for im in load_coco(resolve_data_path(entry["coco"])).images]
    else:
        folder = resolve_data_path(entry["dir"])
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if "exclude" in entry:
        dropped = set(read_list(config_dir / entry["exclude"]))
        paths = [p for p in paths if p.name not in dropped]
    if entry.get("limit"):
        rng = random.Random(0)
        paths = sorted(rng.sample(paths, min(int(entry["limit"]), len(paths))))
    out = []
    for p in paths:
        y = uiuc_label(p) if label == "uiuc" else int(label)
        if y is not None:
            out.append(VehicleSample(p, y, name))
    return out


def split_samples(
    samples: list[VehicleSample], fraction: float, seed: int
) -> tuple[list[VehicleSample], list[VehicleSample]]:
    """(train, val): a seeded `fraction` of every (source, label) group is held out."""
    train: list[VehicleSample] = []
    val: list[VehicleSample] = []
    groups: dict[tuple[str, int], list[VehicleSample]] = {}
    for s in samples:
        groups.setdefault((s.source, s.label), []).append(s)
    for key in sorted(groups):
        group = sorted(groups[key], key=lambda s: str(s.path))
        random.Random(seed).shuffle(group)
        n_val = round(len(group) * fraction)
        val += group[:n_val]
        train += group[n_val:]
    return train, val


def read_vehicle_list(path: Path) -> list[VehicleSample]:
    """A `label<TAB>path` list (paths relative to the data root unless absolute)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, rel = line.split("\t", 1)
        p = Path(rel)
        out.append(VehicleSample(p if p.is_absolute() else data_root() / p, int(label), p.parts[0]))
    return out


def write_vehicle_list(samples: list[VehicleSample], path: Path) -> None:
    root = data_root().resolve()
    lines = ["# label<TAB>path relative to the data root; 1 = vehicle"]
    for s in samples:
        p = s.path.resolve()
        rel = p.relative_to(root) if p.is_relative_to(root) else p
        lines.append(f"{s.label}\t{rel}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def squeeze(rgb: npt.NDArray[np.uint8], size: int) -> npt.NDArray[np.uint8]:
    """The whole photo resized to size x size, as `images.classifier_input` does."""
    from PIL import Image

    return np.asarray(Image.fromarray(rgb).resize((size, size), Image.Resampling.BILINEAR))


class VehicleDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    def __init__(
        self, samples: list[VehicleSample], size: int, train: bool, seed: int | None = None
    ) -> None:
        self.samples = samples
        self.size = size
        self.mean = np.asarray(LITE_MEAN, dtype=np.float32) * 255.0
        self.std = np.asarray(LITE_STD, dtype=np.float32) * 255.0
        # Grey and low-resolution versions of the colour photos, so that neither colour nor
        # sharpness tells a vehicle (UIUC crops are small and grey) from a non-vehicle.
        self.augment = (
            A.Compose(
                [
                    A.HorizontalFlip(p=0.5),
                    A.Affine(scale=(0.8, 1.2), translate_percent=(-0.1, 0.1), p=0.7),
                    A.ToGray(p=0.5),
                    A.Downscale(scale_range=(0.25, 0.5), p=0.3),
                    A.RandomBrightnessContrast(0.2, 0.2, p=0.5),
                ],
                seed=seed,
            )
            if train
            else None
        )

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        sample = self.samples[index]
        image = squeeze(read_rgb(sample.path), self.size)
        if self.augment is not None:
            image = self.augment(image=image)["image"]
        x = (image.astype(np.float32) - self.mean) / self.std
        return torch.from_numpy(x.transpose(2, 0, 1).copy()), torch.tensor(float(sample.label))


@torch.inference_mode()
def predict_probabilities(
    model: VehiclePresence, loader: DataLoader[Any]
) -> npt.NDArray[np.float64]:
    model.eval()
    out = [model(x).double().numpy() for x, _ in loader]
    return np.concatenate(out) if out else np.zeros(0)


def train_vehicle(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    s = cfg.train
    torch.set_num_threads(s.threads)
    seed_everything(s.seed)
    out = cfg.out
    out.mkdir(parents=True, exist_ok=True)
    size = int(cfg.data.get("input_size", 224))
    samples: list[VehicleSample] = []
    for entry in cfg.data.get("sources", []):
        samples += source_samples(entry, cfg.path.parent)
    train, val = split_samples(samples, float(cfg.data.get("val_fraction", 0.2)), s.seed)
    write_vehicle_list(val, out / "val.tsv")
    write_vehicle_list(train, out / "train.tsv")
    arch = str(cfg.model.get("arch", "lite0"))
    resuming = resume and (out / "last.pt").is_file()
    classifier = build_vehicle_classifier(arch, "binary", pretrained=not resuming)
    model = VehiclePresence(classifier)
    optimizer: torch.optim.Optimizer = (
        torch.optim.RMSprop(classifier.parameters(), lr=s.lr)
        if s.optimizer == "rmsprop"
        else torch.optim.Adam(classifier.parameters(), lr=s.lr)
    )
    start, best = 0, -1.0
    if resuming:
        state = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
        classifier.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, best = int(state["epoch"]) + 1, float(state["best_score"])
    criterion = torch.nn.BCEWithLogitsLoss()
    val_loader: DataLoader[Any] = DataLoader(
        VehicleDataset(val, size, False), batch_size=32, num_workers=0
    )
    labels = np.array([v.label for v in val])
    spec = {"arch": arch, "head": "binary", "input_size": size}
    for epoch in range(start, s.epochs):
        began = time.time()
        loader: DataLoader[Any] = DataLoader(
            VehicleDataset(train, size, True, seed=s.seed + epoch),
            batch_size=s.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=s.workers,
            generator=torch.Generator().manual_seed(s.seed + epoch),
        )
        classifier.train()
        losses = []
        for x, y in tqdm(
            loader,
            desc=f"epoch {epoch + 1}/{s.epochs}",
            disable=not progress,
            file=sys.stderr,
            mininterval=10.0,
        ):
            loss = criterion(classifier(x)[:, 0], y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        probs = predict_probabilities(model, val_loader)
        acc = binary_accuracy(labels, probs)
        per_source = {
            src: binary_accuracy(labels[idx], probs[idx])
            for src in sorted({v.source for v in val})
            for idx in [np.array([i for i, v in enumerate(val) if v.source == src])]
        }
        row = {
            "epoch": epoch + 1,
            "train_loss": float(np.mean(losses)),
            "accuracy": acc,
            "roc_auc": roc_auc(labels, probs),
            "accuracy_by_source": per_source,
            "seconds": round(time.time() - began, 1),
        }
        with (out / "metrics.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        flat = {k: v for k, v in row.items() if not isinstance(v, dict)}
        new = not (out / "metrics.csv").exists()
        with (out / "metrics.csv").open("a", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(flat))
            if new:
                writer.writeheader()
            writer.writerow(flat)
        improved = acc > best
        if improved:
            best = acc
            torch.save(
                {
                    "model": classifier.state_dict(),
                    "spec": spec,
                    "epoch": epoch + 1,
                    "metrics": row,
                },
                out / "best.pt",
            )
        torch.save(
            {
                "model": classifier.state_dict(),
                "optimizer": optimizer.state_dict(),
                "epoch": epoch,
                "best_score": best,
                "spec": spec,
            },
            out / "last.pt",
        )
        print(
            f"epoch {epoch + 1}: loss {row['train_loss']:.4f}, accuracy {acc:.4f}, "
            f"AUC {row['roc_auc']:.4f}{' (best)' if improved else ''}",
            flush=True,
        )
    return out / "best.pt"
