"""Annotated photos people can read: the photo at its own resolution (long side capped at
`OUTPUT_LONG_SIDE`), one outline per finding in its damage type's colour, one short label
per finding ("1 scratch or paint damage": the finding's number and plain words, never a
class name or a probability), labels that neither overlap nor leave the photo, and a
legend strip under the photo naming the colours present."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from damage_vision.pipeline.types import PhotoResult
from damage_vision.taxonomy import Taxonomy

# The long side of an annotated photo: sharp on a large screen and in the PDF, still a few
# hundred kilobytes as JPEG. A smaller photo keeps its own size (never upscaled).
OUTPUT_LONG_SIDE = 1600
JPEG_QUALITY = 85
FILL_ALPHA = 0.25  # mask findings are tinted lightly: the outline says where, the photo shows what
LEGEND_OUTLINE_TEXT = "outline = where the damage is"
LABEL_TEXT = (255, 255, 255)
LABEL_BACKGROUND = (24, 24, 24)
HALO = (0, 0, 0)
LEGEND_BACKGROUND = (255, 255, 255)
LEGEND_TEXT = (30, 30, 30)

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1, exclusive, in output pixels


@dataclass(frozen=True)
class DrawnLabel:
    number: int  # the region's number (a model finding: `Finding.index + 1`)
    text: str
    rect: Rect | None  # None when no free place was left for it


@dataclass(frozen=True)
class AnnotatedPhoto:
    image: Image.Image  # the photo, then the legend strip under it
    photo_size: tuple[int, int]  # width, height of the photo part (above the legend)
    labels: tuple[DrawnLabel, ...]
    legend: tuple[str, ...]  # the legend's texts, in order


def output_size(image_size: tuple[int, int], long_side: int = OUTPUT_LONG_SIDE) -> tuple[int, int]:
    """The photo's own size, scaled down so that its long side is at most `long_side`."""
    width, height = image_size
    scale = min(1.0, long_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def label_text(number: int, damage: str, words: Callable[[str], str]) -> str:
    """'1 scratch or paint damage': what a customer reads next to an outline."""
    return f"{number} {words(damage)}"


def _intersects(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _inside(rect: Rect, width: int, height: int) -> bool:
    return rect[0] >= 0 and rect[1] >= 0 and rect[2] <= width and rect[3] <= height


def _near_candidates(box: Rect, w: int, h: int, gap: int, width: int) -> list[tuple[int, int]]:
    """Top-left corners next to a box, best first: above, below, inside its top-left corner,
    right, left, then further above and below."""
    x0, y0, x1, y1 = box
    # Above and below: aligned with the box's left edge, shifted to stay on the photo.
    left = min(max(0, x0), max(0, width - w))
    right = min(max(0, x1 - w), max(0, width - w))
    out = [
        (left, y0 - gap - h),
        (left, y1 + gap),
        (x0 + gap, y0 + gap),
        (x1 + gap, y0),
        (x0 - gap - w, y0),
        (right, y0 - gap - h),
        (right, y1 + gap),
        (x1 + gap, y1 - h),
        (x0 - gap - w, y1 - h),
    ]
    for step in range(1, 4):
        out += [(left, y0 - gap - h - step * (h + gap)), (left, y1 + gap + step * (h + gap))]
    return out


def layout_labels(
    boxes: Sequence[Rect],
    sizes: Sequence[tuple[int, int]],
    image_size: tuple[int, int],
    *,
    gap: int = 4,
) -> list[Rect | None]:
    """Place one label (width, height) per box, in the given order, greedily at the first
    candidate position that lies wholly inside the image and meets no label placed before.

    Positions next to the box come first, preferring those that cover no other finding's
    box; then any free place on the image, nearest to the box first (the caller draws a
    leader line). None for a label that fits nowhere. Pure: no pixels involved."""
    width, height = image_size
    placed: list[Rect] = []
    out: list[Rect | None] = []
    for index, (box, (w, h)) in enumerate(zip(boxes, sizes, strict=True)):
        others = [b for i, b in enumerate(boxes) if i != index]
        near = [(x, y, x + w, y + h) for x, y in _near_candidates(box, w, h, gap, width)]
        near = [r for r in near if _inside(r, width, height)]
        chosen = next(
            (r for r in near if not any(_intersects(r, o) for o in placed + others)), None
        ) or next((r for r in near if not any(_intersects(r, o) for o in placed)), None)
        if chosen is None and w <= width and h <= height:
            step = max(2, h // 2)
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            grid = [
                (x, y, x + w, y + h)
                for y in [*range(0, height - h, step), height - h]
                for x in [*range(0, width - w, step), width - w]
            ]
            grid.sort(key=lambda r: ((r[0] + r[2]) / 2 - cx) ** 2 + ((r[1] + r[3]) / 2 - cy) ** 2)
            chosen = next((r for r in grid if not any(_intersects(r, o) for o in placed)), None)
        if chosen is not None:
            placed.append(chosen)
        out.append(chosen)
    return out


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


@dataclass(frozen=True)
class Region:
    """One damage to draw: its number on the photo, its class, and its mask and box in the
    grid it lives in (`grid`: width, height; any size, it is scaled to the output)."""

    number: int
    damage: str
    mask: np.ndarray  # bool, H x W of `grid`
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive) in `grid`
    grid: tuple[int, int]
    shape: str = "mask"  # "box": a detector box, outlined and never filled
    area_px: int = 0  # in `grid`; the largest regions choose their label places first


def _scaled_box(region: Region, width: int, height: int) -> Rect:
    sx, sy = width / region.grid[0], height / region.grid[1]
    x0, y0, x1, y1 = region.box
    return (
        min(width - 1, max(0, round(x0 * sx))),
        min(height - 1, max(0, round(y0 * sy))),
        min(width, max(1, round(x1 * sx))),
        min(height, max(1, round(y1 * sy))),
    )


def _without_boxes(result: PhotoResult) -> np.ndarray:
    """The damage map without the pixels only box findings cover: a detector box says where
    the damage is, not which pixels are damaged, so it is drawn as an outline, not filled."""
    boxes = [f.mask for f in result.findings if f.shape == "box"]
    if not boxes:
        return result.damage_map
    clear = np.logical_or.reduce(boxes)
    masks = [f.mask for f in result.findings if f.shape != "box"]
    if masks:
        clear &= ~np.logical_or.reduce(masks)
    labels = result.damage_map.copy()
    labels[clear] = 0
    return labels


def _nearest(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)


def _legend(
    entries: list[tuple[tuple[int, int, int] | None, str]], width: int, font_size: int
) -> Image.Image:
    """A white strip: a swatch and the words of each entry, wrapped onto as many lines as
    needed; an entry without a colour gets a hollow outline swatch."""
    font = _font(font_size)
    pad = max(6, font_size // 2)
    swatch = font_size
    line_h = round(font_size * 1.5)
    items = []
    for colour, text in entries:
        text_w = round(font.getlength(text))
        items.append((colour, text, swatch + pad // 2 + text_w))
    lines: list[list[tuple[tuple[int, int, int] | None, str, int]]] = [[]]
    x = pad
    for item in items:
        if lines[-1] and x + item[2] > width - pad:
            lines.append([])
            x = pad
        lines[-1].append(item)
        x += item[2] + 2 * pad
    strip = Image.new("RGB", (width, len(lines) * line_h + pad), LEGEND_BACKGROUND)
    draw = ImageDraw.Draw(strip)
    outline = max(2, font_size // 8)
    for row, line in enumerate(lines):
        x, top = pad, pad // 2 + row * line_h
        sy = top + (line_h - swatch) // 2
        for colour, text, item_w in line:
            box = (x, sy, x + swatch - 1, sy + swatch - 1)
            if colour is None:
                draw.rectangle(box, outline=LEGEND_TEXT, width=outline)
            else:
                draw.rectangle(box, fill=colour, outline=LEGEND_TEXT, width=1)
            draw.text(
                (x + swatch + pad // 2, top + line_h // 2),
                text,
                fill=LEGEND_TEXT,
                font=font,
                anchor="lm",
            )
            x += item_w + 2 * pad
    return strip


def render_annotated(
    image: Image.Image,
    result: PhotoResult,
    damage: Taxonomy,
    *,
    words: Callable[[str], str],
    long_side: int = OUTPUT_LONG_SIDE,
) -> AnnotatedPhoto:
    """The photo with each of the model's findings outlined and labelled with its number
    (`Finding.index + 1`) and `words(damage class)`, tinted by the damage map (`render`).

    `image` is the oriented photo (any size: it is resized to the output size); the
    findings' masks and boxes live in the processed grid and are scaled to it."""
    regions = [
        Region(
            number=n,
            damage=f.damage,
            mask=f.mask,
            box=f.box,
            grid=result.processed_size,
            shape=f.shape,
            area_px=f.area_px,
        )
        for n, f in enumerate(result.findings, start=1)
    ]
    return render(
        image,
        regions,
        result.image_size,
        damage,
        words=words,
        tint=_without_boxes(result),
        long_side=long_side,
    )


def _tint_of(regions: Sequence[Region], damage: Taxonomy, size: tuple[int, int]) -> np.ndarray:
    """A damage label map at `size` painted from the regions that are masks (boxes say
    where, not which pixels): what `render` tints when there is no model damage map."""
    labels = np.zeros((size[1], size[0]), dtype=np.uint8)
    for region in sorted(regions, key=lambda r: -r.area_px):  # small ones stay visible
        if region.shape == "box" or region.damage not in damage.classes:
            continue
        labels[_nearest(region.mask, size) > 0] = damage.classes.index(region.damage)
    return labels


def render(
    image: Image.Image,
    regions: Sequence[Region],
    image_size: tuple[int, int],
    damage: Taxonomy,
    *,
    words: Callable[[str], str],
    tint: np.ndarray | None = None,
    long_side: int = OUTPUT_LONG_SIDE,
) -> AnnotatedPhoto:
    """The photo at its own resolution (`image_size`, the oriented photo's width and
    height; long side at most `long_side`) with each region outlined and labelled with its
    number and `words(damage class)`, and a legend strip.

    `image` is the oriented photo at any size; `tint` a damage label map (any grid) whose
    pixels are tinted in their class's colour, by default the regions' masks."""
    width, height = output_size(image_size, long_side)
    photo = image.convert("RGB")
    if photo.size != (width, height):
        photo = photo.resize((width, height), Image.Resampling.LANCZOS)
    base = np.asarray(photo, dtype=np.float32).copy()
    fill = _nearest(
        _tint_of(regions, damage, (width, height)) if tint is None else tint, (width, height)
    )
    painted = fill > 0
    if painted.any():
        colours = np.array(damage.colours, dtype=np.float32)
        base[painted] = (1 - FILL_ALPHA) * base[painted] + FILL_ALPHA * colours[fill[painted]]
    canvas = base.clip(0, 255).astype(np.uint8)

    long = max(width, height)
    thickness = max(2, round(long / 400))  # 4 px at 1600
    font_size = max(12, round(long / 36))  # 44 px at 1600: ~10 px when the page shows 360 px
    boxes = [_scaled_box(r, width, height) for r in regions]
    # Outlines: a dark halo under the colour, so a yellow outline reads on a light car too.
    for region, box in zip(regions, boxes, strict=True):
        colour = tuple(int(c) for c in damage.colour(region.damage))
        contours: list[Any]
        if region.shape == "box":
            x0, y0, x1, y1 = box
            corners = [[x0, y0], [x1 - 1, y0], [x1 - 1, y1 - 1], [x0, y1 - 1]]
            contours = [np.array(corners, np.int32)]
        else:
            found, _ = cv2.findContours(
                _nearest(region.mask, (width, height)), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
            )
            # Specks of a few pixels only clutter the photo (the tint still shows them);
            # a finding made only of specks keeps them all.
            large = [c for c in found if cv2.contourArea(c) >= (3 * thickness) ** 2]
            contours = large or list(found)
        cv2.drawContours(canvas, contours, -1, HALO, thickness + 2 * max(1, thickness // 2))
        cv2.drawContours(canvas, contours, -1, colour, thickness)
    out = Image.fromarray(canvas)
    draw = ImageDraw.Draw(out)

    font = _font(font_size)
    pad = max(3, font_size // 5)
    bar = max(4, font_size // 4)  # the damage colour on the label's left edge
    numbers = [r.number for r in regions]
    texts = [label_text(r.number, r.damage, words) for r in regions]
    sizes = [(bar + 2 * pad + round(font.getlength(t)), font_size + 2 * pad) for t in texts]
    # The largest regions choose their places first; numbers stay in the given order.
    order = sorted(range(len(boxes)), key=lambda i: -regions[i].area_px)
    rects: list[Rect | None] = [None] * len(boxes)
    for i, rect in zip(
        order,
        layout_labels(
            [boxes[i] for i in order], [sizes[i] for i in order], (width, height), gap=thickness
        ),
        strict=True,
    ):
        rects[i] = rect
    # Leader lines first, then every label on top: no line crosses a label's text.
    for region, box, rect in zip(regions, boxes, rects, strict=True):
        if rect is None:
            continue
        colour = tuple(int(c) for c in damage.colour(region.damage))
        if not _intersects(
            rect,
            (
                box[0] - 3 * thickness,
                box[1] - 3 * thickness,
                box[2] + 3 * thickness,
                box[3] + 3 * thickness,
            ),
        ):
            # Placed away from its outline: a line leads from the label to it.
            lx = min(max((rect[0] + rect[2]) // 2, box[0]), box[2] - 1)
            ly = min(max((rect[1] + rect[3]) // 2, box[1]), box[3] - 1)
            start = (min(max(lx, rect[0]), rect[2] - 1), min(max(ly, rect[1]), rect[3] - 1))
            draw.line((start, (lx, ly)), fill=HALO, width=thickness + 2)
            draw.line((start, (lx, ly)), fill=colour, width=max(2, thickness // 2))
    for region, text, rect in zip(regions, texts, rects, strict=True):
        if rect is None:
            continue
        colour = tuple(int(c) for c in damage.colour(region.damage))
        x0, y0, x1, y1 = rect
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=LABEL_BACKGROUND)
        draw.rectangle((x0, y0, x0 + bar - 1, y1 - 1), fill=colour)
        draw.text((x0 + bar + pad, (y0 + y1) // 2), text, fill=LABEL_TEXT, font=font, anchor="lm")

    present = list(dict.fromkeys(r.damage for r in regions))
    entries: list[tuple[tuple[int, int, int] | None, str]] = [
        (tuple(int(c) for c in damage.colour(name)), words(name))  # type: ignore[misc]
        for name in present
    ]
    full = out
    if present:  # nothing found: no legend to read
        entries.append((None, LEGEND_OUTLINE_TEXT))
        strip = _legend(entries, width, max(12, round(font_size * 0.8)))
        full = Image.new("RGB", (width, height + strip.height), LEGEND_BACKGROUND)
        full.paste(out, (0, 0))
        full.paste(strip, (0, height))
    return AnnotatedPhoto(
        image=full,
        photo_size=(width, height),
        labels=tuple(
            DrawnLabel(number=n, text=t, rect=r)
            for n, t, r in zip(numbers, texts, rects, strict=True)
        ),
        legend=tuple(text for _, text in entries),
    )


def label_map_png(labels: np.ndarray) -> Image.Image:
    return Image.fromarray(labels.astype(np.uint8), mode="L")
