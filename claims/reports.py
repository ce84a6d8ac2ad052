"""The downloadable PDF damage report of a case."""

from __future__ import annotations

import io
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from claims.models import Case, Photo

# Under the table when a row is a detector box (the case page says the same).
BOX_NOTE = (
    "Damage marked (box) was found as a box around it: its size, share of the part and "
    "area are the box's, so they can overstate the damage. The photos show it as a box."
)


def case_report_pdf(*, case: Case, summary: list[dict[str, Any]], photos: list[Photo]) -> bytes:
    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, title=f"Claim {case.reference}")
    story: list[Any] = [
        Paragraph(f"Damage report - claim {case.reference}", styles["Title"]),
        Paragraph(
            f"Policy {case.policy_number}; loss on {case.loss_date} at {case.loss_place}. "
            f"Status: {case.get_status_display()}. Model: {case.model_version or '-'}.",
            styles["Normal"],
        ),
        Paragraph(
            "Damage severity index (case): "
            + ("-" if case.dsi is None else f"{case.dsi:.1f} / 100"),
            styles["Heading2"],
        ),
    ]
    rows = [["Part", "Damage", "Size", "Share of part", "Confidence", "Photos"]]
    rows += [
        [
            r["part"],
            r["damage"],
            r["size_class"] + (" (box)" if r["shape"] == "box" else ""),
            f"{r['share_of_part']:.0%}",
            f"{r['confidence']:.0%}",
            ", ".join(str(p) for p in r["photos"]),
        ]
        for r in summary
    ]
    table = Table(rows, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
            ]
        )
    )
    story.append(table if summary else Paragraph("No damage found.", styles["Normal"]))
    if any(r["shape"] == "box" for r in summary):
        story.append(Paragraph(BOX_NOTE, styles["Italic"]))
    story.append(Spacer(1, 12))
    for photo in photos:
        story.append(
            Paragraph(
                f"Photo {photo.position + 1}: {photo.get_status_display()}"
                + (f" - {photo.set_aside_reason}" if photo.set_aside_reason else ""),
                styles["Heading4"],
            )
        )
        if photo.annotated:
            with photo.annotated.open("rb") as fh:
                data = io.BytesIO(fh.read())
            image = Image(data)
            scale = min(16 * cm / image.imageWidth, 10 * cm / image.imageHeight)
            image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
            story.append(image)
    doc.build(story)
    return buffer.getvalue()
