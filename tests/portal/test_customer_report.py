"""One capability's tests, sharing its helpers: the customer's report on the page and in the PDF,
built with `build_case` and read back through the same HTML and PDF text helpers.

The customer's report in plain words, on the case page and in the PDF: one truth after
review, consistent severities, set-aside photos that were replaced, nothing internal."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pypdfium2 as pdfium
import pytest
from django.core.files.base import ContentFile
from django.test import Client
from PIL import Image, ImageDraw

from claims import wording
from claims.models import AuditEvent, Case, Photo
from claims.services import Upload, photo_add
from damage_vision.taxonomy import load_taxonomy
from inference import services as inference_services
from inference.models import Finding, ModelVersion
from portal import customer_report, report_items
from portal.reports import case_report_pdf
from review import rle as rle_codec
from review import services
from review.models import ReviewDecision, ReviewedReport
from tests import factories
from tests.conftest import claim_processed

pytestmark = pytest.mark.django_db

TAXONOMIES = Path(__file__).resolve().parents[2] / "damage_vision" / "taxonomy"
NO_VEHICLE = "no vehicle found (probability 0.12); take a photo that shows the vehicle"

# What a claimant must never read: class names, the pipeline's terms, raw probabilities.
INTERNAL = (
    "body_damage",
    "surface_damage",
    "deformity",
    "door_shell",
    "other_panel",
    "no_damage",
    "c_refined",
    "C_refined",
    "k_agree",
    "K_agree",
    "c_base",
    "C_base",
    "decompression",
    "probability",
    "DSI",
    "threshold",
)


# Wording --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(TAXONOMIES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_taxonomy_class_has_plain_words(path: Path) -> None:
    taxonomy = load_taxonomy(path.stem)
    table = wording.PART_WORDS if taxonomy.kind == "parts" else wording.DAMAGE_WORDS
    missing = [c for c in taxonomy.classes if c not in table]
    assert missing == []
    for name in taxonomy.classes:
        assert "_" not in table[name]
    assert wording.part_words("other_panel") == "other body panel"


@pytest.mark.parametrize(
    ("score", "word", "number"),
    [
        (0.0, "none", 0),
        (0.4, "none", 0),
        (0.5, "light", 1),
        (44.4, "light", 44),
        (44.5, "medium", 45),
        (64.4, "medium", 64),
        (64.5, "severe", 65),
        (100.0, "severe", 100),
    ],
)
def test_severity_words_and_cutoffs(score: float, word: str, number: int) -> None:
    assert (wording.severity_word(score), wording.severity_number(score)) == (word, number)


def test_severity_sentence_says_what_the_index_means() -> None:
    assert wording.severity_sentence(52.3) == (
        "Severity 52 of 100: how much of the visible car is damaged and how badly; 0 is none"
    )
    assert wording.SEVERITY_CUTOFFS_TEXT == "light below 45, medium 45 to 64, severe 65 and above"


@pytest.mark.parametrize(
    ("area", "box", "text"),
    [
        (None, False, ""),
        (0.0, False, ""),
        (4300.0, False, "about 0.4 m²"),
        (12345.0, False, "about 1.2 m²"),
        (1000.0, False, "about 0.1 m²"),
        (153.0, False, "about 150 cm²"),
        (37.4, False, "about 37 cm²"),
        (0.3, False, "about 1 cm²"),
        (4300.0, True, "up to about 0.4 m²"),
    ],
)
def test_size_words(area: float | None, box: bool, text: str) -> None:
    assert wording.size_words(area, box=box) == text


def test_row_sentence_and_set_aside_words() -> None:
    assert (
        wording.row_sentence(
            part="front_bumper", damage="scratch", severity=50.0, size="about 0.4 m²"
        )
        == "Front bumper: scratch, medium, about 0.4 m²"
    )
    assert (
        wording.row_sentence(part="hood", damage="body_damage", severity=None, size="")
        == "Bonnet: broken or missing part"
    )
    assert wording.set_aside_words(NO_VEHICLE) == (
        "no vehicle found; take a photo that shows the vehicle"
    )
    assert wording.changes_words(["model", "edited", "added"]) == (
        "changed by the adjuster; added by the adjuster"
    )


# A case as the pipeline leaves it -------------------------------------------------------


def _jpeg(width: int, height: int, colour: tuple[int, int, int], label: str = "") -> bytes:
    image = Image.new("RGB", (width, height), colour)
    if label:
        ImageDraw.Draw(image).rectangle((10, 10, width // 2, height // 2), outline=(255, 0, 0))
        ImageDraw.Draw(image).text((14, 14), label, fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def build_case(
    customer: Any,
    *,
    findings: list[tuple[str, str, float]] | None = None,
    set_aside: int = 1,
    threshold: float = 0.6,
) -> Case:
    """A processed case: photo 1 with `findings` (damage, part, C_refined), sizes on some,
    then `set_aside` photos set aside for no vehicle; thumbnails and annotated images on
    every photo, and the case's and photos' DSI as `case_finalise` writes them."""
    version = factories.model_version_create(threshold=threshold)
    case = factories.case_create(
        customer=customer,
        version=version,
        findings=findings
        if findings is not None
        else [
            ("deformity", "door_shell", 0.3),
            ("surface_damage", "bumper", 0.9),
            ("body_damage", "hood", 0.95),
        ],
        set_aside=set_aside,
        photo_size=(640, 480),
        grid=(320, 240),
    )
    sizes = {"bumper": 4300.0, "door_shell": 153.0}
    for part, area in sizes.items():
        Finding.objects.filter(case=case, part=part).update(area_cm2=area)
    for photo in case.photos.order_by("position"):
        colour = (70, 90, 120) if photo.status == Photo.Status.DONE else (128, 128, 128)
        photo.thumbnail.save(f"t{photo.position}.jpg", ContentFile(_jpeg(160, 120, colour)))
        photo.annotated.save(
            f"a{photo.position}.jpg",
            ContentFile(_jpeg(640, 480, colour, f"photo {photo.position + 1}")),
        )
        if photo.status == Photo.Status.SET_ASIDE:
            photo.set_aside_reason = NO_VEHICLE
        else:
            scores = list(Finding.objects.filter(photo=photo).values_list("dsi_score", flat=True))
            photo.dsi = sum(scores) / len(scores) if scores else 0.0
        photo.save()
    # As synthesis does: the mean over (part, damage) rows of their mean S_i.
    rows: dict[tuple[str, str], list[float]] = {}
    for f in Finding.objects.filter(case=case):
        rows.setdefault((f.part, f.damage), []).append(f.dsi_score)
    case.dsi = sum(sum(v) / len(v) for v in rows.values()) / len(rows) if rows else 0.0
    case.save()
    return case


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


class _Text(HTMLParser):
    """The text a person reads on a page (no scripts, styles or attributes), and the
    report table's rows."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.sentences: list[str] = []
        self._skip = 0
        self._in_sentence = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "span" and ("class", "row-sentence") in attrs:
            self._in_sentence = True
            self.sentences.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1
        if tag == "span":
            self._in_sentence = False

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)
            if self._in_sentence:
                self.sentences[-1] += data

    @property
    def text(self) -> str:
        return _squash(" ".join(self.parts))


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _page(client: Client, case: Case) -> tuple[str, _Text]:
    html = client.get(f"/cases/{case.public_id}/").content.decode()
    parsed = _Text()
    parsed.feed(html)
    parsed.sentences = [_squash(s) for s in parsed.sentences]
    return html, parsed


