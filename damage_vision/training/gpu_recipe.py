"""Steps of bin/gpu-recipe that need Python (docs/gpu-recipe.md); not a user command.

    python -m damage_vision.training.gpu_recipe detector --config CFG --out DIR [--set K=V]
    python -m damage_vision.training.gpu_recipe collect --work DIR --out DIR \\
        --job segmentation:RC:SECONDS --job detector:RC:SECONDS

`detector` trains the YOLOv9-CS detector like `python -m damage_vision train` (on
`train.device`) within `train.time_limit_s`: the call is wrapped to pass the time budget
(Ultralytics' `time` mode, its clock restarted once the data are loaded) and the config's
`ultralytics:` keys (e.g. `cache: ram`).

`collect` turns what the jobs left in the work folder into the files that come back from
the device machine (at most 8, each under 16 MiB): fp16 weights, the metrics of every
epoch as JSON, the logs' tails and `summary.json`; beside the detector's state dict,
Ultralytics' own best.pt and results.csv. A failed or killed job still gives back its log,
its metrics and the best weights it saved.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import hashlib
import importlib
import json
import shutil
import sys
import time
import types
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from damage_vision.training.config import TrainConfig, load_config

MAX_FILE_BYTES = 16 * 1024 * 1024
"""The device tool brings back no file larger than this."""
LOG_TAIL_BYTES = 2 * 1024 * 1024
FINAL_EVAL_S = 30.0
"""Kept from the detector's time budget for Ultralytics' last validation of best.pt."""
PACKAGES = (
    "torch",
    "torchvision",
    "timm",
    "segmentation-models-pytorch",
    "ultralytics",
    "albumentations",
    "pycocotools",
    "numpy",
    "opencv-python-headless",
)


class RecipeError(RuntimeError):
    """A recipe step cannot go on; the message says why."""


# ----------------------------------------------------------------------------- detector


@contextlib.contextmanager
def _polars_stand_in() -> Iterator[None]:
    """Ultralytics imports polars only to copy results.csv into its checkpoints (inside a
    try that gives up on any error) and for plots; the device image has no polars and its
    wheel is too large to carry, so a module whose `read_csv` fails stands in for it."""
    try:
        importlib.import_module("polars")
    except ImportError:
        pass
    else:
        yield
        return

    def read_csv(*args: Any, **kwargs: Any) -> Any:
        raise ImportError("polars is not installed; results.csv stays a CSV file")

    stand_in = types.ModuleType("polars")
    stand_in.read_csv = read_csv  # type: ignore[attr-defined]
    sys.modules["polars"] = stand_in
    try:
        yield
    finally:
        sys.modules.pop("polars", None)


@contextlib.contextmanager
def _ultralytics_overrides(overrides: dict[str, Any], deadline: float | None) -> Iterator[None]:
    """Every `YOLO.train` call in the block gets `overrides` over its own arguments; with a
    `deadline` (time.time() seconds), Ultralytics' time budget is reset when training
    starts, so that building and caching the dataset count against it too. Ultralytics'
    AMP self-check is skipped: it downloads yolo26n.pt, and on a machine that is offline
    it waits for the network, then lets AMP on anyway."""
    from ultralytics import YOLO
    from ultralytics.engine import trainer as ultralytics_trainer

    original = YOLO.train
    original_check_amp = ultralytics_trainer.check_amp

    def restart_clock(trainer: Any) -> None:
        if deadline is not None:
            left = deadline - time.time() - FINAL_EVAL_S
            trainer.args.time = max(left, 1.0) / 3600

    def train(self: Any, trainer: Any = None, **kwargs: Any) -> Any:
        self.add_callback("on_train_start", restart_clock)
        return original(self, trainer=trainer, **(kwargs | overrides))

    setattr(YOLO, "train", train)  # noqa: B010 (mypy refuses assigning to a method)
    ultralytics_trainer.check_amp = lambda model: True
    try:
        yield
    finally:
        setattr(YOLO, "train", original)  # noqa: B010
        ultralytics_trainer.check_amp = original_check_amp


def train_detector_on_device(cfg: TrainConfig) -> Path:
    """`train_detector(cfg)` on `train.device` within `train.time_limit_s`; returns
    `out/best_state.pt` (fp32 state dict)."""
    from damage_vision.training.detector import train_detector, ultralytics_device

    began = time.time()
    overrides = dict(cfg.raw.get("ultralytics") or {})
    limit = cfg.train.time_limit_s
    deadline = began + limit if limit else None
    if limit:
        overrides["time"] = limit / 3600  # hours; the clock restarts once data are loaded
    device = ultralytics_device(cfg)
    print(f"detector: device {device}, Ultralytics overrides {overrides}", flush=True)
    with _polars_stand_in(), _ultralytics_overrides(overrides, deadline):
        return train_detector(cfg)


# ----------------------------------------------------------------------------- collect


def _fp16(state: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v.detach().cpu().half() if torch.is_floating_point(v) else v.detach().cpu())
        for k, v in state.items()
    }


def _write_checked(payload: dict[str, Any], path: Path) -> dict[str, Any]:
    """Save `payload`, check that it comes back (size limit, loads with
    `weights_only=True`) and describe it; a file over the limit is removed."""
    torch.save(payload, path)
    size = path.stat().st_size
    if size >= MAX_FILE_BYTES:
        path.unlink()
        raise RecipeError(
            f"{path.name} is {size / 2**20:.1f} MiB, over the 16 MiB a file may have to come "
            "back from the device machine"
        )
    torch.load(path, map_location="cpu", weights_only=True)
    return {
        "file": path.name,
        "bytes": size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


def segmentation_metrics(run: Path) -> dict[str, Any]:
    """The epochs of `run/metrics.jsonl` and the best one (highest total mIoU, as best.pt)."""
    rows: list[dict[str, Any]] = []
    metrics_file = run / "metrics.jsonl"
    if metrics_file.is_file():
        rows = [json.loads(line) for line in metrics_file.read_text().splitlines() if line]
    scored = [r for r in rows if isinstance(r.get("total_miou"), float)]
    best = max(scored, key=lambda r: float(r["total_miou"])) if scored else None
    return {"best": best, "epochs": rows}


def export_segmentation(run: Path, out: Path) -> dict[str, Any]:
    """`run/best.pt` as `out/segmentation.pt`: fp16 weights; spec, epoch, metrics and
    confusion kept, so that `python -m damage_vision package --segmentation` takes it."""
    best = run / "best.pt"
    if not best.is_file():
        raise RecipeError(f"no best.pt in {run}: the segmentation job saved no epoch")
    state = torch.load(best, map_location="cpu", weights_only=False)
    payload = {
        "model": _fp16(state["model"]),
        "spec": state["spec"],
        "epoch": state["epoch"],
        "metrics": state["metrics"],
        "confusion": state["confusion"],
    }
    return {"weights": _write_checked(payload, out / "segmentation.pt")}


def _detector_state(run: Path) -> dict[str, Any]:
    """The best weights a detector run saved: `best_state.pt`, else (a run stopped before
    its end) Ultralytics' own `weights/best.pt` or `last.pt`."""
    if (run / "best_state.pt").is_file():
        state: dict[str, Any] = torch.load(
            run / "best_state.pt", map_location="cpu", weights_only=True
        )
        return state
    for name in ("best.pt", "last.pt"):
        path = run / "ultralytics" / "weights" / name
        if path.is_file():
            from damage_vision.training.detector import checkpoint_state

            return checkpoint_state(path)
    raise RecipeError(f"no detector weights in {run}: the detector job saved no epoch")


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def detector_metrics(run: Path) -> dict[str, Any]:
    """The epochs of Ultralytics' results.csv and the best one (highest mAP50-95)."""
    rows: list[dict[str, float | str]] = []
    results = run / "ultralytics" / "results.csv"
    if results.is_file():
        with results.open(newline="") as fh:
            rows = [
                {k.strip(): _number(v.strip()) for k, v in row.items()}
                for row in csv.DictReader(fh)
            ]
    key = "metrics/mAP50-95(B)"
    scored = [r for r in rows if isinstance(r.get(key), float)]
    best = max(scored, key=lambda r: float(r[key])) if scored else None
    return {"best": best, "epochs": rows}


