"""Synthetic processed cases for tests, demos and the queue benchmark.

Writes rows the way the pipeline would leave them (cases with photos, runs and findings
from a model version), without running a model: it is for load and UI work only.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from typing import Any

import numpy as np
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from claims.models import Case, Photo
from inference.models import Finding, InferenceRun, ModelVersion
from review import rle as rle_codec

DAMAGES = ("surface_damage", "deformity", "body_damage")
PARTS = ("bumper", "door_shell", "hood", "lamps", "trunk", "wheel")
TYPE_WEIGHT = {"surface_damage": 55.0, "deformity": 70.0, "body_damage": 100.0}


def model_version_create(
    *,
    name: str = "seed",
    version: str = "1",
    threshold: float = 0.6,
    status: str = ModelVersion.Status.CANDIDATE,
    target_precision: float = 0.9,
    calibrated: bool = False,
    threshold_promise: dict[str, Any] | None = None,
    damage_backend: str = ModelVersion.DamageBackend.SEGMENTATION,
) -> ModelVersion:
    return ModelVersion.objects.create(
        damage_backend=damage_backend,
        name=name,
        version=version,
        weights_sha256="0" * 64,
        part_taxonomy="parts_reduced_dsmlr",
        damage_taxonomy="damage_categorical",
        threshold=threshold,
        status=status,
        target_precision=target_precision,
        calibrated=calibrated,
        threshold_promise=threshold_promise or {},
        manifest_path="",
        metrics={
            "miou": 0.41,
            "per_class_iou": {"surface_damage": 0.32, "deformity": 0.45, "body_damage": 0.47},
            "confusion_matrix": {
                "labels": ["no_damage", "surface_damage", "deformity", "body_damage"],
                "matrix": [[90, 5, 3, 2], [10, 60, 20, 10], [5, 15, 70, 10], [4, 6, 10, 80]],
            },
        },
    )


def jpeg_bytes(width: int, height: int, colour: tuple[int, int, int] = (90, 90, 100)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def case_create(
    *,
    customer: Any,
    version: ModelVersion,
    findings: list[tuple[str, str, float]],
    photo_size: tuple[int, int] = (64, 48),
    grid: tuple[int, int] = (32, 24),
    set_aside: int = 0,
    age: dt.timedelta = dt.timedelta(0),
    status: str = Case.Status.NEEDS_REVIEW,
    image: bytes | None = None,
    shape: str = Finding.Shape.MASK,
) -> Case:
    """A processed case with one photo holding `findings` as (damage, part, C_refined),
    plus `set_aside` set-aside photos. Masks are rectangles in the processed grid, so
    `shape="box"` makes them the boxes of a detection version's findings. Each
    finding is seen in every photo that could see it (K_agree = 1), so its calibrated
    confidence equals its C_refined; C_base is set to the same value."""
    case = Case.objects.create(
        customer=customer,
        policy_number="P-1",
        loss_date=dt.date(2026, 1, 2),
        loss_place="Lyon",
        description="seed",
        status=status,
        model_version=version,
        finished_at=timezone.now(),
    )
    if age:
        Case.objects.filter(pk=case.pk).update(created_at=timezone.now() - age)
        case.refresh_from_db()
    data = image or jpeg_bytes(*photo_size)
    photos = []
    for position in range(1 + set_aside):
        photo = Photo(
            case=case,
            position=position,
            original_name=f"photo{position}.jpg",
            extension="jpg",
            content_type="image/jpeg",
            size_bytes=len(data),
            sha256="0" * 64,
            width=photo_size[0],
            height=photo_size[1],
            status=Photo.Status.DONE if position == 0 else Photo.Status.SET_ASIDE,
            set_aside_reason="" if position == 0 else "no vehicle in the photo",
        )
        photo.original.save(f"p{position}.jpg", ContentFile(data), save=False)
        photo.display.save(f"d{position}.jpg", ContentFile(data), save=False)
        photo.save()
        photos.append(photo)
    run = InferenceRun.objects.create(
        photo=photos[0], model_version=version, status=InferenceRun.Status.DONE
    )
    gw, gh = grid
    rows = []
    for index, (damage, part, c_refined) in enumerate(findings):
        if shape == Finding.Shape.BOX:
            # Boxes as a detector draws them: a quarter of the width, half the height.
            bw = max(5, gw // 4)
            x0 = min(2 + index * (bw + 2), gw - bw)
            y0, y1, x1 = gh // 4, gh // 4 + gh // 2, x0 + bw
        else:
            x0 = (index * 5) % max(1, gw - 6)
            y0, y1, x1 = 2, 2 + gh // 3, x0 + 5
        mask = np.zeros((gh, gw), dtype=bool)
        mask[y0:y1, x0:x1] = True
        rows.append(
            Finding(
                case=case,
                photo=photos[0],
                run=run,
                model_version=version,
                index=index,
                part=part,
                damage=damage,
                mask_rle=rle_codec.encode(mask).as_coco(),
                mask_size=[gw, gh],
                box=[x0, y0, min(x1, gw), y1],
                shape=shape,
                area_px=int(mask.sum()),
                share_of_part=0.25,
                size_class="small",
                c_base=c_refined,
                confidence=c_refined,
                k_agree=1.0,
                c_refined=c_refined,
                needs_review=c_refined < version.threshold,
                dsi_area=100.0 * mask.sum() / mask.size,
                dsi_confidence=100.0 * c_refined,
                dsi_type_weight=TYPE_WEIGHT.get(damage, 50.0),
                dsi_score=0.4 * 100.0 * mask.sum() / mask.size
                + 0.2 * 100.0 * c_refined
                + 0.4 * TYPE_WEIGHT.get(damage, 50.0),
            )
        )
    Finding.objects.bulk_create(rows)
    return case


def bulk_seed(
    *, customer: Any, version: ModelVersion, findings: int, per_case: int = 4, seed: int = 0
) -> int:
    """Many cases at once for the benchmark (one photo file shared by every case)."""
    rng = random.Random(seed)
    data = jpeg_bytes(64, 48)
    made = 0
    while made < findings:
        n = min(per_case, findings - made)
        case_create(
            customer=customer,
            version=version,
            findings=[
                (rng.choice(DAMAGES), rng.choice(PARTS), round(rng.random(), 4)) for _ in range(n)
            ],
            age=dt.timedelta(hours=rng.randint(0, 24 * 20)),
            image=data,
        )
        made += n
    return made