def _pdf(client: Client, case: Case) -> bytes:
    response = client.get(f"/cases/{case.public_id}/report.pdf")
    assert response.status_code == 200
    return response.content


def pdf_pages_text(data: bytes) -> list[str]:
    doc = pdfium.PdfDocument(data)
    try:
        return [_squash(page.get_textpage().get_text_range()) for page in doc]
    finally:
        doc.close()


def _assert_plain(html: str, text: str) -> None:
    for word in INTERNAL:
        assert word not in text, word
    assert "%" not in text  # no raw probabilities or shares
    for name in ("body_damage", "surface_damage", "door_shell", "deformity"):
        assert name not in html, name  # not even in attributes


# Before review --------------------------------------------------------------------------


def test_page_before_review_lists_the_model_findings_in_plain_words(customer) -> None:
    case = build_case(customer)
    html, page = _page(_client(customer), case)
    # Sorted by the words people read; sizes only where known.
    assert page.sentences == [
        "Bonnet: broken or missing part, medium",
        "Bumper: scratch or paint damage, light, about 0.4 m²",
        "Door: dent or deformation, light, about 150 cm²",
    ]
    report = customer_report.case_customer_report(case=case)
    assert [r.confidence for r in report.rows] == ["high", "high", "to be checked"]
    assert f'Severity <span id="case-dsi">{wording.severity_number(case.dsi)}</span> of 100' in html
    assert "how much of the visible car is damaged and how badly; 0 is none" in page.text
    # One truth: the case severity is the mean of the parts' (as synthesis computes it),
    # each photo's is the mean of its damages' and equals the photo's stored DSI.
    severities = [r.severity for r in report.rows]
    assert case.dsi == pytest.approx(sum(severities) / len(severities))  # type: ignore[arg-type]
    photo1 = case.photos.get(position=0)
    assert report.photos[0].severity == pytest.approx(photo1.dsi)
    assert f"photo 1: {wording.severity_number(photo1.dsi)}" in page.text
    assert "photo 2: set aside" in page.text
    assert (
        "Set aside: no vehicle found; take a photo that shows the vehicle. "
        "Please add another photo." in page.text
    )
    # Thumbnails in the rows link to the photo.
    assert f"/cases/{case.public_id}/photos/{photo1.pk}/thumb.jpg" in html
    assert f'href="/cases/{case.public_id}/photos/{photo1.pk}/annotated.jpg"' in html
    _assert_plain(html, page.text)