def export_detector(run: Path, out: Path) -> dict[str, Any]:
    """The detector's best weights as an fp16 state dict `out/detector.pt` (what
    `YoloDamageDetector(weights=...)` and `package-detector --detector` load), and as they
    come: Ultralytics' best.pt (fp16, without its optimiser; for `evaluate --task detector
    --weights`) as `out/detector-ultralytics.pt` and its results.csv (for
    `package-detector --curve`) as `out/detector-results.csv`."""
    result: dict[str, Any] = {
        "weights": _write_checked(_fp16(_detector_state(run)), out / "detector.pt")
    }
    copies = {
        run / "ultralytics" / "weights" / "best.pt": out / "detector-ultralytics.pt",
        run / "ultralytics" / "results.csv": out / "detector-results.csv",
    }
    for source, target in copies.items():
        if source.is_file() and source.stat().st_size < MAX_FILE_BYTES:
            shutil.copyfile(source, target)
    result["files"] = sorted(t.name for t in copies.values() if t.is_file())
    return result


def _tail(log: Path, target: Path) -> None:
    if not log.is_file():
        target.write_text(f"(no log at {log})\n")
        return
    size = log.stat().st_size
    with log.open("rb") as fh:
        if size > LOG_TAIL_BYTES:
            fh.seek(size - LOG_TAIL_BYTES)
        target.write_bytes(fh.read())


