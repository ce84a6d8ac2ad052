"""Part + damage segmentation training (paper 1 recipe), joint or independent. Long and one
piece: the training loop, its validation, checkpoints and resume share one run state.

Per epoch: train with a progress bar, validate (mIoU per head; the checkpoint score is
the mean of the two heads' mIoU, the paper's "total mIoU"), append the metrics to
`metrics.jsonl` and `metrics.csv`, save `last.pt` (everything needed to resume) and,
when the score improved, `best.pt` (weights + metrics). Checkpoints are written atomically,
so a run killed at its time limit keeps the last good `best.pt`.

On CUDA (`train.device`) the forward pass runs under bfloat16 autocast (`train.amp`) and
the losses in float32; `train.time_limit_s` shortens the cosine schedule to the epochs
that fit the wall-clock budget, re-estimated after every epoch.
"""

from __future__ import annotations

import csv
import json
import random
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from damage_vision.data.augment import left_right_swap_lut
from damage_vision.data.coco import IGNORE_INDEX, load_mapping
from damage_vision.data.datasets import (
    HEADS,
    JointSegmentationDataset,
    SegSample,
    class_presence,
    load_coco_samples,
    pad_collate,
    sampling_plan,
    take_fraction,
)
from damage_vision.data.paths import REPO_ROOT, resolve_data_path
from damage_vision.evaluation.metrics import mean_iou, per_class_iou
from damage_vision.networks.segmentation import SegmentationModel, build_segmentation_model
from damage_vision.taxonomy import Taxonomy, load_taxonomy
from damage_vision.training.config import ConfigError, TrainConfig, read_list, select_device
from damage_vision.training.losses import SegmentationLoss
from damage_vision.training.schedule import warmup_cosine, warmup_cosine_factor

LAST = "last.pt"
BEST = "best.pt"

ProgressCallback = Callable[[dict[str, Any]], None]


class TrainingStopped(Exception):  # noqa: N818 (a request, not an error)
    """`should_stop` asked the run to stop; `last.pt` holds the last finished epoch
    (`epochs_done` of them), from which `resume=True` continues."""

    def __init__(self, epochs_done: int) -> None:
        super().__init__(f"stopped after {epochs_done} finished epochs")
        self.epochs_done = epochs_done


@dataclass
class SegData:
    taxonomies: dict[str, Taxonomy]
    train: list[SegSample]
    val: list[SegSample]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _samples(
    cfg: TrainConfig, split: str, taxonomies: dict[str, Taxonomy], fraction: float = 1.0
) -> list[SegSample]:
    out: list[SegSample] = []
    for src in cfg.sources(split):
        mapping = load_mapping(cfg.relative(src.mapping)) if src.mapping else None
        samples = load_coco_samples(
            resolve_data_path(src.coco),
            src.head,  # type: ignore[arg-type]
            taxonomies[src.head],
            images=resolve_data_path(src.images) if src.images else None,
            include=read_list(cfg.relative(src.include)) if src.include else None,
            exclude=read_list(cfg.relative(src.exclude)) if src.exclude else None,
            mapping=mapping,
        )
        if src.limit is not None:
            samples = samples[: src.limit]
        if src.closeup:
            samples = [replace(s, closeup=True, source=f"{s.source} close-up") for s in samples]
        # the learning-curve share is taken per source, before repeating it
        samples = take_fraction(samples, fraction, cfg.train.seed)
        out += samples * max(1, src.repeat)
    return out


def load_seg_data(cfg: TrainConfig) -> SegData:
    taxonomies = {
        "parts": load_taxonomy(cfg.taxonomies.get("parts", "parts_reduced_dsmlr")),
        "damage": load_taxonomy(cfg.taxonomies.get("damage", "damage_categorical")),
    }
    train = _samples(cfg, "train", taxonomies, float(cfg.data.get("fraction", 1.0)))
    val = _samples(cfg, "val", taxonomies)
    if not train:
        raise ValueError(f"{cfg.path}: data.train lists no images")
    return SegData(taxonomies, train, val)


