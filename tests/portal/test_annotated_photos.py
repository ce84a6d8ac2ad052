"""Annotated photos people can read: the worker draws them at the photo's own resolution
(up to 1600 px), and every report row says where its damages are on which photo, under the
numbers the annotated photo shows, so that the case page can highlight them."""

from __future__ import annotations

import html
import io
import json
import re
from typing import Any

import numpy as np
import pytest
from django.test import Client
from PIL import Image

from claims.models import Photo
from inference.models import Finding
from inference.services.rendering import output_size
from portal import customer_report, report_items
from tests.conftest import claim_processed
from tests.portal.test_customer_report import _review, build_case


def _regions(case: Any) -> dict[str, list[dict[str, Any]]]:
    report = customer_report.case_customer_report(case=case)
    return {row.sentence: row.regions for row in report.rows}


def test_rows_name_their_photo_finding_number_and_box_before_review(customer) -> None:
    case = build_case(customer)
    # seed boxes in a 320 x 240 grid: finding i at x = 5 i .. 5 i + 5, y = 2 .. 82.
    assert _regions(case) == {
        "Bonnet: broken or missing part, medium": [
            {"photo": 1, "number": 3, "box": [0.0312, 0.0083, 0.0469, 0.3417]}
        ],
        "Bumper: scratch or paint damage, light, about 0.4 m²": [
            {"photo": 1, "number": 2, "box": [0.0156, 0.0083, 0.0312, 0.3417]}
        ],
        "Door: dent or deformation, light, about 150 cm²": [
            {"photo": 1, "number": 1, "box": [0.0, 0.0083, 0.0156, 0.3417]}
        ],
    }
    for finding in Finding.objects.filter(case=case):
        x0, y0, x1, y1 = finding.box
        assert finding.mask_size == [320, 240]
        assert (x0, y0, x1, y1) == (5 * finding.index, 2, 5 * finding.index + 5, 82)


def test_rows_after_review_use_the_adjusters_boxes(customer, adjuster) -> None:
    case = build_case(customer)
    _review(case, adjuster)
    case.refresh_from_db()
    regions = _regions(case)
    # Added on the boot at 300..400 x 200..260 of the 640 x 480 photo: numbered after the
    # photo's two kept model findings (the rejected third leaves no gap).
    assert regions["Boot lid: scratch or paint damage, light"] == [
        {"photo": 1, "number": 3, "box": [0.4688, 0.4167, 0.625, 0.5417]}
    ]
    # The door dent redrawn at 0..200 x 0..120: first on the photo, as the model's was.
    (door,) = [v for k, v in regions.items() if k.startswith("Door")]
    assert door == [{"photo": 1, "number": 1, "box": [0.0, 0.0, 0.3125, 0.25]}]
    assert not any(k.startswith("Bonnet") for k in regions)  # rejected


def test_case_page_rows_carry_regions_and_take_keyboard_focus(customer) -> None:
    case = build_case(customer)
    client = Client()
    client.force_login(customer)
    page = client.get(f"/cases/{case.public_id}/").content.decode()
    rows = re.findall(r'<tr data-part="[^"]*"[^>]*>', page)
    assert len(rows) == 3
    for row in rows:
        assert 'tabindex="0"' in row
        assert 'data-photos="1"' in row
        regions = json.loads(html.unescape(re.search(r'data-regions="([^"]*)"', row)[1]))
        assert [r["photo"] for r in regions] == [1]
    photo = case.photos.get(position=0)
    assert (
        f'data-photo="1" data-photo-width="{photo.width}" data-photo-height="{photo.height}"'
        in page
    )
    assert "js/report-highlight.js" in page


@pytest.mark.django_db(transaction=True)
def test_the_worker_draws_the_annotated_photo_at_the_photos_own_size(
    customer, active_model, vehicle_jpeg
) -> None:
    # The fixture bus (360 x 480) enlarged to 1800 x 2400: drawn at 1200 x 1600.
    with Image.open(io.BytesIO(vehicle_jpeg)) as small:
        buffer = io.BytesIO()
        small.convert("RGB").resize((1800, 2400)).save(buffer, "JPEG", quality=90)
    case = claim_processed(customer, buffer.getvalue())
    photo = case.photos.get()
    assert photo.status == Photo.Status.DONE
    assert Finding.objects.filter(photo=photo).exists()
    with photo.annotated.open("rb") as fh, Image.open(fh) as annotated:
        assert annotated.format == "JPEG"
        width, height = annotated.size
    assert output_size((photo.width, photo.height)) == (1200, 1600)
    assert width == 1200
    assert 1600 < height < 1600 + 400  # the legend strip under the photo
    assert photo.annotated.size < 1_200_000
    # Every row of the page points at this photo's findings by their numbers.
    numbers = sorted(
        r["number"]
        for row in customer_report.case_customer_report(case=case).rows
        for r in row.regions
    )
    assert numbers == list(range(1, Finding.objects.filter(photo=photo).count() + 1))


def test_after_review_the_photo_shows_the_reviewed_report_not_the_models_findings(
    customer, adjuster
) -> None:
    """A rejected finding leaves the photo (and no gap in the numbers), a redrawn one is
    drawn where the adjuster drew it, an added one is drawn under the number its row names;
    drawn once, then reused."""
    case = build_case(customer)
    photo = case.photos.get(position=0)
    model_bytes = photo.annotated.read()
    _review(case, adjuster)
    photo.refresh_from_db()
    round_number = report_items.photo_review_round(photo=photo)
    assert round_number == 1
    regions = report_items.photo_reviewed_regions(photo=photo, round_number=round_number)
    # door (1, redrawn), bumper (2, accepted), boot (3, added): the rejected bonnet (the
    # model's 3) leaves no gap in the numbers
    assert [(r.number, r.damage) for r in regions] == [
        (1, "deformity"),
        (2, "surface_damage"),
        (3, "surface_damage"),
    ]
    assert regions[0].grid == (640, 480)
    assert regions[0].box == (0, 0, 200, 120)
    rows = customer_report.case_customer_report(case=case).rows
    assert sorted(r["number"] for row in rows for r in row.regions) == [1, 2, 3]

    client = Client()
    client.force_login(customer)
    url = f"/cases/{case.public_id}/photos/{photo.pk}/annotated.jpg"
    served = b"".join(client.get(url).streaming_content)
    assert served != model_bytes
    with Image.open(io.BytesIO(served)) as drawn:
        assert drawn.width == 640
        assert drawn.height > 480
        pixels = np.asarray(drawn.convert("RGB"), dtype=np.int16)
    # The added boot scratch (300..400 x 200..260) is outlined: its edge differs from the
    # plain seeded photo.
    with Image.open(io.BytesIO(model_bytes)) as before:
        plain = np.asarray(before.convert("RGB"), dtype=np.int16)
    assert np.abs(pixels[200:260, 296:304] - plain[200:260, 296:304]).max() > 60
    photo.refresh_from_db()
    assert photo.annotated_round == 1
    assert photo.annotated_reviewed
    stored = photo.annotated_reviewed.name
    assert b"".join(client.get(url).streaming_content) == served  # drawn once
    photo.refresh_from_db()
    assert photo.annotated_reviewed.name == stored
    # The page asks for it under a new address after the review (no stale browser cache).
    page = client.get(f"/cases/{case.public_id}/").content.decode()
    assert f"photos/{photo.pk}/annotated.jpg?v=" in page