def test_page_and_pdf_never_show_internal_terms(customer) -> None:
    case = build_case(customer, set_aside=2)
    failed = case.photos.get(position=2)
    failed.status = Photo.Status.FAILED
    failed.error = "an unexpected error (InferenceInputError); press Retry (probability 0.91)"
    failed.save()
    client = _client(customer)
    html, page = _page(client, case)
    _assert_plain(html, page.text)
    assert "Processing failed: an unexpected error (InferenceInputError); press Retry" in page.text
    text = " ".join(pdf_pages_text(_pdf(client, case)))
    _assert_plain("", text)


# After review ---------------------------------------------------------------------------


def _mask(photo: Photo, x0: int, y0: int, x1: int, y1: int) -> dict[str, Any]:
    grid = np.zeros((photo.height, photo.width), dtype=bool)
    grid[y0:y1, x0:x1] = True
    return rle_codec.encode(grid).as_coco()


def _review(case: Case, adjuster: Any) -> ReviewedReport:
    """Door dent (below threshold) edited into a bumper dent, the bonnet finding rejected,
    the bumper scratch accepted, a missed dent on the roof... on the boot added."""
    findings = {f.part: f for f in Finding.objects.filter(case=case)}
    photo = case.photos.get(position=0)
    services.lease_claim(case=case, user=adjuster)
    services.finding_edit(
        finding=findings["door_shell"],
        user=adjuster,
        mask=_mask(photo, 0, 0, 200, 120),
        damage_type="deformity",
        part="door_shell",
    )
    services.finding_decide(finding=findings["hood"], user=adjuster, action="reject")
    services.finding_decide(finding=findings["bumper"], user=adjuster, action="accept")
    services.damage_add(
        photo=photo,
        user=adjuster,
        mask=_mask(photo, 300, 200, 400, 260),
        damage_type="surface_damage",
        part="trunk",
    )
    for p in case.photos.filter(status=Photo.Status.SET_ASIDE):
        services.photo_confirm_set_aside(photo=p, user=adjuster)
    return services.case_finish_review(case=case, user=adjuster)


