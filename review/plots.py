"""Server-side SVG plots for model-version pages (no JavaScript library, no CDN).

Pure functions returning SVG markup; every label is escaped. Never imports Django.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape

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


def _frame(title: str, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>{body}</svg>'
    )


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
    # Legend, top left inside the frame (the bars stay low there when calibration is fair).
    lx, ly = PAD + 6, PAD + 10
    parts.append(
        f'<rect x="{lx}" y="{ly - 7}" width="9" height="8" fill="#42a5f5" fill-opacity=".7"/>'
        f'<text x="{lx + 13}" y="{ly}" font-size="9">{escape(y_label)}</text>'
        f'<circle cx="{lx + 4}" cy="{ly + 9}" r="3" fill="#1565c0"/>'
        f'<text x="{lx + 13}" y="{ly + 12}" font-size="9">mean {escape(x_label)}</text>'
        f'<line x1="{lx}" y1="{ly + 20}" x2="{lx + 9}" y2="{ly + 20}" stroke="#bbb" '
        f'stroke-dasharray="3 2"/><text x="{lx + 13}" y="{ly + 23}" font-size="9">'
        "perfectly calibrated</text>"
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
    return _frame(title, "".join(parts))


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
    parts = [
        f'<line x1="{label_w}" y1="{bars_bottom + 2:.1f}" x2="{label_w + bar_max}" '
        f'y2="{bars_bottom + 2:.1f}" stroke="#999"/>',
        f'<text x="{label_w + bar_max / 2:.1f}" y="{bars_bottom + 26:.1f}" font-size="11" '
        f'text-anchor="middle">{escape(x_label)}</text>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        tx = label_w + tick * bar_max
        parts.append(
            f'<line x1="{tx:.1f}" y1="{bars_bottom + 2:.1f}" x2="{tx:.1f}" '
            f'y2="{bars_bottom + 6:.1f}" stroke="#999"/>'
            f'<line x1="{tx:.1f}" y1="12" x2="{tx:.1f}" y2="{bars_bottom:.1f}" stroke="#e3e3e3"/>'
            f'<text x="{tx:.1f}" y="{bars_bottom + 15:.1f}" font-size="9" '
            f'text-anchor="middle">{tick:g}</text>'
        )
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


def confusion_svg(title: str, labels: Sequence[str], matrix: Sequence[Sequence[float]]) -> str:
    """Row-normalised heat map; rows are the truth, columns the prediction."""
    n = len(labels)
    if n == 0 or len(matrix) != n or any(len(row) != n for row in matrix):
        raise ValueError("the confusion matrix must be square with one row per label")
    label_w = 90
    size = WIDTH - label_w - 8
    cell = size / n
    parts = []
    for i, row in enumerate(matrix):
        total = sum(row) or 1.0
        parts.append(
            f'<text x="{label_w - 4}" y="{label_w + (i + 0.65) * cell:.1f}" font-size="9" '
            f'text-anchor="end">{escape(labels[i])}</text>'
        )
        for j, value in enumerate(row):
            share = value / total
            shade = int(255 - share * 200)
            parts.append(
                f'<rect x="{label_w + j * cell:.1f}" y="{label_w + i * cell:.1f}" '
                f'width="{cell:.1f}" height="{cell:.1f}" fill="rgb({shade},{shade},255)">'
                f"<title>{escape(labels[i])} as {escape(labels[j])}: {share:.0%}</title></rect>"
            )
    for j, name in enumerate(labels):
        cx = label_w + (j + 0.6) * cell
        parts.append(
            f'<text x="{cx:.1f}" y="{label_w - 4}" font-size="9" '
            f'transform="rotate(-60 {cx:.1f} {label_w - 4})">{escape(name)}</text>'
        )
    height = int(label_w + size + 8)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(parts)}</svg>'
    )
