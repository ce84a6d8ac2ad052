"""The SVG plots of the model pages (learning.plots): where the reliability legend sits, and
the background class left out of the per-class IoU bars."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from learning import plots

SVG = "{http://www.w3.org/2000/svg}"


def _bins(accuracy: float) -> list[plots.ReliabilityBin]:
    return [
        plots.ReliabilityBin(
            lower=i / 10,
            upper=(i + 1) / 10,
            count=5,
            mean_confidence=i / 10 + 0.05,
            accuracy=accuracy,
        )
        for i in range(10)
    ]


def test_reliability_legend_sits_under_the_plot_clear_of_full_bars() -> None:
    svg = ET.fromstring(plots.reliability_svg(_bins(1.0)))
    height = float(svg.attrib["viewBox"].split()[3])
    assert height == plots.HEIGHT + plots.RELIABILITY_LEGEND_H
    legend = svg.find(f"{SVG}g[@class='legend']")
    assert legend is not None
    labels = [t.text for t in legend.iter(f"{SVG}text")]
    assert labels == ["kept by reviewers", "mean C_refined", "perfectly calibrated"]
    legend_top = min(
        float(e.attrib.get("y", e.attrib.get("cy", e.attrib.get("y1", "0"))))
        for e in legend
        if e.tag in (f"{SVG}text", f"{SVG}rect", f"{SVG}circle", f"{SVG}line")
    )
    bars = [
        r
        for r in svg.iter(f"{SVG}rect")
        if r.attrib.get("fill") == "#42a5f5" and r not in list(legend)
    ]
    assert len(bars) == 10
    bars_bottom = max(float(r.attrib["y"]) + float(r.attrib["height"]) for r in bars)
    assert bars_bottom == plots.HEIGHT - plots.PAD
    assert legend_top > plots.HEIGHT - 6  # under the x axis label
    assert legend_top > bars_bottom


def test_without_leaves_out_the_named_classes_in_order() -> None:
    iou = {"background": 0.93, "bumper": 0.82, "no_damage": 0.87, "hood": 0.79}
    assert plots.without(iou, {"background", "no_damage"}) == {"bumper": 0.82, "hood": 0.79}
    assert plots.without(iou, ()) == iou