def test_after_review_only_the_reviewed_report_with_the_changes_marked(customer, adjuster) -> None:
    case = build_case(customer)
    stored = _review(case, adjuster)
    case.refresh_from_db()
    html, page = _page(_client(customer), case)
    assert page.sentences == [
        "Boot lid: scratch or paint damage, light",
        "Bumper: scratch or paint damage, light, about 0.4 m²",
        "Door: dent or deformation, medium, about 0.2 m²",
    ]
    assert "Boot lid: scratch or paint damage, light added by the adjuster" in page.text
    assert "Door: dent or deformation, medium, about 0.2 m² changed by the adjuster" in page.text
    assert "Bonnet" not in page.text  # rejected: not shown
    assert "An adjuster checked this report on" in page.text
    assert "The adjuster removed 1 finding that was not damage." in page.text
    assert 'id="reviewed-report"' in html
    report = customer_report.case_customer_report(case=case)
    assert report.scores_known
    assert {r.confidence for r in report.rows} == {"checked by an adjuster"}
    # The case and per-photo severities are the reviewed report's, computed alike.
    computed = services.report_compute(case=case)
    assert report.dsi == stored.dsi == pytest.approx(computed.dsi)
    assert case.dsi == pytest.approx(stored.dsi)
    photo1 = case.photos.get(position=0)
    assert report.photos[0].severity == pytest.approx(computed.photo_dsi[photo1.pk])
    assert f'<span id="case-dsi">{wording.severity_number(stored.dsi)}</span>' in html
    assert f"photo 1: {wording.severity_number(computed.photo_dsi[photo1.pk])}" in (page.text)
    # The edited door: the model's scale (cm² per grid pixel) times the drawn area.
    door = next(r for r in report.rows if r.part == "door_shell")
    finding = Finding.objects.get(case=case, part="door_shell")
    assert door.area_cm2 == pytest.approx(153.0 / finding.area_px * (200 * 120) / 4)
    # Reviewed: the set-aside photo no longer asks for another (no photo can be added).
    assert "Please add another photo" not in page.text
    assert "Set aside: no vehicle found; take a photo that shows the vehicle." in page.text
    _assert_plain(html, page.text)


def test_a_part_shown_by_several_regions_counts_once_in_the_reviewed_figures(
    customer: Any, adjuster: Any
) -> None:
    """Two regions of the same damage on the same part, scored differently: the row's
    severity is their mean, the case's the mean over rows (each part counted once), the
    same rule as the model's synthesis; the page keeps the figures."""
    case = build_case(
        customer,
        findings=[("surface_damage", "bumper", 0.3), ("deformity", "hood", 0.4)],
        set_aside=0,
    )
    photo = case.photos.get(position=0)
    services.lease_claim(case=case, user=adjuster)
    for finding in Finding.objects.filter(case=case):
        services.finding_decide(finding=finding, user=adjuster, action="accept")
    services.damage_add(  # a second, larger scratch on the bumper
        photo=photo,
        user=adjuster,
        mask=_mask(photo, 0, 0, 400, 300),
        damage_type="surface_damage",
        part="bumper",
    )
    stored = services.case_finish_review(case=case, user=adjuster)
    report = customer_report.case_customer_report(case=case)
    assert report.scores_known
    bumper = next(r for r in report.rows if r.part == "bumper")
    hood = next(r for r in report.rows if r.part == "hood")
    assert bumper.severity is not None
    assert hood.severity is not None
    assert report.dsi == pytest.approx(stored.dsi)
    assert stored.dsi == pytest.approx((bumper.severity + hood.severity) / 2, abs=1e-4)


def test_reopened_case_keeps_showing_the_last_reviewed_report(
    customer, adjuster, monkeypatch
) -> None:
    case = build_case(customer)
    stored = _review(case, adjuster)
    before = customer_report.case_customer_report(case=case)
    services.case_reopen(case=case, user=adjuster, reason="customer sent a quote")
    bumper = Finding.objects.get(case=case, part="bumper")
    current = bumper.review_decisions.get(current=True)
    services.finding_decide(finding=bumper, user=adjuster, action="reject", supersedes=current.pk)
    case.refresh_from_db()
    assert case.status == Case.Status.NEEDS_REVIEW
    after = customer_report.case_customer_report(case=case)
    assert after.rechecking
    assert after.scores_known
    assert [r.sentence for r in after.rows] == [r.sentence for r in before.rows]
    assert after.dsi == stored.dsi
    assert [p.severity for p in after.photos] == [p.severity for p in before.photos]
    _, page = _page(_client(customer), case)
    assert "An adjuster is checking this claim again" in page.text
    assert "Bumper: scratch or paint damage, light, about 0.4 m²" in page.sentences

    # A photo added while the check runs again is not scored against the old report.
    monkeypatch.setattr("claims.services.runs_create", lambda **kwargs: [])
    added = photo_add(
        case=case,
        user=customer,
        upload=Upload(name="more.jpg", stream=io.BytesIO(_jpeg(64, 48, (80, 80, 80)))),
    )
    Photo.objects.filter(pk=added.pk).update(status=Photo.Status.DONE, dsi=70.0)
    Case.objects.filter(pk=case.pk).update(status=Case.Status.NEEDS_REVIEW)
    case.refresh_from_db()
    later = customer_report.case_customer_report(case=case)
    assert later.dsi == stored.dsi
    assert [r.sentence for r in later.rows] == [r.sentence for r in before.rows]
    assert (later.photos[-1].number, later.photos[-1].severity) == (3, None)
    _, page = _page(_client(customer), case)
    assert "Added after the adjuster's check; the next check will include it." in page.text
    assert "photo 3: added after the check" in page.text


