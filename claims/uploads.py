"""Upload checks: the type is decided by the content, never by the file name."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow's own opener: importing Ultralytics (the detector back end) patches Image.open
# process-wide with a wrapper that tries to install a package on unreadable files.
from damage_vision.pipeline.images import pil_opener

try:
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - pillow-heif is in requirements.txt
    HEIF_SUPPORTED = False

# Pillow format name -> (extension, content type)
ACCEPTED_FORMATS: dict[str, tuple[str, str]] = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
}
if HEIF_SUPPORTED:
    ACCEPTED_FORMATS["HEIF"] = ("heic", "image/heic")

ACCEPTED_DESCRIPTION = "JPEG, PNG, WebP" + (" or HEIC" if HEIF_SUPPORTED else "")


class UploadRejectedError(ValueError):
    def __init__(self, filename: str, reason: str) -> None:
        super().__init__(f"{filename}: {reason}")
        self.filename = filename
        self.reason = reason


@dataclass(frozen=True)
class CheckedPhoto:
    name: str
    data: bytes
    extension: str
    content_type: str
    width: int  # after EXIF orientation
    height: int
    sha256: str


def _human_bytes(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB"


def check_photo(name: str, stream: IO[bytes], size: int | None = None) -> CheckedPhoto:
    """Read and check one uploaded photo; raise `UploadRejectedError` naming the file and the reason."""
    limit = settings.CLAIMS_MAX_PHOTO_BYTES
    if size is not None and size > limit:
        raise UploadRejectedError(
            name, f"the file is {_human_bytes(size)}; the limit is {_human_bytes(limit)} a photo"
        )
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise UploadRejectedError(name, f"the file is larger than {_human_bytes(limit)}")
    if not data:
        raise UploadRejectedError(name, "the file is empty; choose the photo again")

    max_pixels = settings.CLAIMS_MAX_PIXELS
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; refuse both.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = max_pixels
            with pil_opener()(io.BytesIO(data)) as probe:
                fmt = probe.format or ""
                width, height = probe.size
                if width * height > max_pixels:
                    raise UploadRejectedError(
                        name,
                        f"the image is {width}x{height} pixels; the limit is "
                        f"{max_pixels // 1_000_000} megapixels - send a smaller photo",
                    )
                probe.verify()
            with pil_opener()(io.BytesIO(data)) as image:
                image.load()  # decodes every byte: catches truncated files
                oriented = ImageOps.exif_transpose(image)
                width, height = (oriented or image).size
    except UploadRejectedError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadRejectedError(
            name, "the image declares too many pixels to be a photo (decompression bomb)"
        ) from None
    except UnidentifiedImageError:
        raise UploadRejectedError(
            name, f"this is not an image we can read; send a {ACCEPTED_DESCRIPTION} photo"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UploadRejectedError(
            name, f"the image is damaged or truncated ({exc}); take or export it again"
        ) from None
    if fmt not in ACCEPTED_FORMATS:
        raise UploadRejectedError(
            name, f"{fmt or 'this'} images are not accepted; send a {ACCEPTED_DESCRIPTION} photo"
        )
    extension, content_type = ACCEPTED_FORMATS[fmt]
    return CheckedPhoto(
        name=name[:255],
        data=data,
        extension=extension,
        content_type=content_type,
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
    )
