"""Training configuration files (YAML, under `damage_vision/configs/`).

    task: segmentation                 # segmentation | vehicle | detector
    name: joint-deeplabv3plus-lite0
    out: runs/joint-deeplabv3plus-lite0
    model: {arch: deeplabv3plus, encoder: timm-efficientnet-lite0, joint: true,
            pretrained_encoder: true}
    taxonomies: {parts: parts_reduced_dsmlr, damage: damage_categorical}
    data:
      resize: 384                      # long side before augmenting / at validation
      crop: 320                        # training crop (paper: 512)
      fraction: 1.0                    # share of each training source (learning curve)
      sampling: none                   # none | under | over
      closeup: {p: 0.0, area: [0.2, 0.5]}  # part photos seen as close-ups (share of the car)
      train:
        - {head: parts, coco: carparts-dsmlr/train/annotations.json,
           exclude: splits/carparts-dsmlr-val.txt, repeat: 2}
        - {head: damage, coco: damage-bilgi/train/_annotations.coco.json}
      val:
        - {head: parts, coco: carparts-dsmlr/train/annotations.json,
           include: splits/carparts-dsmlr-val.txt}
        - {head: damage, coco: damage-bilgi/valid/_annotations.coco.json}
    train: {epochs: 50, batch_size: 4, lr: 1.0e-4, warmup_epochs: 10, loss: dice,
            damage_weight: 0.5, seed: 0, workers: 1, threads: 2,
            device: auto, amp: true, time_limit_s: null}

`train.device`: `auto` (CUDA when there is one, else the CPU), `cpu`, `cuda`, `cuda:N` or a
GPU index. `train.amp`: bfloat16 autocast on CUDA (no effect on the CPU).
`train.time_limit_s`: wall-clock budget of the run; the schedule is shortened to the epochs
that fit (the GPU recipe, bin/gpu-recipe, runs within one device call).

Dataset paths are relative to the data root (`$DAMAGE_DATA_DIR` or `../shared/data`);
split lists (`include`, `exclude`: one file name a line) are relative to the config file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from damage_vision.data.paths import REPO_ROOT

if TYPE_CHECKING:
    import torch

LOSSES = ("dice", "ce", "focal", "dice_ce")  # segmentation losses (training/losses.py)


class ConfigError(ValueError):
    """A training configuration is invalid; the message names the key."""


@dataclass(frozen=True)
class Source:
    head: str
    coco: str
    images: str | None = None
    include: str | None = None
    exclude: str | None = None
    mapping: str | None = None
    repeat: int = 1
    limit: int | None = None  # at most this many images (quick experiments)
    closeup: bool = False  # each photo as one fixed close-up of its car (validation)


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 50
    batch_size: int = 4
    lr: float = 1e-4
    warmup_epochs: float = 10
    loss: str = "dice"
    damage_weight: float = 0.5
    seed: int = 0
    workers: int = 1
    threads: int = 2
    optimizer: str = "adam"
    max_steps_per_epoch: int | None = None
    device: str | int = "auto"
    amp: bool = True
    time_limit_s: float | None = None


@dataclass(frozen=True)
class TrainConfig:
    path: Path
    task: str
    name: str
    out: Path
    model: dict[str, Any]
    taxonomies: dict[str, str]
    data: dict[str, Any]
    train: TrainSettings
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def sources(self, split: str) -> list[Source]:
        entries = self.data.get(split) or []
        out = []
        for i, entry in enumerate(entries):
            try:
                out.append(Source(**entry))
            except TypeError as exc:
                raise ConfigError(f"{self.path}: data.{split}[{i}]: {exc}") from None
            if out[-1].head not in ("parts", "damage"):
                raise ConfigError(f"{self.path}: data.{split}[{i}].head must be parts or damage")
        return out

    def relative(self, value: str) -> Path:
        """A path from the config: as given if absolute, else relative to the config file."""
        p = Path(value)
        return p if p.is_absolute() else self.path.parent / p


def parse_device(value: str | int) -> tuple[str, int | None]:
    """`train.device` as (kind, GPU index): `auto`, `cpu`, `cuda`, `cuda:N` or an index N.
    Raises `ConfigError` for anything else."""
    text = str(value).strip().lower()
    if text in ("auto", "cpu", "cuda"):
        return text, None
    if text.isdigit():
        return "cuda", int(text)
    if text.startswith("cuda:") and text[5:].isdigit():
        return "cuda", int(text[5:])
    raise ConfigError(f"train.device must be auto, cpu, cuda, cuda:N or a GPU index, got {value!r}")


def select_device(value: str | int) -> torch.device:
    """The torch device of a `train.device` setting; `auto` takes CUDA when it is there.
    Raises `ConfigError` when CUDA is asked for on a machine without it."""
    import torch

    kind, index = parse_device(value)
    if kind == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(
            f"train.device is {value!r} but torch {torch.__version__} sees no CUDA device; "
            "use train.device=auto or cpu on this machine"
        )
    return torch.device("cuda", index or 0)


def read_list(path: Path) -> list[str]:
    """File names, one a line; blank lines and `#` comments are skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Parse a training config; `overrides` maps dotted keys (`train.epochs`) to values."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no training config at {path}; see damage_vision/configs/ for examples")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for dotted, value in (overrides or {}).items():
        node = raw
        keys = dotted.split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    task = raw.get("task", "segmentation")
    if task not in ("segmentation", "vehicle", "detector"):
        raise ConfigError(f"{path}: task must be segmentation, vehicle or detector, got {task!r}")
    try:
        settings = TrainSettings(**(raw.get("train") or {}))
    except TypeError as exc:
        raise ConfigError(f"{path}: train: {exc}") from None
    if settings.loss not in LOSSES:
        raise ConfigError(f"{path}: train.loss must be one of {', '.join(LOSSES)}")
    try:
        parse_device(settings.device)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if settings.time_limit_s is not None and settings.time_limit_s <= 0:
        raise ConfigError(f"{path}: train.time_limit_s must be positive seconds or null")
    if task == "segmentation" and settings.batch_size < 2:
        # DeepLabV3+'s image pooling (and PSPNet's) reduce a crop to one value per channel
        # before a batch norm, which cannot train on a single value.
        raise ConfigError(
            f"{path}: train.batch_size must be at least 2 for segmentation "
            f"(got {settings.batch_size}); repeat a tiny dataset with `repeat:` if it has one image"
        )
    name = str(raw.get("name") or path.stem)
    out = Path(raw.get("out") or f"runs/{name}")
    if not out.is_absolute():
        out = REPO_ROOT / out
    return TrainConfig(
        path=path.resolve(),
        task=task,
        name=name,
        out=out,
        model=dict(raw.get("model") or {}),
        taxonomies=dict(raw.get("taxonomies") or {}),
        data=dict(raw.get("data") or {}),
        train=settings,
        raw=raw,
    )
