"""Customer pages rendered by the test client: the claim form, the case page, the report."""

from __future__ import annotations

import datetime as dt
import io
import re

import pypdfium2 as pdfium
import pytest
from django.test import Client
from PIL import Image

from claims import wording
from claims.models import Case, Photo
from claims.services import Upload, case_submit
from claims.templatetags.claims_tags import percent
from inference import services
from inference.models import Finding, InferenceRun
from portal import customer_report
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def _grey_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (128, 128, 128)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def processed_case(customer, active_model, vehicle_jpeg) -> Case:  # type: ignore[no-untyped-def]
    case = case_submit(
        customer=customer,
        policy_number="V-1",
        loss_date=dt.date(2026, 11, 1),
        loss_place="Dock",
        description="Crushed corner",
        uploads=[
            Upload(name="front.jpg", stream=io.BytesIO(vehicle_jpeg)),
            Upload(name="again.jpg", stream=io.BytesIO(vehicle_jpeg)),
            Upload(name="wall.jpg", stream=io.BytesIO(_grey_jpeg())),
        ],
    )
    for run in InferenceRun.objects.filter(photo__case=case):
        assert services.run_claim(run_id=run.pk)
        services.run_execute(run_id=run.pk)
    return services.case_finalise(case_id=case.pk)


@pytest.fixture
def client_for(customer):  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(customer)
    return client


@pytest.mark.parametrize(
    ("value", "shown"), [(None, "-"), (0.0, "0%"), (0.004, "<1%"), (0.437, "44%"), (1.0, "100%")]
)
def test_percent_filter(value: float | None, shown: str) -> None:
    assert percent(value) == shown


def test_case_page_shows_report_dsi_and_set_aside(processed_case, client_for) -> None:  # type: ignore[no-untyped-def]
    html = client_for.get(f"/cases/{processed_case.public_id}/").content.decode()
    assert f'<span id="case-dsi">{int(processed_case.dsi + 0.5)}</span>' in html
    front, again, wall = processed_case.photos.order_by("position")
    assert f"photo 1: {int(front.dsi + 0.5)}" in html
    assert f"photo 2: {int(again.dsi + 0.5)}" in html
    assert "photo 3: set aside" in html
    assert wall.status == Photo.Status.SET_ASIDE
    reason = wording.set_aside_words(wall.set_aside_reason)
    assert "probability" not in reason  # the model's number stays with the adjusters
    assert f"Set aside: {reason}. Please add another photo." in html
    assert 'name="photo"' in html  # the form to add another photo
    assert "gps" not in html.lower()


def test_report_pdf_names_the_case(processed_case, client_for) -> None:  # type: ignore[no-untyped-def]
    response = client_for.get(f"/cases/{processed_case.public_id}/report.pdf")
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="claim-{processed_case.reference}.pdf"'
    )
    assert response.content.startswith(b"%PDF")


def test_report_waits_for_processing(customer, active_model, vehicle_jpeg, client_for) -> None:  # type: ignore[no-untyped-def]
    case = case_submit(
        customer=customer,
        policy_number="V-2",
        loss_date=dt.date(2026, 11, 1),
        loss_place="Dock",
        description="x",
        uploads=[Upload(name="a.jpg", stream=io.BytesIO(vehicle_jpeg))],
    )
    response = client_for.get(f"/cases/{case.public_id}/report.pdf", follow=True)
    assert "The report is ready once every photo is processed." in response.content.decode()


def test_form_error_names_file_and_keeps_answers(customer, active_model, client_for) -> None:  # type: ignore[no-untyped-def]
    upload = io.BytesIO(b"%PDF-1.4 not a photo")
    upload.name = "scan.jpg"
    response = client_for.post(
        "/cases/new/",
        {
            "policy_number": "KEEP-9",
            "loss_date": "2026-11-01",
            "loss_place": "Harbour",
            "description": "Keep me",
            "photos": [upload],
        },
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "scan.jpg: this is not an image we can read" in html
    assert 'value="KEEP-9"' in html
    assert "Keep me</textarea>" in html
    assert Case.objects.count() == 0


def test_form_without_photos_says_what_to_do(customer, active_model, client_for) -> None:  # type: ignore[no-untyped-def]
    response = client_for.post(
        "/cases/new/",
        {"policy_number": "P", "loss_date": "2026-11-01", "loss_place": "x", "description": "y"},
    )
    assert response.status_code == 400
    assert "Add at least one photo: a few full views of the car" in response.content.decode()


def test_staff_get_a_clear_403(adjuster) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(adjuster)
    response = client.get("/cases/new/")
    assert response.status_code == 403
    assert "log in with a customer account to file one" in response.content.decode()


def _pdf_text(pdf: bytes) -> str:
    """The text of a PDF as a reader gets it (pdfium), lines joined by spaces: the report's
    fonts are embedded TrueType subsets, whose page streams hold glyph numbers, not text."""
    doc = pdfium.PdfDocument(pdf)
    try:
        text = " ".join(page.get_textpage().get_text_range() for page in doc)
    finally:
        doc.close()
    return re.sub(r"\s+", " ", text)


def test_case_page_and_report_say_which_findings_are_boxes(customer, client_for) -> None:  # type: ignore[no-untyped-def]
    detector = factories.model_version_create(damage_backend="detection")
    case = factories.case_create(
        customer=customer,
        version=detector,
        findings=[("deformity", "hood", 0.9), ("surface_damage", "bumper", 0.8)],
        shape="box",
        status=Case.Status.RELEASED,
    )
    assert [r.shape for r in customer_report.case_customer_report(case=case).rows] == [
        "box",
        "box",
    ]
    Finding.objects.filter(case=case, part="hood").update(area_cm2=4300.0)
    html = client_for.get(f"/cases/{case.public_id}/").content.decode()
    row = re.search(r'<tr data-part="bonnet" data-shape="box"[^>]*>(.*?)</tr>', html, re.S)
    assert row is not None
    assert (
        '<span class="row-sentence">Bonnet: dent or deformation, medium, up to about 0.4 m²</span>'
        in row.group(1)
    )
    assert 'id="box-note"' in html
    text = _pdf_text(client_for.get(f"/cases/{case.public_id}/report.pdf").content)
    assert "Bonnet: dent or deformation, medium, up to about 0.4" in text
    assert 'Sizes marked "up to" were measured on a box drawn around the damage' in text

    # A segmentation version's case says nothing of boxes.
    masks = factories.case_create(
        customer=customer,
        version=factories.model_version_create(version="2"),
        findings=[("deformity", "hood", 0.9)],
        status=Case.Status.RELEASED,
    )
    html = client_for.get(f"/cases/{masks.public_id}/").content.decode()
    assert "up to about" not in html
    assert 'id="box-note"' not in html
    assert "Sizes marked" not in _pdf_text(
        client_for.get(f"/cases/{masks.public_id}/report.pdf").content
    )