def closeup_settings(cfg: TrainConfig) -> tuple[float, tuple[float, float]]:
    """`data.closeup` as (probability, (low, high) share of the car's box); none by default."""
    raw = cfg.data.get("closeup") or {}
    try:
        low, high = (float(v) for v in raw.get("area", (0.2, 0.5)))
        return float(raw.get("p", 0.0)), (low, high)
    except (TypeError, ValueError, AttributeError):
        raise ConfigError(
            f"{cfg.path}: data.closeup must be {{p: 0.5, area: [0.2, 0.5]}}, got {raw!r}"
        ) from None


def build_model(
    cfg: TrainConfig, taxonomies: dict[str, Taxonomy], pretrained: bool = True
) -> SegmentationModel:
    m = cfg.model
    return build_segmentation_model(
        m.get("arch", "deeplabv3plus"),
        m.get("encoder", "timm-efficientnet-lite0"),
        taxonomies["parts"],
        taxonomies["damage"],
        joint=bool(m.get("joint", True)),
        pretrained_encoder=pretrained and bool(m.get("pretrained_encoder", True)),
    )


@torch.inference_mode()
def validate(
    model: SegmentationModel,
    loader: Iterable[dict[str, torch.Tensor]],
    classes: dict[str, int],
    device: torch.device | None = None,
    amp: bool = False,
) -> dict[str, np.ndarray]:
    """Summed confusion matrices of both heads over a loader (ignore label left out).
    `device`: where the model is (default the CPU); `amp`: bfloat16 autocast on CUDA."""
    model.eval()
    device = device or torch.device("cpu")
    cms: dict[str, np.ndarray] = {
        h: np.zeros((classes[h], classes[h]), dtype=np.int64) for h in HEADS
    }
    for batch in loader:
        has = {h: bool((batch[h] != IGNORE_INDEX).any()) for h in HEADS}
        if not any(has.values()):
            continue
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(batch["image"].to(device, non_blocking=True))
        for head, out in zip(HEADS, logits, strict=True):
            if not has[head]:
                continue
            target = batch[head].numpy().ravel()
            pred = out.argmax(1).cpu().numpy().ravel()
            keep = target != IGNORE_INDEX
            k = classes[head]
            cms[head] += np.bincount(target[keep] * k + pred[keep], minlength=k * k).reshape(k, k)
    return cms