def test_the_page_pdf_and_photo_show_the_stored_report_whatever_the_decisions_say_later(
    customer, adjuster
) -> None:
    """What the customer reads is the report as the adjuster finished it, read back: a
    decision's row changed in the database afterwards (no new round) and the version's
    threshold moved change nothing on the page, in the PDF or on the reviewed photo."""
    case = build_case(customer)
    stored = _review(case, adjuster)
    case.refresh_from_db()
    client = _client(customer)
    before = customer_report.case_customer_report(case=case)
    _, page_before = _page(client, case)
    pdf_before = pdf_pages_text(_pdf(client, case))
    photo = case.photos.get(position=0)
    drawn_before = [
        (r.number, r.damage, r.box, r.grid, r.area_px)
        for r in report_items.photo_reviewed_regions(photo=photo, round_number=1)
    ]

    bumper = Finding.objects.get(case=case, part="bumper")
    ReviewDecision.objects.filter(finding=bumper, current=True).update(action="reject")
    ReviewDecision.objects.filter(action="add", case=case).update(part="roof")
    ModelVersion.objects.filter(pk=case.model_version_id).update(threshold=0.99)
    assert services.report_compute(case=case).dsi != stored.dsi  # the rows say otherwise now

    after = customer_report.case_customer_report(case=case)
    assert after.scores_known
    assert (
        [r.sentence for r in after.rows]
        == [r.sentence for r in before.rows]
        == [
            "Boot lid: scratch or paint damage, light",
            "Bumper: scratch or paint damage, light, about 0.4 m²",
            "Door: dent or deformation, medium, about 0.2 m²",
        ]
    )
    assert [r.regions for r in after.rows] == [r.regions for r in before.rows]
    assert (after.dsi, after.removed) == (stored.dsi, 1)
    assert [p.severity for p in after.photos] == [p.severity for p in before.photos]
    assert _page(client, case)[1].text == page_before.text
    assert pdf_pages_text(_pdf(client, case)) == pdf_before
    drawn_after = [
        (r.number, r.damage, r.box, r.grid, r.area_px)
        for r in report_items.photo_reviewed_regions(photo=photo, round_number=1)
    ]
    assert drawn_after == drawn_before
    assert [(n, d) for n, d, *_ in drawn_after] == [  # the rejected bonnet leaves no gap
        (1, "deformity"),
        (2, "surface_damage"),
        (3, "surface_damage"),
    ]


def test_a_report_stored_without_what_it_keeps_is_shown_without_figures(customer, adjuster) -> None:
    """An older report its decisions no longer gave back keeps no outcome (review 0009):
    its stored rows are shown, without severities, sizes, places or outlines."""
    case = build_case(customer)
    stored = _review(case, adjuster)
    ReviewedReport.objects.filter(pk=stored.pk).update(outcome=None)
    report = customer_report.case_customer_report(case=case)
    assert not report.scores_known
    assert report.dsi == pytest.approx(stored.dsi)
    assert report.removed == 1
    assert [p.severity for p in report.photos] == [None, None]
    assert [r.sentence for r in report.rows] == [
        "Boot lid: scratch or paint damage",
        "Bumper: scratch or paint damage",
        "Door: dent or deformation",
    ]
    assert [r.regions for r in report.rows] == [[], [], []]
    photo = case.photos.get(position=0)
    assert report_items.photo_reviewed_regions(photo=photo, round_number=1) == []
    text = " ".join(pdf_pages_text(_pdf(_client(customer), case)))
    assert "Boot lid: scratch or paint damage" in text


# Set-aside photos -----------------------------------------------------------------------


