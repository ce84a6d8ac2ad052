"""Server-side SVG plots for model-version pages (no JavaScript library, no CDN).

Pure functions returning SVG markup; every label is escaped. Never imports Django.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import TypeVar

V = TypeVar("V")

WIDTH = 320
HEIGHT = 240
PAD = 36


@dataclass(frozen=True)
class ReliabilityBin:
    lower: float
    upper: float
    count: int
    mean_confidence: float
    accuracy: float  # share of reviewed findings in the bin that a person kept


def reliability_bins(
    outcomes: Iterable[tuple[float, bool]], *, bins: int = 10
) -> list[ReliabilityBin]:
    """Group (confidence, correct) pairs into equal-width bins over [0, 1]; empty bins omitted."""
    groups: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for confidence, correct in outcomes:
        index = min(bins - 1, max(0, int(confidence * bins)))
        groups[index].append((confidence, correct))
    out: list[ReliabilityBin] = []
    for i, group in enumerate(groups):
        if not group:
            continue
        out.append(
            ReliabilityBin(
                lower=i / bins,
                upper=(i + 1) / bins,
                count=len(group),
                mean_confidence=sum(c for c, _ in group) / len(group),
                accuracy=sum(1 for _, ok in group if ok) / len(group),
            )
        )
    return out


def stored_reliability_bins(bins: Iterable[Mapping[str, object]]) -> list[ReliabilityBin]:
    """Bins of a stored findings report (`calibration.bins`: low, high, count, confidence,
    accuracy); empty bins omitted. Raises KeyError / TypeError / ValueError when malformed."""
    out = []
    for b in bins:
        count = int(str(b["count"]))
        if count <= 0:
            continue
        out.append(
            ReliabilityBin(
                lower=float(str(b["low"])),
                upper=float(str(b["high"])),
                count=count,
                mean_confidence=float(str(b["confidence"])),
                accuracy=float(str(b["accuracy"])),
            )
        )
    return out


def _frame(title: str, body: str, height: int = HEIGHT) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>{body}</svg>'
    )


RELIABILITY_LEGEND_H = 42  # three legend rows under the reliability diagram's axis label


def without(values: Mapping[str, V], leave_out: Collection[str]) -> dict[str, V]:
    """`values` without the classes named in `leave_out` (a taxonomy's background, whose
    IoU says how well the model finds nothing, not a class a person reviews)."""
    return {k: v for k, v in values.items() if k not in leave_out}


def reliability_svg(
    bins: Sequence[ReliabilityBin],
    *,
    title: str = "Reliability diagram of reviewed findings",
    x_label: str = "C_refined",
    y_label: str = "kept by reviewers",
) -> str:
    plot_w = WIDTH - 2 * PAD
    plot_h = HEIGHT - 2 * PAD

    def x(v: float) -> float:
        return PAD + v * plot_w

    def y(v: float) -> float:
        return HEIGHT - PAD - v * plot_h

    parts = [
        f'<rect x="{PAD}" y="{PAD}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>',
        f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="#bbb" stroke-dasharray="4 3"/>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 6}" font-size="11" text-anchor="middle">'
        f"{escape(x_label)}</text>",
        f'<text x="10" y="{HEIGHT / 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 10 {HEIGHT / 2})">{escape(y_label)}</text>',
    ]
    for tick in (0.0, 0.5, 1.0):
        parts.append(
            f'<text x="{x(tick):.1f}" y="{HEIGHT - PAD + 12}" font-size="9" '
            f'text-anchor="middle">{tick:g}</text>'
        )
        parts.append(
            f'<text x="{PAD - 4}" y="{y(tick) + 3:.1f}" font-size="9" '
            f'text-anchor="end">{tick:g}</text>'
        )
    # The legend under the axis label, outside the frame: inside, it covered the bars of
    # the low bins (and the high ones of a well-calibrated version).
    parts.append(
        _legend(
            [
                ("#42a5f5", y_label, "bar"),
                ("#1565c0", f"mean {x_label}", "dot"),
                ("#bbb", "perfectly calibrated", "dash"),
            ],
            PAD,
            HEIGHT + 8,
        )
    )
    for b in bins:
        bar_w = (b.upper - b.lower) * plot_w - 2
        parts.append(
            f'<rect x="{x(b.lower) + 1:.1f}" y="{y(b.accuracy):.1f}" width="{bar_w:.1f}" '
            f'height="{b.accuracy * plot_h:.1f}" fill="#42a5f5" fill-opacity=".7">'
            f"<title>{b.lower:.1f}-{b.upper:.1f}: {b.accuracy:.0%} of {b.count}</title></rect>"
        )
        parts.append(
            f'<circle cx="{x(b.mean_confidence):.1f}" cy="{y(b.accuracy):.1f}" r="3" fill="#1565c0"/>'
        )
    return _frame(title, "".join(parts), height=HEIGHT + RELIABILITY_LEGEND_H)


def _value_axis(left: float, width: float, top: float, bottom: float, label: str) -> list[str]:
    """The 0-1 axis under horizontal bars (`left` to `left + width`, bars from `top` to
    `bottom`): its line, ticks at 0, 0.25, ..., 1 with light grid lines up to `top`, and
    its label under it."""
    parts = [
        f'<line x1="{left}" y1="{bottom + 2:.1f}" x2="{left + width}" '
        f'y2="{bottom + 2:.1f}" stroke="#999"/>',
        f'<text x="{left + width / 2:.1f}" y="{bottom + 26:.1f}" font-size="11" '
        f'text-anchor="middle">{escape(label)}</text>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        tx = left + tick * width
        parts.append(
            f'<line x1="{tx:.1f}" y1="{bottom + 2:.1f}" x2="{tx:.1f}" '
            f'y2="{bottom + 6:.1f}" stroke="#999"/>'
            f'<line x1="{tx:.1f}" y1="{top:.1f}" x2="{tx:.1f}" y2="{bottom:.1f}" '
            f'stroke="#e3e3e3"/><text class="tick" x="{tx:.1f}" y="{bottom + 15:.1f}" '
            f'font-size="9" text-anchor="middle">{tick:g}</text>'
        )
    return parts


def bars_svg(title: str, values: Mapping[str, float], x_label: str = "IoU") -> str:
    """Horizontal bars for values in [0, 1] (per-class IoU, for example), on an x axis
    with ticks at 0, 0.25, ..., 1 and its label under it."""
    rows = list(values.items())
    axis_h = 30  # ticks and the axis label under the bars
    row_h = max(12.0, (HEIGHT - 12 - axis_h) / max(1, len(rows)))
    bars_bottom = 12 + row_h * len(rows)
    height = int(max(HEIGHT, bars_bottom + axis_h))
    label_w = 110
    bar_max = WIDTH - label_w - 50
    parts = _value_axis(label_w, bar_max, 12, bars_bottom, x_label)
    for i, (name, value) in enumerate(rows):
        top = 12 + i * row_h
        v = min(1.0, max(0.0, float(value)))
        parts.append(
            f'<text x="{label_w - 4}" y="{top + row_h * 0.7:.1f}" font-size="10" '
            f'text-anchor="end">{escape(name)}</text>'
            f'<rect x="{label_w}" y="{top + 1:.1f}" width="{v * bar_max:.1f}" '
            f'height="{row_h - 2:.1f}" fill="#66bb6a"/>'
            f'<text x="{label_w + v * bar_max + 3:.1f}" y="{top + row_h * 0.7:.1f}" '
            f'font-size="10">{v:.2f}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(parts)}</svg>'
    )


SERIES_COLOURS = ("#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a")


def _legend(entries: Sequence[tuple[str, str, str]], x: float, y: float) -> str:
    """Legend rows (colour, label, kind "bar" | "dot" | "line" | "dash") from (x, y) down."""
    parts = []
    for i, (colour, label, kind) in enumerate(entries):
        ly = y + i * 12
        if kind == "bar":
            mark = f'<rect x="{x}" y="{ly - 7}" width="10" height="8" fill="{colour}"/>'
        elif kind == "dot":
            mark = f'<circle cx="{x + 5}" cy="{ly - 3}" r="3" fill="{colour}"/>'
        else:
            dash = ' stroke-dasharray="4 3"' if kind == "dash" else ""
            mark = (
                f'<line x1="{x}" y1="{ly - 3}" x2="{x + 10}" y2="{ly - 3}" stroke="{colour}" '
                f'stroke-width="2"{dash}/>'
            )
        parts.append(f'{mark}<text x="{x + 14}" y="{ly}" font-size="9">{escape(label)}</text>')
    return '<g class="legend">' + "".join(parts) + "</g>"


def grouped_bars_svg(
    title: str, series: Mapping[str, Mapping[str, float | None]], x_label: str = "IoU"
) -> str:
    """Horizontal bars in [0, 1], one group per class and one bar per series (a version),
    with a tick axis, its label and a legend; a missing value is marked "n/a"."""
    names = list(series)
    classes: list[str] = []
    for values in series.values():
        classes.extend(c for c in values if c not in classes)
    legend_h = 14 + 12 * len(names)
    axis_h = 30
    bar_h = 9.0
    group_h = bar_h * max(1, len(names)) + 8
    bars_top = legend_h
    bars_bottom = bars_top + group_h * max(1, len(classes))
    height = int(bars_bottom + axis_h)
    label_w = 110
    bar_max = WIDTH - label_w - 40
    parts = [
        _legend([(SERIES_COLOURS[i % 4], n, "bar") for i, n in enumerate(names)], label_w, 12),
        *_value_axis(label_w, bar_max, bars_top, bars_bottom, x_label),
    ]
    for g, name in enumerate(classes):
        top = bars_top + g * group_h
        parts.append(
            f'<text x="{label_w - 4}" y="{top + group_h / 2 + 3:.1f}" font-size="10" '
            f'text-anchor="end">{escape(name)}</text>'
        )
        for i, version in enumerate(names):
            value = series[version].get(name)
            y = top + 4 + i * bar_h
            if value is None:
                parts.append(
                    f'<text x="{label_w + 3}" y="{y + bar_h - 1:.1f}" font-size="8" '
                    f'fill="#777">n/a</text>'
                )
                continue
            v = min(1.0, max(0.0, float(value)))
            parts.append(
                f'<rect x="{label_w}" y="{y:.1f}" width="{v * bar_max:.1f}" '
                f'height="{bar_h - 1:.1f}" fill="{SERIES_COLOURS[i % 4]}">'
                f"<title>{escape(version)} {escape(name)}: {v:.3f}</title></rect>"
                f'<text x="{label_w + v * bar_max + 3:.1f}" y="{y + bar_h - 1:.1f}" '
                f'font-size="8">{v:.2f}</text>'
            )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(parts)}</svg>'
    )


def curves_svg(
    title: str,
    curves: Mapping[str, Sequence[tuple[float, float]]],
    *,
    x_label: str = "coverage",
    y_label: str = "precision",
    target: float | None = None,
) -> str:
    """Step curves on [0, 1] x [0, 1] (precision-coverage: each point holds from the
    previous x to its own), ticks every 0.2 on both axes, a legend, and the target
    dashed when given."""
    pad_l, pad_b, pad_t, pad_r = 40, 36, 10, 10
    legend_h = 12 * (len(curves) + (1 if target is not None else 0)) + 6
    height = HEIGHT + legend_h
    plot_w = WIDTH - pad_l - pad_r
    plot_h = HEIGHT - pad_t - pad_b

    def x(v: float) -> float:
        return pad_l + v * plot_w

    def y(v: float) -> float:
        return pad_t + (1.0 - v) * plot_h

    parts = [
        f'<rect x="{pad_l}" y="{pad_t}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#999"/>',
        f'<text x="{pad_l + plot_w / 2}" y="{HEIGHT - 6}" font-size="11" '
        f'text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="11" y="{pad_t + plot_h / 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 11 {pad_t + plot_h / 2})">{escape(y_label)}</text>',
    ]
    for i in range(6):
        tick = i / 5
        parts.append(
            f'<line x1="{x(tick):.1f}" y1="{pad_t}" x2="{x(tick):.1f}" y2="{pad_t + plot_h}" '
            f'stroke="#eee"/><line x1="{pad_l}" y1="{y(tick):.1f}" x2="{pad_l + plot_w}" '
            f'y2="{y(tick):.1f}" stroke="#eee"/>'
            f'<text class="tick" x="{x(tick):.1f}" y="{pad_t + plot_h + 12}" font-size="9" '
            f'text-anchor="middle">{tick:.1f}</text>'
            f'<text class="tick" x="{pad_l - 4}" y="{y(tick) + 3:.1f}" font-size="9" '
            f'text-anchor="end">{tick:.1f}</text>'
        )
    entries: list[tuple[str, str, str]] = []
    for i, (name, points) in enumerate(curves.items()):
        colour = SERIES_COLOURS[i % 4]
        if not points:
            entries.append((colour, f"{name} (no findings)", "line"))
            continue
        path = [f"M{x(0.0):.1f},{y(points[0][1]):.1f}"]
        for px, py in points:
            path.append(f"H{x(px):.1f}V{y(py):.1f}")
        parts.append(
            f'<path d="{"".join(path)}" fill="none" stroke="{colour}" stroke-width="1.8">'
            f"<title>{escape(name)}</title></path>"
        )
        entries.append((colour, name, "line"))
    if target is not None:
        parts.append(
            f'<line x1="{pad_l}" y1="{y(target):.1f}" x2="{pad_l + plot_w}" '
            f'y2="{y(target):.1f}" stroke="#d62728" stroke-dasharray="4 3"/>'
        )
        entries.append(("#d62728", f"target precision {target:.2f}", "dash"))
    parts.append(_legend(entries, pad_l, HEIGHT + 8))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(parts)}</svg>'
    )


def confusion_svg(
    title: str, labels: Sequence[str], matrix: Sequence[Sequence[float]], unit: str = ""
) -> str:
    """Row-normalised heat map with each cell's share written in it, the rows (truth) and
    columns (prediction) named, and the axes titled; `unit` names what the counts count
    (in each cell's tooltip, e.g. "px")."""
    n = len(labels)
    if n == 0 or len(matrix) != n or any(len(row) != n for row in matrix):
        raise ValueError("the confusion matrix must be square with one row per label")
    label_w = 96
    top = 86
    size = WIDTH - label_w - 44  # room for the last column's slanted name
    cell = size / n
    parts = [
        f'<text x="{label_w + size / 2:.1f}" y="12" font-size="11" text-anchor="middle">'
        "predicted</text>",
        f'<text x="12" y="{top + size / 2:.1f}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {top + size / 2:.1f})">truth (adjusters)</text>',
    ]
    for i, row in enumerate(matrix):
        total = sum(row) or 1.0
        parts.append(
            f'<text class="tick" x="{label_w - 4}" y="{top + (i + 0.55) * cell:.1f}" '
            f'font-size="9" text-anchor="end">{escape(labels[i])}</text>'
        )
        for j, value in enumerate(row):
            share = value / total
            shade = int(255 - share * 200)
            ink = "#fff" if share > 0.6 else "#222"
            parts.append(
                f'<rect x="{label_w + j * cell:.1f}" y="{top + i * cell:.1f}" '
                f'width="{cell:.1f}" height="{cell:.1f}" fill="rgb({shade},{shade},255)" '
                f'stroke="#fff"><title>{escape(labels[i])} as {escape(labels[j])}: '
                f"{share:.1%} ({value:g}{' ' + unit if unit else ''})</title></rect>"
                f'<text x="{label_w + (j + 0.5) * cell:.1f}" y="{top + (i + 0.55) * cell:.1f}" '
                f'font-size="9" text-anchor="middle" fill="{ink}">{share:.0%}</text>'
            )
    for j, name in enumerate(labels):
        cx = label_w + (j + 0.5) * cell
        parts.append(
            f'<text class="tick" x="{cx:.1f}" y="{top - 4}" font-size="9" '
            f'transform="rotate(-45 {cx:.1f} {top - 4})">{escape(name)}</text>'
        )
    height = int(top + size + 8)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(parts)}</svg>'
    )
