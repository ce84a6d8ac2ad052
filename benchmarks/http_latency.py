"""Request latency of the claim form submit (5 photos) and of the case page.

Run against a server started with `bin/run` (or daphne alone):

    .venv/bin/python benchmarks/http_latency.py --base http://127.0.0.1:8000 \
        --user customer --password customer-demo-pass --requests 50

Prints the median and p95 in milliseconds of each, measured serially on one connection.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

import requests

PHOTO = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "bus.jpg"


def _csrf(session: requests.Session, url: str) -> str:
    html = session.get(url).text
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="customer")
    parser.add_argument("--password", default="customer-demo-pass")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--photos", type=int, default=5)
    args = parser.parse_args()

    session = requests.Session()
    token = _csrf(session, f"{args.base}/accounts/login/")
    session.post(
        f"{args.base}/accounts/login/",
        data={"username": args.user, "password": args.password, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{args.base}/accounts/login/"},
    ).raise_for_status()
    photo = PHOTO.read_bytes()

    submit_ms: list[float] = []
    case_url = ""
    for _ in range(args.requests):
        token = _csrf(session, f"{args.base}/cases/new/")
        files = [("photos", (f"p{i}.jpg", photo, "image/jpeg")) for i in range(args.photos)]
        data = {
            "csrfmiddlewaretoken": token,
            "policy_number": "BENCH-1",
            "loss_date": "2026-11-01",
            "loss_place": "Bench street",
            "description": "Benchmark claim",
        }
        start = time.perf_counter()
        response = session.post(
            f"{args.base}/cases/new/",
            data=data,
            files=files,
            allow_redirects=False,
            headers={"Referer": f"{args.base}/cases/new/"},
        )
        submit_ms.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 302, response.text[:500]
        case_url = args.base + response.headers["Location"]

    page_ms: list[float] = []
    for _ in range(args.requests):
        start = time.perf_counter()
        response = session.get(case_url)
        page_ms.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()

    print(
        json.dumps(
            {
                "requests": args.requests,
                "photos_per_claim": args.photos,
                "photo_bytes": len(photo),
                "submit_median_ms": round(statistics.median(submit_ms), 1),
                "submit_p95_ms": round(_p95(submit_ms), 1),
                "case_page_median_ms": round(statistics.median(page_ms), 1),
                "case_page_p95_ms": round(_p95(page_ms), 1),
                "case_page_url": case_url,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