def test_a_replaced_set_aside_photo_no_longer_asks_for_another(customer, monkeypatch) -> None:
    monkeypatch.setattr("claims.services.runs_create", lambda **kwargs: [])
    case = build_case(customer, set_aside=2)
    Case.objects.filter(pk=case.pk).update(status=Case.Status.NEEDS_PHOTOS)
    case.refresh_from_db()
    client = _client(customer)
    assert _page(client, case)[1].text.count("Please add another photo") == 2
    added = photo_add(
        case=case,
        user=customer,
        upload=Upload(name="retake.jpg", stream=io.BytesIO(_jpeg(64, 48, (80, 80, 80)))),
    )
    assert AuditEvent.objects.filter(case=case, verb="photo.added").count() == 1
    Photo.objects.filter(pk=added.pk).update(status=Photo.Status.DONE, dsi=0.0)
    Case.objects.filter(pk=case.pk).update(status=Case.Status.NEEDS_REVIEW)
    case.refresh_from_db()
    _, page = _page(client, case)
    # The earliest set-aside photo is answered by the retake; the other still asks.
    replaced = (
        "Set aside: no vehicle found; take a photo that shows the vehicle. Replaced by photo 4."
    )
    assert replaced in page.text
    assert page.text.count("Please add another photo") == 1
    assert "photo 2: replaced by photo 4" in page.text
    report = customer_report.case_customer_report(case=case)
    assert [(p.number, p.replaced_by, p.ask_for_another) for p in report.photos] == [
        (1, None, False),
        (2, 4, False),
        (3, None, True),
        (4, None, False),
    ]


# The PDF --------------------------------------------------------------------------------


@pytest.mark.parametrize("reviewed", [False, True], ids=["model", "reviewed"])
def test_pdf_carries_the_rows_and_scores_of_the_page(customer, adjuster, reviewed: bool) -> None:
    case = build_case(customer)
    if reviewed:
        _review(case, adjuster)
        case.refresh_from_db()
    client = _client(customer)
    _, page = _page(client, case)
    data = _pdf(client, case)
    pages = pdf_pages_text(data)
    text = " ".join(pages)
    report = customer_report.case_customer_report(case=case)
    for row in report.rows:
        assert row.sentence in text
        assert row.sentence in page.sentences
        if row.changes:
            assert f"{row.sentence} ({row.changes})" in text
        assert f"{row.severity_number} of 100 {row.confidence}" in text
    per_photo = re.search(r"Per photo: .*?(?= Damaged part| Photos)", text)
    assert per_photo is not None
    assert per_photo.group(0) in page.text
    assert f"Severity {report.dsi_number} of 100 ({report.dsi_word})" in text
    assert ("Reviewed damage report" in text) is reviewed
    for entry in report.photos:
        assert entry.caption in text
    # Rendered: every page is an image a person can read (not blank).
    doc = pdfium.PdfDocument(data)
    try:
        for index, pdf_page in enumerate(doc):
            image = pdf_page.render(scale=1).to_pil().convert("L")
            assert image.getextrema()[0] < 100  # some dark ink on the page
            if index == 0:
                assert (round(image.size[0] / 10), image.size[1]) == (60, 842)  # A4, 72 dpi
    finally:
        doc.close()


def test_pdf_keeps_each_photo_heading_with_its_image_and_caption(customer) -> None:
    """Whatever the length of the table above, no photo heading ends a page alone."""
    case = build_case(
        customer,
        findings=[(d, p, 0.9) for d in factories.DAMAGES for p in factories.PARTS][:12],
        set_aside=5,
    )
    full = customer_report.case_customer_report(case=case)
    for count in range(len(full.rows) + 1):
        report = customer_report.case_customer_report(case=case)
        report.rows = report.rows[:count]
        pages = pdf_pages_text(case_report_pdf(case=case, report=report))
        assert len(pages) >= 3
        for entry in report.photos:
            heading = f"Photo {entry.number}: {entry.photo.original_name}"
            [page] = [p for p in pages if heading in p]
            assert entry.caption in page


