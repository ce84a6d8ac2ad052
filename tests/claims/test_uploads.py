from __future__ import annotations

import io

import pytest
from django.test import override_settings
from PIL import Image

from claims.uploads import UploadRejectedError, check_photo


@pytest.mark.parametrize(
    ("fmt", "ext", "ctype"),
    [("JPEG", "jpg", "image/jpeg"), ("PNG", "png", "image/png"), ("WEBP", "webp", "image/webp")],
)
def test_accepts_by_content_not_name(fmt: str, ext: str, ctype: str) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(buffer, fmt)
    checked = check_photo("misleading-name.gif", io.BytesIO(buffer.getvalue()))
    assert (checked.extension, checked.content_type, checked.width, checked.height) == (
        ext,
        ctype,
        40,
        30,
    )


def test_rejects_text_named_jpg() -> None:
    with pytest.raises(UploadRejectedError) as exc:
        check_photo("car.jpg", io.BytesIO(b"hello, I am not a photo"))
    assert exc.value.filename == "car.jpg"
    assert "not an image" in exc.value.reason


def test_rejects_gif_by_content() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, "GIF")
    with pytest.raises(UploadRejectedError, match="GIF images are not accepted"):
        check_photo("car.jpg", io.BytesIO(buffer.getvalue()))


@pytest.mark.parametrize("side", [1200, 3000])  # Pillow warns below 2x its limit, errors above
@override_settings(CLAIMS_MAX_PIXELS=1_000_000)
def test_rejects_decompression_bomb(side: int) -> None:
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, "PNG")  # a few kB that decode to megapixels
    assert len(buffer.getvalue()) < 20_000
    with pytest.raises(UploadRejectedError, match=r"megapixels|decompression bomb"):
        check_photo("bomb.png", io.BytesIO(buffer.getvalue()))


def test_rejects_truncated_jpeg(make_jpeg) -> None:  # type: ignore[no-untyped-def]
    data = make_jpeg(400, 300)
    with pytest.raises(UploadRejectedError, match="damaged or truncated"):
        check_photo("cut.jpg", io.BytesIO(data[: len(data) // 2]))


def test_rejects_empty() -> None:
    with pytest.raises(UploadRejectedError, match="empty"):
        check_photo("empty.jpg", io.BytesIO(b""))


@override_settings(CLAIMS_MAX_PHOTO_BYTES=1000)
def test_rejects_too_large(make_jpeg) -> None:  # type: ignore[no-untyped-def]
    data = make_jpeg(300, 300, (10, 200, 90)) + b"\0" * 2000
    with pytest.raises(UploadRejectedError, match=r"larger than|limit"):
        check_photo("big.jpg", io.BytesIO(data))


def test_exif_orientation_swaps_reported_size() -> None:
    image = Image.new("RGB", (60, 20))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    checked = check_photo("rotated.jpg", io.BytesIO(buffer.getvalue()))
    assert (checked.width, checked.height) == (20, 60)


def test_accepts_heic_by_content() -> None:
    pytest.importorskip("pillow_heif", reason="pillow-heif is not installed: HEIC is refused")
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(buffer, "HEIF")
    checked = check_photo("IMG_0001.jpg", io.BytesIO(buffer.getvalue()))
    assert (checked.extension, checked.content_type, checked.width, checked.height) == (
        "heic",
        "image/heic",
        40,
        30,
    )


def test_rejects_tiff_by_content() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, "TIFF")
    with pytest.raises(UploadRejectedError) as exc:
        check_photo("car.png", io.BytesIO(buffer.getvalue()))
    assert exc.value.reason == (
        "TIFF images are not accepted; send a JPEG, PNG, WebP or HEIC photo"
    )
