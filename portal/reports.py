"""The downloadable PDF damage report of a case: the case page's report, in the same
words (`portal.customer_report.case_customer_report`), with each annotated photo beside its
caption, the customer's contests and the adjuster's answers.

What people wrote (the customer's name, the place of loss, file names, contests) may be in
any script: it is set in DejaVu Sans, with Droid Sans Fallback for Chinese, Japanese and
Korean and Symbola for emoji where DejaVu has no glyph (`portal/fonts`, embedded as
subsets), and right-to-left text (Hebrew, Arabic) is put in display order by python-bidi.
"""

from __future__ import annotations

import functools
import io
import unicodedata
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from bidi import get_display
from reportlab.lib import colors
from reportlab.lib.fonts import addMapping
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
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

FONTS = Path(__file__).resolve().parent / "fonts"
TEXT_FONT = "DejaVuSans"
BOLD_FONT = "DejaVuSans-Bold"  # Latin only: other scripts fall back to the text font
# The first of these with a glyph sets a character that the paragraph's own font lacks.
FALLBACK_FONTS = (TEXT_FONT, "DroidSansFallback-CJK", "Symbola-Emoji")
FONT_FILES = {
    TEXT_FONT: "DejaVuSans.ttf",
    BOLD_FONT: "DejaVuSans-Bold-Latin.ttf",
    "DroidSansFallback-CJK": "DroidSansFallback-CJK.ttf",
    "Symbola-Emoji": "Symbola-Emoji.ttf",
}
# Joiners and emoji presentation selectors: no glyph of their own in a black-and-white font.
INVISIBLE = {"\u200d", "\ufe0e", "\ufe0f"}


@functools.cache
def _glyphs() -> dict[str, frozenset[int]]:
    """Registers the fonts with reportlab once; the code points each one draws."""
    covered = {}
    for name, file in FONT_FILES.items():
        font = TTFont(name, str(FONTS / file))
        pdfmetrics.registerFont(font)
        covered[name] = frozenset(font.face.charToGlyph)
    # <b> in a paragraph of the text font is the bold one, and back.
    addMapping(TEXT_FONT, 0, 0, TEXT_FONT)
    addMapping(TEXT_FONT, 1, 0, BOLD_FONT)
    addMapping(TEXT_FONT, 0, 1, TEXT_FONT)
    addMapping(TEXT_FONT, 1, 1, BOLD_FONT)
    return covered


def words(text: str, font: str = TEXT_FONT) -> str:
    """Paragraph markup for `text` set in `font`: escaped, right-to-left runs in display
    order, and each run of characters `font` has no glyph for in the first fallback font
    that has them (a character none has keeps `font`, and shows as its empty box)."""
    glyphs = _glyphs()
    text = "".join(ch for ch in text if ch not in INVISIBLE)
    if any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text):
        # In display order within the report's left-to-right sentences. Reordered before
        # reportlab wraps it: a right-to-left phrase split over two lines reads in the
        # wrong line order (names and addresses rarely are).
        text = get_display(text, base_dir="L")
    runs: list[tuple[str, str]] = []
    for ch in text:
        chosen = font
        if ord(ch) not in glyphs[font] and not ch.isspace():
            chosen = next((f for f in FALLBACK_FONTS if ord(ch) in glyphs[f]), font)
        if runs and runs[-1][0] == chosen:
            runs[-1] = (chosen, runs[-1][1] + ch)
        else:
            runs.append((chosen, ch))
    return "".join(
        escape(run) if name == font else f'<font name="{name}">{escape(run)}</font>'
        for name, run in runs
    )


def _styles() -> dict[str, ParagraphStyle]:
    _glyphs()
    base = getSampleStyleSheet()
    normal = ParagraphStyle("normal", parent=base["Normal"], fontName=TEXT_FONT)
    return {
        "title": ParagraphStyle("title", parent=base["Title"], fontName=BOLD_FONT),
        "normal": normal,
        "muted": ParagraphStyle("muted", parent=normal, textColor=colors.grey),
        "cell": ParagraphStyle("cell", parent=normal, fontSize=9, leading=11),
        "head": ParagraphStyle("head", parent=normal, fontName=BOLD_FONT, fontSize=9, leading=11),
        "contest": ParagraphStyle(
            "contest",
            parent=normal,
            fontSize=8.5,
            leading=10.5,
            textColor=colors.HexColor("#7a1d16"),
        ),
        "severity": ParagraphStyle(
            "severity", parent=base["Heading2"], fontName=BOLD_FONT, spaceAfter=2
        ),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontName=BOLD_FONT, keepWithNext=1),
        # A photo's heading never ends a page: it keeps with its image and caption.
        "photo": ParagraphStyle(
            "photo", parent=base["Heading4"], fontName=BOLD_FONT, keepWithNext=1, spaceAfter=4
        ),
    }


def _contest_lines(contest: Any, *, about_row: bool) -> str:
    """A contest and its answer, as the case page says them (markup for a paragraph)."""
    if about_row:
        said = "You contested this row: "
    elif contest.finding_id:
        said = "You contested a row that the adjuster then took off the report: "
    else:
        said = "You wrote that damage was missed: "
    text = f"<b>{said}</b>\u201c{words(contest.reason)}\u201d"
    if contest.photo_id and contest.photo is not None:
        text += f" (photo {contest.photo.position + 1})"
    if contest.answered_at:
        text += f"<br/><b>Adjuster's answer:</b> {words(contest.answer)}"
    else:
        text += "<br/>An adjuster will check it again and answer you on your claim page."
    return text


def _photo_link(number: int) -> str:
    return f'<a href="#photo-{number}" color="#1a5fb4">photo {number}</a>'


def _photo_block(entry: ReportPhoto, styles: dict[str, ParagraphStyle]) -> list[Any]:
    photo = entry.photo
    heading = Paragraph(
        f'<a name="photo-{entry.number}"/>Photo {entry.number}: '
        f"{words(photo.original_name, BOLD_FONT)}",
        styles["photo"],
    )
    caption = Paragraph(words(entry.caption), styles["normal"])
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
            f"Filed by {words(case.customer.get_full_name() or case.customer.get_username())}"
            f" · policy {words(case.policy_number)} · loss on {case.loss_date} at "
            f"{words(case.loss_place)} · filed {case.created_at:%Y-%m-%d %H:%M} · "
            f"{escape(report.status_words or case.get_status_display())}",
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
            cell: list[Any] = [Paragraph(sentence, styles["cell"])]
            cell += [
                Paragraph(_contest_lines(c, about_row=True), styles["contest"]) for c in r.contests
            ]
            rows.append(
                [
                    cell,
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
    if report.contests_other:
        story += [Spacer(1, 8), Paragraph("Your contests", styles["h2"])]
        story += [
            Paragraph(_contest_lines(c, about_row=False), styles["contest"])
            for c in report.contests_other
        ]
    story += [Spacer(1, 12), Paragraph("Photos", styles["h2"])]
    for entry in report.photos:
        story += _photo_block(entry, styles)
    doc.build(story)
    return buffer.getvalue()