def _environment() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    cuda = torch.cuda.is_available()
    return {
        "python": sys.version.split()[0],
        "cuda": torch.version.cuda if cuda else None,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "packages": versions,
    }


def parse_job(text: str) -> tuple[str, int, float]:
    """`NAME:EXIT_CODE:SECONDS` as passed by bin/gpu-recipe."""
    try:
        name, code, seconds = text.split(":")
        return name, int(code), float(seconds)
    except ValueError:
        raise RecipeError(f"--job takes NAME:EXIT_CODE:SECONDS, got {text!r}") from None


def _status(code: int) -> str:
    if code == 0:
        return "ok"
    if code in (124, 137):
        return "stopped at its time limit"
    return f"failed (exit code {code})"


def collect(
    work: Path, out: Path, jobs: Sequence[tuple[str, int, float]], pack: Path | None = None
) -> dict[str, Any]:
    """Write the files that come back to `out` from the jobs' folders and logs in `work`
    (`work/NAME/`, `work/NAME.log`): the weights, `metrics.json` (each job's epochs and
    best epoch), the logs' tails and `summary.json`; `pack`: the data's pack.json, copied
    into the summary. Returns `summary.json`'s content."""
    out.mkdir(parents=True, exist_ok=True)
    exporters = {"segmentation": export_segmentation, "detector": export_detector}
    readers = {"segmentation": segmentation_metrics, "detector": detector_metrics}
    summary: dict[str, Any] = {"environment": _environment(), "jobs": {}}
    if pack is not None and pack.is_file():
        summary["pack"] = json.loads(pack.read_text())
    metrics: dict[str, Any] = {}
    for name, code, seconds in jobs:
        entry: dict[str, Any] = {
            "exit_code": code,
            "status": _status(code),
            "seconds": round(seconds, 1),
        }
        # one job's failure must not lose the other's results, nor its own metrics
        try:
            metrics[name] = readers[name](work / name)
            entry |= {"epochs_run": len(metrics[name]["epochs"]), "best": metrics[name]["best"]}
        except Exception as exc:
            entry["metrics_error"] = f"{type(exc).__name__}: {exc}"
        try:
            entry |= exporters[name](work / name, out)
        except Exception as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
        _tail(work / f"{name}.log", out / f"{name}.log")
        summary["jobs"][name] = entry
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    for name, entry in summary["jobs"].items():
        weights = entry.get("weights", {})
        print(
            f"{name}: {entry['status']} after {entry['seconds']} s, "
            f"{entry.get('epochs_run', 0)} epochs, weights "
            f"{weights.get('file', 'none')} ({weights.get('bytes', 0) / 2**20:.1f} MiB)"
            + (f"; {entry['error']}" if "error" in entry else "")
        )
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary


# ----------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    from damage_vision.training.commands import parse_overrides

    parser = argparse.ArgumentParser(prog="python -m damage_vision.training.gpu_recipe")
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("detector", help="train the detector on train.device (a GPU)")
    p.add_argument("--config", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p = sub.add_parser("collect", help="fp16 weights, metrics, logs and summary to --out")
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--job", action="append", default=[], metavar="NAME:EXIT_CODE:SECONDS")
    p.add_argument("--pack", help="pack.json of the data the jobs trained on")
    args = parser.parse_args(argv)
    try:
        if args.step == "detector":
            cfg = load_config(args.config, parse_overrides(args.set))
            cfg = dataclasses.replace(cfg, out=Path(args.out).resolve())
            print(f"best weights: {train_detector_on_device(cfg)}")
            return 0
        jobs = [parse_job(j) for j in args.job]
        pack = Path(args.pack) if args.pack else None
        summary = collect(Path(args.work), Path(args.out), jobs, pack)
    except RecipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = [n for n, e in summary["jobs"].items() if "weights" not in e]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
