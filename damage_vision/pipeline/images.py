"""Loading and preprocessing photos: EXIF orientation, RGB, long side resize, normalisation.

Accepted inputs: a path, raw bytes, a PIL image, or a numpy array of shape (H, W, 3),
dtype uint8, RGB. Every failure raises `InferenceInputError` with what to do instead.
"""

from __future__ import annotations

import io
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from damage_vision.pipeline.types import InferenceInputError

ImageInput: TypeAlias = str | Path | bytes | bytearray | memoryview | Image.Image | np.ndarray

_HEIF_REGISTERED = False


def _register_heif() -> None:
    """Let Pillow open HEIC/HEIF phone photos (pillow-heif), once per process."""
    global _HEIF_REGISTERED
    if _HEIF_REGISTERED:
        return
    _HEIF_REGISTERED = True
    try:
        import pillow_heif
    except ImportError:
        return
    pillow_heif.register_heif_opener()


def pil_opener() -> Callable[..., Image.Image]:
    """Pillow's own `Image.open`. Importing Ultralytics replaces it process-wide with a
    wrapper that, on an unreadable file, tries to install pi-heif and (offline) raises
    ModuleNotFoundError instead of UnidentifiedImageError."""
    patches = sys.modules.get("ultralytics.utils.patches")
    original = getattr(patches, "_image_open", None)
    return original if callable(original) else Image.open


@dataclass(frozen=True)
class LoadedImage:
    rgb: npt.NDArray[np.uint8]  # (h, w, 3), long side = the requested size
    original_size: tuple[int, int]  # width, height after EXIF orientation, before resizing


def _describe(source: object) -> str:
    if isinstance(source, str | Path):
        return str(source)
    return type(source).__name__


def _open(source: ImageInput) -> Image.Image:
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise InferenceInputError(f"{path}: no such file; check the path")
        if path.stat().st_size == 0:
            raise InferenceInputError(f"{path}: the file is empty; upload the photo again")
        data: bytes | None = None
        opener: object = path
    else:
        data = bytes(source)  # type: ignore[arg-type]
        if not data:
            raise InferenceInputError("empty upload (0 bytes); send the photo's file content")
        opener = io.BytesIO(data)
    _register_heif()
    try:
        return pil_opener()(opener)
    except UnidentifiedImageError:
        raise InferenceInputError(
            f"{_describe(source)}: not an image we can read; send a JPEG, PNG, WebP or HEIC photo"
        ) from None
    except Image.DecompressionBombError as exc:
        raise InferenceInputError(f"{_describe(source)}: {exc}; send a smaller photo") from None


def _to_rgb(image: Image.Image, where: str) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        alpha = np.asarray(image.convert("RGBA").getchannel("A"))
        if int(alpha.min(initial=255)) < 255:
            raise InferenceInputError(
                f"{where}: expected an RGB photo, got an image with transparency "
                f"({image.mode}, {len(image.getbands())} channels); flatten it onto a "
                "background and save it as JPEG first"
            )
        return image.convert("RGBA").convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") else max(float(array.max()), 1.0)
        grey = np.clip(array / peak * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    return image.convert("RGB")


def _resize(image: Image.Image, size: int) -> Image.Image:
    width, height = image.size
    scale = size / max(width, height)
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    if target == image.size:
        return image
    return image.resize(target, Image.Resampling.BILINEAR)


def _array_image(array: np.ndarray) -> Image.Image:
    if array.size == 0:
        raise InferenceInputError(f"empty array of shape {array.shape}; pass an (H, W, 3) photo")
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1):
        raise InferenceInputError(
            f"expected an RGB array of shape (H, W, 3), got one channel {array.shape}; "
            "repeat it to three channels first (np.repeat(a[..., None], 3, axis=2))"
        )
    if array.ndim != 3 or array.shape[2] != 3:
        channels = array.shape[2] if array.ndim == 3 else f"{array.ndim} dimensions"
        raise InferenceInputError(
            f"expected an RGB array of shape (H, W, 3), got shape {array.shape} "
            f"({channels} channels); drop alpha with a[..., :3] or convert to RGB first"
        )
    if array.dtype != np.uint8:
        raise InferenceInputError(
            f"expected a uint8 array with values 0-255, got {array.dtype}; convert it first "
            "(e.g. (a * 255).round().astype(np.uint8) for floats in [0, 1])"
        )
    return Image.fromarray(np.ascontiguousarray(array), mode="RGB")


def load_image(source: ImageInput, size: int) -> LoadedImage:
    """Decode, apply EXIF orientation, convert to RGB and resize the long side to `size`."""
    if isinstance(source, np.ndarray):
        image = _array_image(source)
        return LoadedImage(np.asarray(_resize(image, size)), image.size)
    where = _describe(source)
    image = source if isinstance(source, Image.Image) else _open(source)
    try:
        orientation = image.getexif().get(0x0112, 1)
        width, height = image.size
        original = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
        if image.format == "JPEG" and image.mode in ("RGB", "L", "CMYK", "YCbCr"):
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the photo is larger than
            # needed; draft keeps both sides >= the requested (final) size.
            scale = size / max(width, height)
            image.draft(image.mode, (math.ceil(width * scale), math.ceil(height * scale)))
        oriented = ImageOps.exif_transpose(image)
        rgb = _to_rgb(oriented, where)
        if rgb.width == 0 or rgb.height == 0:
            raise InferenceInputError(f"{where}: the image has no pixels; upload the photo again")
        array = np.asarray(_resize(rgb, size))
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, InferenceInputError):
            raise
        raise InferenceInputError(
            f"{where}: the image data is damaged or truncated ({exc}); upload the photo again"
        ) from None
    except Image.DecompressionBombError as exc:
        raise InferenceInputError(f"{where}: {exc}; send a smaller photo") from None
    return LoadedImage(array, original)


def normalise(
    rgb: npt.NDArray[np.uint8],
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    pad_multiple: int = 32,
) -> npt.NDArray[np.float32]:
    """(1, 3, H', W') float32, (x / 255 - mean) / std, zero-padded right and bottom to
    multiples of `pad_multiple` (zero is the mean colour after normalisation)."""
    h, w = rgb.shape[:2]
    ph = math.ceil(h / pad_multiple) * pad_multiple
    pw = math.ceil(w / pad_multiple) * pad_multiple
    scale = np.array([1.0 / (255.0 * s) for s in std], dtype=np.float32)
    shift = np.array([m / s for m, s in zip(mean, std, strict=True)], dtype=np.float32)
    out = np.zeros((1, 3, ph, pw), dtype=np.float32)
    view = out[0, :, :h, :w]
    np.multiply(rgb.transpose(2, 0, 1), scale[:, None, None], out=view, casting="unsafe")
    view -= shift[:, None, None]
    return out


def classifier_input(
    rgb: npt.NDArray[np.uint8],
    size: int,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
) -> npt.NDArray[np.float32]:
    """The whole photo squeezed to `size` x `size` (no crop: the vehicle may be anywhere)."""
    square = np.asarray(Image.fromarray(rgb).resize((size, size), Image.Resampling.BILINEAR))
    return normalise(square, mean, std, pad_multiple=1)


def grey_levels(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """ITU-R 601 luma in 0..255."""
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    grey: npt.NDArray[np.float32] = rgb.astype(np.float32) @ weights
    return grey


def blur_score(grey: npt.NDArray[np.float32]) -> float:
    """Variance of the Laplacian (4-neighbour) of a grey image in 0..255; low = blurred."""
    return float(ndimage.laplace(grey, mode="nearest").var())
