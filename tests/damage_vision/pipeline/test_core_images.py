"""Photo loading: EXIF orientation, RGB, resizing, and errors that say what to do."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from damage_vision.pipeline.images import blur_score, load_image, normalise
from damage_vision.pipeline.types import InferenceInputError


def png_bytes(image: Image.Image, orientation: int | None = None) -> bytes:
    buffer = io.BytesIO()
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    image.save(buffer, "PNG", exif=exif)
    return buffer.getvalue()


def test_long_side_resized_keeping_aspect(bus_jpg: Path) -> None:
    loaded = load_image(bus_jpg, 64)
    assert loaded.original_size == (360, 480)
    assert loaded.rgb.shape == (64, 48, 3)
    assert loaded.rgb.dtype == np.uint8


def test_exif_orientation_is_applied_first() -> None:
    upright = Image.new("RGB", (40, 20), (255, 0, 0))
    upright.paste((0, 0, 255), (0, 0, 10, 20))  # blue on the left
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # 20 x 40 on disk
    loaded = load_image(png_bytes(stored, orientation=6), 40)  # 6: rotate 270 on display
    assert loaded.original_size == (40, 20)
    assert loaded.rgb.shape == (20, 40, 3)
    assert loaded.rgb[10, 2].tolist() == [0, 0, 255]
    assert loaded.rgb[10, 30].tolist() == [255, 0, 0]


def test_inputs_of_every_kind_agree(bus_jpg: Path) -> None:
    data = bus_jpg.read_bytes()
    from_path = load_image(bus_jpg, 64).rgb
    assert np.array_equal(load_image(str(bus_jpg), 64).rgb, from_path)
    assert np.array_equal(load_image(data, 64).rgb, from_path)
    pil = Image.open(io.BytesIO(data)).convert("RGB")
    array = np.asarray(pil)
    assert np.array_equal(load_image(array, 64).rgb, load_image(pil, 64).rgb)


def test_grey_photo_becomes_rgb() -> None:
    grey = Image.new("L", (30, 20), 77)
    loaded = load_image(png_bytes(grey), 30)
    assert loaded.rgb.shape == (20, 30, 3)
    assert int(loaded.rgb[0, 0, 2]) == 77


def test_opaque_alpha_is_dropped_but_transparency_refused() -> None:
    opaque = Image.new("RGBA", (8, 8), (10, 20, 30, 255))
    assert load_image(png_bytes(opaque), 8).rgb[0, 0].tolist() == [10, 20, 30]
    transparent = Image.new("RGBA", (8, 8), (10, 20, 30, 100))
    with pytest.raises(InferenceInputError, match=r"transparency.*flatten"):
        load_image(png_bytes(transparent), 8)


def test_not_an_image() -> None:
    with pytest.raises(InferenceInputError, match=r"not an image.*JPEG, PNG"):
        load_image(b"%PDF-1.7 this is a document", 64)


def test_empty_inputs(tmp_path: Path) -> None:
    with pytest.raises(InferenceInputError, match="empty upload"):
        load_image(b"", 64)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(InferenceInputError, match="empty"):
        load_image(empty, 64)
    with pytest.raises(InferenceInputError, match="empty array"):
        load_image(np.zeros((0, 5, 3), dtype=np.uint8), 64)
    with pytest.raises(InferenceInputError, match="no such file"):
        load_image(tmp_path / "missing.jpg", 64)


def test_truncated_jpeg(bus_jpg: Path) -> None:
    data = bus_jpg.read_bytes()
    with pytest.raises(InferenceInputError, match="damaged or truncated"):
        load_image(data[: len(data) // 3], 64)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((8, 8), "one channel.*repeat it to three channels"),
        ((8, 8, 1), "one channel"),
        ((8, 8, 4), r"\(8, 8, 4\).*4 channels.*a\[\.\.\., :3\]"),
        ((8, 8, 2), "2 channels"),
    ],
)
def test_wrong_channel_count(shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(InferenceInputError, match=message):
        load_image(np.zeros(shape, dtype=np.uint8), 8)


def test_float_array_refused_with_the_conversion() -> None:
    with pytest.raises(InferenceInputError, match="uint8"):
        load_image(np.zeros((4, 4, 3), dtype=np.float32), 8)


def test_normalise_and_pad() -> None:
    rgb = np.full((5, 7, 3), 255, dtype=np.uint8)
    x = normalise(rgb, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), pad_multiple=4)
    assert x.shape == (1, 3, 8, 8)
    assert np.allclose(x[0, :, :5, :7], 1.0)
    assert np.all(x[0, :, 5:, :] == 0.0)
    assert np.all(x[0, :, :, 7:] == 0.0)


def test_blur_score_drops_on_a_blurred_photo(bus_jpg: Path) -> None:
    from scipy import ndimage

    grey = load_image(bus_jpg, 256).rgb.astype(np.float32).mean(axis=2)
    blurred = ndimage.gaussian_filter(grey, 3)
    assert blur_score(blurred) < 0.05 * blur_score(grey)
    assert blur_score(np.full((10, 10), 9.0, dtype=np.float32)) == 0.0
