"""Where the public datasets, the mask cache and the training configs live."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# Training configs, split lists and mappings, beside the code that reads them.
CONFIGS_DIR = Path(__file__).resolve().parents[1] / "configs"
DATA_ENV = "DAMAGE_DATA_DIR"
CACHE_ENV = "DAMAGE_CACHE_DIR"


class DataNotFoundError(FileNotFoundError):
    """A dataset or annotation file is missing; the message says where it was looked for."""


def data_root() -> Path:
    """`$DAMAGE_DATA_DIR`, else `../shared/data` beside the repository."""
    env = os.environ.get(DATA_ENV)
    root = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    if not root.is_dir():
        raise DataNotFoundError(
            f"no dataset directory at {root}; set ${DATA_ENV} to the folder holding "
            "carparts-dsmlr/, damage-bilgi/, damaged-parts-cardiag/ and vehicle-uiuc/"
        )
    return root


def data_available() -> bool:
    try:
        data_root()
    except DataNotFoundError:
        return False
    return True


def cache_root() -> Path:
    """Mask cache: `$DAMAGE_CACHE_DIR`, else `cache/` in the repository (git-ignored)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else REPO_ROOT / "cache"


def resolve_data_path(path: str | Path) -> Path:
    """A path as given if it exists; else relative to the data root (configs use this)."""
    candidate = Path(path)
    if candidate.is_absolute() or candidate.exists():
        return candidate
    return data_root() / candidate
