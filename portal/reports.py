"""The downloadable PDF damage report of a case: the case page's report, in the same
words (`portal.customer_report.case_customer_report`), with each annotated photo beside its
caption."""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from claims import wording
from claims.models import Case
from portal.customer_report import CustomerReport, ReportPhoto
from portal.services import photo_annotated

# Under the table when a size was measured on a detector box (the case page says the same).
BOX_NOTE = (
    'Sizes marked "up to" were measured on a box drawn around the damage, so the damage '
    "itself may be smaller."
)
IMAGE_WIDTH = 10.5 * cm
IMAGE_HEIGHT = 8 * cm


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    return {
        "title": base["Title"],
        "normal": base["Normal"],
        "muted": ParagraphStyle("muted", parent=base["Normal"], textColor=colors.grey),
        "cell": ParagraphStyle("cell", parent=base["Normal"], fontSize=9, leading=11),
        "head": ParagraphStyle(
            "head", parent=base["Normal"], fontName="Helvetica-Bold", fontSize=9, leading=11
        ),
        "severity": ParagraphStyle("severity", parent=base["Heading2"], spaceAfter=2),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], keepWithNext=1),
        # A photo's heading never ends a page: it keeps with its image and caption.
        "photo": ParagraphStyle("photo", parent=base["Heading4"], keepWithNext=1, spaceAfter=4),
    }


def _photo_link(number: int) -> str:
    return f'<a href="#photo-{number}" color="#1a5fb4">photo {number}</a>'


def _photo_block(entry: ReportPhoto, styles: dict[str, ParagraphStyle]) -> list[Any]:
    photo = entry.photo
    heading = Paragraph(
        f'<a name="photo-{entry.number}"/>Photo {entry.number}: {escape(photo.original_name)}',
        styles["photo"],
    )
    caption = Paragraph(escape(entry.caption), styles["normal"])
    annotated = photo_annotated(photo=photo)
    if not annotated:
        return [heading, caption, Spacer(1, 8)]
    with annotated.open("rb") as fh:
        image = Image(io.BytesIO(fh.read()))
    scale = min(IMAGE_WIDTH / image.imageWidth, IMAGE_HEIGHT / image.imageHeight)
    image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
    # The image and its caption side by side: one table row, which never splits.
    beside = Table([[image, caption]], colWidths=[IMAGE_WIDTH + 0.3 * cm, None])
    beside.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (0, 0), 0),
            ]
        )
    )
    return [heading, beside, Spacer(1, 10)]


def case_report_pdf(*, case: Case, report: CustomerReport) -> bytes:
    styles = _styles()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"Claim {case.reference}",
        leftMargin=2 * cm,
        rightMargin=2 * cm,
        topMargin=1.8 * cm,
        bottomMargin=1.8 * cm,
    )
    status = report.status_line
    if report.removed:
        status += (
            f" The adjuster removed {report.removed} finding"
            f"{'s that were' if report.removed != 1 else ' that was'} not damage."
        )
    story: list[Any] = [
        Paragraph(
            f"{'Reviewed damage report' if report.reviewed else 'Damage report'} - "
            f"claim {case.reference}",
            styles["title"],
        ),
        Paragraph(
            escape(
                f"Policy {case.policy_number} · loss on {case.loss_date} at {case.loss_place} · "
                f"filed {case.created_at:%Y-%m-%d %H:%M} · "
                f"{report.status_words or case.get_status_display()}"
            ),
            styles["normal"],
        ),
        Spacer(1, 6),
        Paragraph(escape(status), styles["normal"]),
    ]
    if report.dsi is None:
        story.append(Paragraph("Severity: not known yet.", styles["severity"]))
    else:
        story += [
            Paragraph(
                f"Severity {report.dsi_number} of 100 ({report.dsi_word})", styles["severity"]
            ),
            Paragraph(escape(f"Severity: {report.severity_means}."), styles["normal"]),
        ]
    if report.scores_known and report.photos:
        parts = []
        for p in report.photos:
            if p.severity_number is not None:
                value = str(p.severity_number)
            elif p.replaced_by:
                value = f"replaced by photo {p.replaced_by}"
            elif p.after_report:
                value = "added after the check"
            else:
                value = p.photo.get_status_display().lower()
            parts.append(f"photo {p.number}: {value}")
        note = f" ({wording.PER_PHOTO_NOTE})" if len(parts) > 1 else ""
        story.append(Paragraph("Per photo: " + " · ".join(parts) + note, styles["normal"]))
    story.append(Spacer(1, 8))
    if report.rows:
        rows: list[list[Any]] = [
            [
                Paragraph(text, styles["head"])
                for text in ("Damaged part", "Severity", "Confidence", "Seen in photos")
            ]
        ]
        for r in report.rows:
            sentence = escape(r.sentence)
            if r.changes:
                sentence += f' <font color="#9c4a00">({escape(r.changes)})</font>'
            rows.append(
                [
                    Paragraph(sentence, styles["cell"]),
                    Paragraph(
                        "-" if r.severity_number is None else f"{r.severity_number} of 100",
                        styles["cell"],
                    ),
                    Paragraph(escape(r.confidence), styles["cell"]),
                    Paragraph(", ".join(_photo_link(n) for n in r.photos), styles["cell"]),
                ]
            )
        table = Table(rows, repeatRows=1, colWidths=[8 * cm, 2.2 * cm, 3.4 * cm, 3.4 * cm])
        table.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        story += [table, Spacer(1, 4)]
        story.append(Paragraph(f"Severity per part: {report.severity_cutoffs}.", styles["muted"]))
        if report.has_boxes:
            story.append(Paragraph(escape(BOX_NOTE), styles["muted"]))
    else:
        story.append(
            Paragraph(
                "The adjuster found no damage."
                if report.reviewed
                else "No damage was found in the usable photos.",
                styles["normal"],
            )
        )
    story += [Spacer(1, 12), Paragraph("Photos", styles["h2"])]
    for entry in report.photos:
        story += _photo_block(entry, styles)
    doc.build(story)
    return buffer.getvalue()