def test_a_case_the_pipeline_processed_reads_plainly_and_adds_up(
    customer, active_model, vehicle_jpeg
) -> None:
    """The keen fixture model finds damage on every part of the bus: real class names,
    sizes and scores, through the page and the PDF."""
    case = claim_processed(customer, vehicle_jpeg)
    report = customer_report.case_customer_report(case=case)
    assert report.rows
    photo = case.photos.get()
    assert report.dsi == case.dsi
    assert report.photos[0].severity == pytest.approx(photo.dsi)
    assert case.dsi == pytest.approx(sum(r.severity or 0.0 for r in report.rows) / len(report.rows))
    client = _client(customer)
    html, page = _page(client, case)
    assert page.sentences == [r.sentence for r in report.rows]
    _assert_plain(html, page.text)
    text = " ".join(pdf_pages_text(_pdf(client, case)))
    _assert_plain("", text)
    for sentence in page.sentences:
        assert sentence in text


# The status a customer reads while their contest is reviewed ----------------------------


def _badge(html: str) -> str:
    match = re.search(r'<span class="badge[^"]*" id="case-status"[^>]*>([^<]*)</span>', html)
    assert match is not None
    return match.group(1)


def _list_badge(client: Client) -> str:
    html = client.get("/cases/").content.decode()
    (text,) = re.findall(r'<span class="badge[^"]*"[^>]*>([^<]*)</span>', html)
    return text


def test_case_status_words() -> None:
    words = wording.case_status_words
    assert words(status="released", display="Report ready", contest_pending=True) == (
        "Your contest is being reviewed"
    )
    assert words(
        status="needs_review", display="Waiting for an adjuster", contest_pending=True
    ) == ("Your contest is being reviewed")
    assert words(status="released", display="Report ready", contest_pending=False) == (
        "Report ready"
    )
    for status, display in (
        ("processing", "Processing photos"),
        ("reviewed", "Reviewed by an adjuster"),
        ("needs_photos", "Needs more photos"),
    ):
        assert words(status=status, display=display, contest_pending=True) == display


def test_a_contest_with_a_photo_reads_as_being_reviewed_until_the_review_is_finished(
    customer, adjuster, admin_user, active_model, vehicle_jpeg
) -> None:
    """The photo sent with a contest is processed like any other; processing leaves the
    case waiting for review while the contest's review round is open (it used to set it
    back to "released", all its findings being confident): the customer reads that their
    contest is being reviewed, on the case page and in their list of claims, until the
    adjuster has answered and finished."""
    # Every finding of the keen model confident enough to release the case unreviewed.
    inference_services.model_version_set_threshold(
        version=active_model, user=admin_user, threshold=0.0
    )
    case = claim_processed(customer, vehicle_jpeg)
    assert case.status == Case.Status.RELEASED
    client = _client(customer)
    assert _badge(_page(client, case)[0]) == "Report ready"
    finding = case.findings.order_by("pk").first()
    response = client.post(
        f"/cases/{case.public_id}/contests/",
        {
            "finding": str(finding.pk),
            "reason": "This panel was dented before.",
            "photo": ContentFile(vehicle_jpeg, name="closer.jpg"),
        },
    )
    assert response.status_code == 302
    from inference import tasks
    from inference.models import InferenceRun

    for run in InferenceRun.objects.filter(photo__case=case, finished_at__isnull=True):
        tasks.photo_process_task(run.pk)
    tasks.case_finalise_task(case.pk)
    case.refresh_from_db()
    assert case.status == Case.Status.NEEDS_REVIEW  # not "released": the round is open
    assert case.review_rounds.get().finished_at is None

    html, page = _page(client, case)
    assert _badge(html) == "Your contest is being reviewed"
    assert 'data-contest="pending"' in html
    assert "Report ready" not in page.text
    assert "An adjuster is checking what you contested and will answer you here" in page.text
    assert _list_badge(client) == "Your contest is being reviewed"
    report = customer_report.case_customer_report(case=case)
    assert (report.contest_pending, report.status_words) == (
        True,
        "Your contest is being reviewed",
    )
    # The adjuster sees the case's own status.
    assert _badge(_page(_client(adjuster), case)[0]) == "Waiting for an adjuster"

    (contest,) = case.contests.all()
    services.lease_claim(case=case, user=adjuster)
    services.contest_answer(contest=contest, user=adjuster, answer="It is new: fresh paint.")
    assert _badge(_page(client, case)[0]) == "Your contest is being reviewed"  # not finished
    for f in case.findings.all():
        services.finding_decide(finding=f, user=adjuster, action="accept")
    services.case_finish_review(case=case, user=adjuster)
    case.refresh_from_db()
    html, page = _page(client, case)
    assert _badge(html) == "Reviewed by an adjuster"
    assert 'data-contest="pending"' not in html
    assert _list_badge(client) == "Reviewed by an adjuster"
    assert "It is new: fresh paint." in page.text


