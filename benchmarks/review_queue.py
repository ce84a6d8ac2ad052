"""Queue page latency with 10,000 findings in the database.

    .venv/bin/python benchmarks/review_queue.py [--findings 10000] [--requests 50]

Creates a throw-away database (a temporary SQLite file, or the PostgreSQL database of
DATABASE_URL with a `bench_` prefix through Django's test runner machinery), seeds cases of
four findings each (random damage, part, C_refined and age; threshold 0.6 so about 60% of
the findings wait for review), then requests the first queue page, unfiltered and
filtered, as an adjuster through Django's test client and prints median and p95.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
if not os.environ.get("DATABASE_URL"):
    os.environ["DATABASE_URL"] = (
        f"sqlite:///{tempfile.mkdtemp(prefix='review-bench-')}/bench.sqlite3"
    )


def seed(findings: int, per_case: int = 4) -> None:
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from claims.models import Case, Photo
    from common.access import ADJUSTERS_GROUP
    from inference.models import Finding, InferenceRun
    from review import rle as rle_codec
    from tests import factories

    rng = random.Random(0)
    customer = User.objects.create_user("bench-customer", password="x")
    adjuster = User.objects.create_user("bench-adjuster", password="x")
    adjuster.groups.add(Group.objects.get_or_create(name=ADJUSTERS_GROUP)[0])
    version = factories.model_version_create(threshold=0.6)
    n_cases = (findings + per_case - 1) // per_case
    now = timezone.now()
    cases = Case.objects.bulk_create(
        Case(
            customer=customer,
            policy_number="P",
            loss_date=dt.date(2026, 1, 1),
            loss_place="x",
            description="bench",
            status=Case.Status.NEEDS_REVIEW,
            model_version=version,
            finished_at=now,
        )
        for _ in range(n_cases)
    )
    for case in cases:  # spread the ages over 20 days (auto_now_add ignores bulk values)
        case.created_at = now - dt.timedelta(hours=rng.randint(0, 480))
    Case.objects.bulk_update(cases, ["created_at"], batch_size=1000)
    photos = Photo.objects.bulk_create(
        Photo(
            case=c,
            position=0,
            original="bench/p.jpg",
            original_name="p.jpg",
            extension="jpg",
            content_type="image/jpeg",
            size_bytes=1,
            sha256="0" * 64,
            width=640,
            height=480,
            status=Photo.Status.DONE,
        )
        for c in cases
    )
    runs = InferenceRun.objects.bulk_create(
        InferenceRun(photo=p, model_version=version, status=InferenceRun.Status.DONE)
        for p in photos
    )
    import numpy as np

    mask = np.zeros((240, 320), dtype=bool)
    mask[10:60, 10:80] = True
    rle = rle_codec.encode(mask).as_coco()
    rows = []
    for i in range(findings):
        c = i // per_case
        conf = round(rng.random(), 4)
        rows.append(
            Finding(
                case=cases[c],
                photo=photos[c],
                run=runs[c],
                model_version=version,
                index=i % per_case,
                part=rng.choice(factories.PARTS),
                damage=rng.choice(factories.DAMAGES),
                mask_rle=rle,
                mask_size=[320, 240],
                box=[10, 10, 80, 60],
                area_px=3500,
                share_of_part=0.2,
                size_class="small",
                c_base=conf,
                confidence=conf,
                k_agree=1.0,
                c_refined=conf,
                needs_review=conf < 0.6,
                dsi_area=4.5,
                dsi_confidence=conf * 100,
                dsi_type_weight=55.0,
                dsi_score=40.0,
            )
        )
    Finding.objects.bulk_create(rows, batch_size=2000)


def measure(requests: int) -> None:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(User.objects.get(username="bench-adjuster"))
    for label, params in (
        ("queue page", {}),
        ("queue page, damage=deformity", {"damage": "deformity"}),
        ("queue page 20", {"page": "20"}),
        ("htmx fragment, part=hood", {"part": "hood"}),
    ):
        headers: dict[str, Any] = {"HTTP_HX_REQUEST": "true"} if label.startswith("htmx") else {}
        client.get("/review/", params, **headers)  # warm up
        times = []
        for _ in range(requests):
            start = time.perf_counter()
            response = client.get("/review/", params, **headers)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
        with CaptureQueriesContext(connection) as queries:
            client.get("/review/", params, **headers)
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            client.get("/review/", params, **headers)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(18)
        if os.environ.get("BENCH_QUERIES"):
            for q in sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:3]:
                print(f"    {q['time']} s  {q['sql'][:160]}")
        times.sort()
        p95 = times[max(0, round(0.95 * len(times)) - 1)]
        print(
            f"{label:32s} median {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms   "
            f"{len(queries)} queries"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()

    import django
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases

    django.setup()
    setup_test_environment()
    old = setup_databases(verbosity=0, interactive=False)
    try:
        from django.db import connection

        start = time.perf_counter()
        seed(args.findings)
        from claims.models import Case
        from inference.models import Finding

        print(
            f"{connection.vendor}: seeded {Finding.objects.count()} findings in "
            f"{Case.objects.count()} cases in {time.perf_counter() - start:.1f} s; "
            f"{args.requests} requests each"
        )
        measure(args.requests)
    finally:
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main()
