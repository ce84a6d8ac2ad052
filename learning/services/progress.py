"""What a training attempt reports while it runs: the heartbeat renewed every
TRAINING_HEARTBEAT_S, lines of the run's log, and `TrainingProgress`, which turns the
trainer's events into the run's progress row (phase, epoch, step, losses, time left; written
at most every `PROGRESS_EVERY_S`) and tells the trainer to stop when the run is cancelled or
taken over by another attempt.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from common.db import heartbeat
from learning.models import TrainingRun
from learning.services.worker import held_by_attempt

# Heartbeats, attempts, threads and the calibration minimum are settings (TRAINING_*).
PROGRESS_EVERY_S = 1.0  # progress rows written at most this often (epoch ends always)


def training_run_heartbeat(*, run_id: int, attempt: int) -> contextlib.AbstractContextManager[None]:
    """Renew the run's heartbeat every TRAINING_HEARTBEAT_S while it trains or packages."""

    def renew() -> bool:
        return bool(
            TrainingRun.objects.filter(
                held_by_attempt(run_id, attempt),
                status__in=(TrainingRun.Status.RUNNING, TrainingRun.Status.CANCELLING),
            ).update(heartbeat_at=timezone.now())
        )

    return heartbeat(
        renew=renew, every_s=settings.TRAINING_HEARTBEAT_S, name=f"training run {run_id}"
    )


def training_log_append(path: Path, line: str) -> None:
    """Append `line`, stamped with the time, to the run's log at `path`."""
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f"{timezone.now().isoformat(timespec='seconds')} {line}\n")


class TrainingProgress:
    """Turns the trainer's events into the run's progress row (at most once a second)."""

    def __init__(self, run: TrainingRun, attempt: int) -> None:
        self.run_id = run.pk
        self.attempt = attempt
        self.values: dict[str, Any] = dict(run.progress or {})
        self.before = float(self.values.get("seconds_elapsed") or 0.0)
        self.began = time.monotonic()
        self.first_step: int | None = None
        self.written = 0.0
        self.checked = 0.0
        self.stop = False

    def _elapsed(self) -> float:
        return time.monotonic() - self.began

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        v = self.values
        if kind == "start":
            v |= {
                "phase": "training",
                "epochs": event["epochs"],
                "steps": event["steps"],
                "epoch": event["start_epoch"],
                "step": 0,
            }
            if event["start_epoch"]:
                v["resumed_from_epoch"] = event["start_epoch"]
            self.first_step = event["start_epoch"] * event["steps"]
        elif kind == "step":
            v |= {
                "phase": "training",
                "epoch": event["epoch"],
                "step": event["step"],
                "train_loss": event["loss"],
            }
        elif kind == "epoch":
            figures = {
                k: event.get(k) for k in ("parts_miou", "damage_miou", "total_miou") if k in event
            }
            v |= {
                "phase": "training",
                "epoch": event["epoch"],
                "step": event["steps"],
                "train_loss": event["train_loss"],
                "validation": figures,
            }
            history = [h for h in v.get("history", []) if h.get("epoch") != event["epoch"]]
            v["history"] = [
                *history,
                {"epoch": event["epoch"], "train_loss": event["train_loss"]} | figures,
            ]
        v["epochs"] = event.get("epochs", v.get("epochs"))
        steps = int(v.get("steps") or 0)
        done = (int(v.get("epoch") or 1) - 1) * steps + int(v.get("step") or 0)
        if kind == "epoch":
            done = int(v["epoch"]) * steps
        total = int(v.get("epochs") or 0) * steps
        elapsed = self._elapsed()
        v["seconds_elapsed"] = round(self.before + elapsed, 1)
        here = done - (self.first_step or 0)
        if here > 0 and total:
            v["seconds_left"] = round(elapsed / here * max(0, total - done), 1)
        now = time.monotonic()
        if kind != "step" or now - self.written >= PROGRESS_EVERY_S:
            self.save()
            self.written = now

    def phase(self, name: str, **values: Any) -> None:
        self.values |= {"phase": name, "seconds_elapsed": round(self.before + self._elapsed(), 1)}
        self.values |= values
        self.save()

    def save(self) -> None:
        TrainingRun.objects.filter(held_by_attempt(self.run_id, self.attempt)).update(
            progress=self.values
        )

    def should_stop(self) -> bool:
        """Stop when the run is cancelled or another attempt took it over."""
        now = time.monotonic()
        if self.stop:
            return True
        if now - self.checked >= PROGRESS_EVERY_S or self.checked == 0.0:
            self.checked = now
            self.stop = not TrainingRun.objects.filter(
                held_by_attempt(self.run_id, self.attempt), status=TrainingRun.Status.RUNNING
            ).exists()
        return self.stop