def test_after_review_the_page_and_pdf_say_why_severities_can_be_higher(customer, adjuster) -> None:
    case = build_case(customer)
    before = customer_report.case_customer_report(case=case)
    assert before.severity_means == wording.SEVERITY_MEANS
    _review(case, adjuster)
    case.refresh_from_db()
    after = customer_report.case_customer_report(case=case)
    assert wording.SEVERITY_AFTER_REVIEW in after.severity_means
    _html, page = _page(_client(customer), case)
    assert wording.SEVERITY_AFTER_REVIEW in " ".join(page.text.split())
    pdf = _client(customer).get(f"/cases/{case.public_id}/report.pdf").content
    assert "counts as certain" in " ".join(pdf_pages_text(pdf))


NAMES = {
    "first": "Иван",  # Cyrillic
    "last": "Петров 山田太郎",  # and Japanese
    "place": "תל אביב, רחוב הרצל 5 · 서울 강남구 · 北京市 😀🚗",  # Hebrew, Korean, Chinese, emoji
}


def test_pdf_writes_names_and_places_in_any_script_and_the_contest_with_its_answer(
    customer, adjuster, tmp_path
) -> None:
    """Cyrillic, CJK, Hebrew (right to left) and emoji come out as letters, not boxes, in
    embedded fonts; the reviewed PDF carries the customer's contest and the adjuster's
    answer. PDF_PNG=1 leaves the rendered first page in the test's tmp folder."""
    from portal.reports import FALLBACK_FONTS, _glyphs

    customer.first_name, customer.last_name = NAMES["first"], NAMES["last"]
    customer.save()
    case = build_case(customer)
    Case.objects.filter(pk=case.pk).update(loss_place=NAMES["place"])
    services.lease_claim(case=case, user=adjuster)
    for f in Finding.objects.filter(case=case):
        services.finding_decide(finding=f, user=adjuster, action="accept")
    for p in case.photos.filter(status=Photo.Status.SET_ASIDE):
        services.photo_confirm_set_aside(photo=p, user=adjuster)
    services.case_finish_review(case=case, user=adjuster)
    bumper = Finding.objects.get(case=case, part="bumper")
    contest = services.contest_create(
        case=case, user=customer, reason="Царапина была до аварии", finding=bumper
    )
    services.contest_answer(contest=contest, user=adjuster, answer="Понятно; мы её убрали 👍")
    services.contest_create(case=case, user=customer, reason="The mirror is broken too")
    services.lease_release(case=case, user=adjuster)

    data = _pdf(_client(customer), case.__class__.objects.get(pk=case.pk))
    text = " ".join(pdf_pages_text(data))
    # Every character comes out of an embedded font that has it.
    glyphs = _glyphs()
    for ch in "".join(NAMES.values()) + "Царапина👍":
        assert ch.isspace() or any(ord(ch) in glyphs[f] for f in FALLBACK_FONTS), ch
    for font in (b"DejaVuSans", b"DroidSansFallback", b"Symbola"):  # embedded subsets
        assert re.search(rb"/BaseFont /[A-Z]{6}\+" + font + rb"\b", data), font
    assert "Filed by Иван Петров 山田太郎" in text
    assert "서울 강남구" in text
    assert "北京市" in text
    # Hebrew is laid out right to left, within the left-to-right sentence: the words in
    # display order, the last one first (pdfium reads each word's letters back in order).
    assert "at 5 הרצל רחוב ,אביב תל · 서울 강남구 · 北京市" in text
    # The contest beside its row, with the answer; the one about missed damage below.
    assert "You contested this row: “Царапина была до аварии”" in text
    assert "Adjuster's answer: Понятно; мы её убрали" in text
    assert "You wrote that damage was missed: “The mirror is broken too”" in text
    assert "An adjuster will check it again and answer you on your claim page." in text
    doc = pdfium.PdfDocument(data)
    try:
        image = doc[0].render(scale=2).to_pil()
    finally:
        doc.close()
    if __import__("os").environ.get("PDF_PNG"):
        image.save(tmp_path / "report-page-1.png")
        print("rendered:", tmp_path / "report-page-1.png")