def head_metrics(cms: dict[str, np.ndarray], taxonomies: dict[str, Taxonomy]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    scores = []
    for head in HEADS:
        cm = cms[head]
        if cm.sum() == 0:
            continue
        iou = per_class_iou(cm)
        out[f"{head}_miou"] = mean_iou(cm)
        out[f"{head}_iou"] = {
            name: (None if np.isnan(v) else float(v))
            for name, v in zip(taxonomies[head].classes, iou, strict=True)
        }
        scores.append(out[f"{head}_miou"])
    out["total_miou"] = float(np.mean(scores)) if scores else float("nan")
    return out


def epoch_line(epoch: int, loss: float, metrics: dict[str, Any], *, improved: bool) -> str:
    """The log line of an epoch: its loss and each head's validation mIoU, or, for a head
    whose validation data holds no label of it, "no part labels" (a damage-only snapshot)
    instead of a bare "nan"."""
    heads = []
    for head, word in (("parts", "part"), ("damage", "damage")):
        value = metrics.get(f"{head}_miou")
        if value is None or not np.isfinite(value):
            heads.append(f"{head}: no {word} labels")
        else:
            heads.append(f"{head} mIoU {value:.4f}")
    return f"epoch {epoch}: loss {loss:.4f}, {', '.join(heads)}{' (best)' if improved else ''}"


def _append_metrics(out: Path, row: dict[str, Any]) -> None:
    with (out / "metrics.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")
    flat = {k: v for k, v in row.items() if not isinstance(v, dict)}
    csv_path = out / "metrics.csv"
    new = not csv_path.exists()
    with csv_path.open("a", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(flat))
        if new:
            writer.writeheader()
        writer.writerow(flat)


def model_spec(cfg: TrainConfig, taxonomies: dict[str, Taxonomy]) -> dict[str, Any]:
    return {
        "arch": cfg.model.get("arch", "deeplabv3plus"),
        "encoder": cfg.model.get("encoder", "timm-efficientnet-lite0"),
        "joint": bool(cfg.model.get("joint", True)),
        "part_taxonomy": taxonomies["parts"].name,
        "damage_taxonomy": taxonomies["damage"].name,
        "input_size": int(cfg.data.get("resize", 512)),
    }


def _save(payload: dict[str, Any], path: Path) -> None:
    """`torch.save` through a temporary file, so that a killed run never leaves half a
    checkpoint behind."""
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def train_segmentation(
    cfg: TrainConfig,
    resume: bool = False,
    progress: bool = True,
    *,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """Train per `cfg`; returns the path of `best.pt`. `resume` continues from `last.pt`.

    `on_progress` receives dicts with an `event`: `start` (epochs, steps per epoch, the
    epoch it starts from), `step` (epoch, step, loss) after every optimiser step, and
    `epoch` (the metrics row) after every checkpoint. `should_stop` is asked after every
    step and every checkpoint; when it answers True the run raises `TrainingStopped`
    (an unfinished epoch is dropped: resuming runs it again from `last.pt`).
    """
    started = time.monotonic()
    settings = cfg.train
    torch.set_num_threads(settings.threads)
    seed_everything(settings.seed)
    device = select_device(settings.device)
    cuda = device.type == "cuda"
    amp = cuda and settings.amp
    if cuda:
        torch.backends.cudnn.benchmark = True  # fixed crop size: cuDNN may pick its fastest kernels
    out = cfg.out
    out.mkdir(parents=True, exist_ok=True)
    data = load_seg_data(cfg)
    resize = int(cfg.data.get("resize", 512))
    crop = int(cfg.data.get("crop", resize))
    swap = {h: left_right_swap_lut(data.taxonomies[h].classes) for h in HEADS}
    closeup, closeup_area = closeup_settings(cfg)
    train_set = JointSegmentationDataset(
        data.train,
        resize,
        crop,
        train=True,
        swap_luts=swap,  # type: ignore[arg-type]
        seed=settings.seed,
        closeup=closeup,
        closeup_area=closeup_area,
    )
    val_set = JointSegmentationDataset(data.val, resize, train=False, closeup_area=closeup_area)
    presence = class_presence(data.train, data.taxonomies)  # type: ignore[arg-type]
    sampling = str(cfg.data.get("sampling", "none"))
    plan_len = len(sampling_plan(presence, sampling, settings.seed))  # type: ignore[arg-type]
    steps_per_epoch = -(-plan_len // settings.batch_size)
    if settings.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, settings.max_steps_per_epoch)
    resuming = resume and (out / LAST).is_file()
    model = build_model(cfg, data.taxonomies, pretrained=not resuming).to(device)
    params = model.parameters()
    optimizer: torch.optim.Optimizer = (
        torch.optim.Adam(params, lr=settings.lr)
        if settings.optimizer == "adam"
        else torch.optim.RMSprop(params, lr=settings.lr)
    )
    total_steps = steps_per_epoch * settings.epochs
    warmup = max(1, round(settings.warmup_epochs * steps_per_epoch))
    scheduler = warmup_cosine(optimizer, warmup, total_steps)
    criterion = SegmentationLoss(settings.loss, settings.damage_weight)  # type: ignore[arg-type]
    classes: dict[str, int] = {h: data.taxonomies[h].num_classes for h in HEADS}
    start_epoch, best_score = 0, -1.0
    init = cfg.model.get("init_checkpoint")
    if init and not resuming:
        # continue training from another run's weights (fresh optimiser and schedule)
        init_path = Path(init) if Path(init).is_absolute() else REPO_ROOT / init
        loaded = torch.load(init_path, map_location="cpu", weights_only=False)
        # a training checkpoint ({"model": ...}) or a shipped version's fp16 state dict
        weights = loaded["model"] if isinstance(loaded.get("model"), dict) else loaded
        model.load_state_dict({k: v.float() for k, v in weights.items()})
    if resuming:
        state = torch.load(out / LAST, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best_score = int(state["epoch"]) + 1, float(state["best_score"])
        torch.set_rng_state(state["torch_rng"])
    (out / "config.yaml").write_text(cfg.path.read_text(encoding="utf-8"), encoding="utf-8")
    val_loader = DataLoader(
        val_set,
        batch_size=16 if cuda else 2,
        num_workers=min(settings.workers, 4) if cuda else 0,
        collate_fn=pad_collate,
        pin_memory=cuda,
    )
    spec = model_spec(cfg, data.taxonomies)
    epochs = settings.epochs
    loop_started = time.monotonic()
    epoch = start_epoch
    if on_progress is not None:
        on_progress(
            {"event": "start", "epochs": epochs, "steps": steps_per_epoch, "start_epoch": epoch}
        )
    while epoch < epochs:
        began = time.time()
        plan = sampling_plan(presence, sampling, settings.seed + epoch)  # type: ignore[arg-type]
        generator = torch.Generator().manual_seed(settings.seed + epoch)
        loader = DataLoader(
            Subset(train_set, plan),
            batch_size=settings.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=settings.workers,
            collate_fn=pad_collate,
            generator=generator,
            persistent_workers=False,
            pin_memory=cuda,
        )
        model.train()
        losses: list[float] = []
        bar = tqdm(
            total=steps_per_epoch,
            desc=f"epoch {epoch + 1}/{epochs}",
            disable=not progress,
            file=sys.stderr,
            mininterval=10.0,
        )
        for step, batch in enumerate(loader):
            if step >= steps_per_epoch:
                break
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = model(batch["image"].to(device, non_blocking=True))
            loss = criterion(
                logits.parts.float(),
                logits.damage.float(),
                batch["parts"].to(device, non_blocking=True),
                batch["damage"].to(device, non_blocking=True),
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(
                loss=f"{np.mean(losses[-50:]):.4f}",
                lr=f"{scheduler.get_last_lr()[0]:.2e}",
                refresh=False,
            )
            if on_progress is not None:
                on_progress(
                    {
                        "event": "step",
                        "epoch": epoch + 1,
                        "epochs": epochs,
                        "step": step + 1,
                        "steps": steps_per_epoch,
                        "loss": float(np.mean(losses[-50:])),
                    }
                )
            if should_stop is not None and should_stop():
                bar.close()
                raise TrainingStopped(epoch)
        bar.close()
        train_seconds = time.time() - began
        cms = validate(model, val_loader, classes, device, amp)
        metrics = head_metrics(cms, data.taxonomies)
        row = {
            "epoch": epoch + 1,
            "train_loss": float(np.mean(losses)) if losses else float("nan"),
            "lr": scheduler.get_last_lr()[0],
            "train_seconds": round(train_seconds, 1),
            "val_seconds": round(time.time() - began - train_seconds, 1),
            "steps": len(losses),
        } | metrics
        _append_metrics(out, row)
        score = float(metrics["total_miou"])
        improved = score > best_score
        if improved:
            best_score = score
            _save(
                {
                    "model": model.state_dict(),
                    "spec": spec,
                    "epoch": epoch + 1,
                    "metrics": metrics,
                    "confusion": {h: cms[h].tolist() for h in HEADS},
                },
                out / BEST,
            )
        _save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "epoch": epoch,
                "best_score": best_score,
                "spec": spec,
                "torch_rng": torch.get_rng_state(),
            },
            out / LAST,
        )
        print(epoch_line(epoch + 1, row["train_loss"], metrics, improved=improved), flush=True)
        if settings.time_limit_s is not None:
            fit = _epochs_that_fit(
                epoch + 1, start_epoch, loop_started, started + settings.time_limit_s
            )
            if fit < epochs:
                epochs = fit
                # the cosine now ends at the last epoch that fits (a jump in the rate, as in
                # Ultralytics' `time` mode), so that the best weights see its low rates
                total = max(warmup + 1, steps_per_epoch * epochs)
                scheduler.lr_lambdas[0] = partial(
                    warmup_cosine_factor, warmup_steps=warmup, total_steps=total
                )
                print(
                    f"time limit {settings.time_limit_s:.0f} s: {epochs} epochs fit; "
                    "the schedule now ends there",
                    flush=True,
                )
        if on_progress is not None:
            on_progress({"event": "epoch", "epochs": epochs, "steps": steps_per_epoch} | row)
        epoch += 1
        if should_stop is not None and should_stop() and epoch < epochs:
            raise TrainingStopped(epoch)
    return out / BEST


def _epochs_that_fit(done: int, first: int, loop_started: float, deadline: float) -> int:
    """The epoch count (at least `done`) that ends before `deadline` (monotonic seconds) at
    the mean duration of the epochs run since `loop_started`."""
    now = time.monotonic()
    mean = (now - loop_started) / max(1, done - first)
    return done + max(0, int((deadline - now) // mean))
