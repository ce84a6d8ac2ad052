"""One predictor per worker process and model version, loaded lazily on first use."""

from __future__ import annotations

import threading
from functools import lru_cache

from django.conf import settings

from damage_vision.pipeline.predictor import Predictor

_lock = threading.Lock()


@lru_cache(maxsize=4)
def _load(manifest_path: str, backend: str, threads: int) -> Predictor:
    return Predictor.from_manifest(manifest_path, backend=backend, threads=threads)  # type: ignore[arg-type]


def predictor_for(manifest_path: str) -> Predictor:
    with _lock:  # two threads of one worker must not load the same weights twice
        return _load(manifest_path, settings.INFERENCE_BACKEND, settings.INFERENCE_THREADS)
