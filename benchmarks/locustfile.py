"""Locust: request latency of the claim form submit (5 photos) and of the case page.

One simulated customer files `CLAIMS_BENCH_REQUESTS` claims through the HTML form, then
opens the last case page as many times, one request after another, and stops. Against a
server started with `bin/run` (or daphne alone):

    .venv/bin/locust -f benchmarks/locustfile.py --headless -u 1 -r 1 \
        --host http://127.0.0.1:8000 --only-summary

`CLAIMS_BENCH_CASE_PATH=/cases/<uuid>/` measures only that (processed) case page. Locust
prints the median and the 95th percentile of each request name ("submit claim,
5 photos" and "case page"); the CSRF and login requests are listed apart.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from locust import HttpUser, task
from locust.exception import StopUser

PHOTO = (Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "bus.jpg").read_bytes()
REQUESTS = int(os.environ.get("CLAIMS_BENCH_REQUESTS", "50"))
PHOTOS = int(os.environ.get("CLAIMS_BENCH_PHOTOS", "5"))
USER = os.environ.get("CLAIMS_BENCH_USER", "customer")
PASSWORD = os.environ.get("CLAIMS_BENCH_PASSWORD", "customer-demo-pass")
# Measure this case page (e.g. a processed case, /cases/<uuid>/) instead of filing claims.
CASE_PATH = os.environ.get("CLAIMS_BENCH_CASE_PATH", "")


class Customer(HttpUser):
    wait_time = staticmethod(lambda: 0)  # type: ignore[assignment]

    def _csrf(self, path: str) -> str:
        html = self.client.get(path, name=f"{path} (form)").text
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        if match is None:
            raise RuntimeError(f"no CSRF token on {path}; is the server up and the user right?")
        return match.group(1)

    def on_start(self) -> None:
        token = self._csrf("/accounts/login/")
        response = self.client.post(
            "/accounts/login/",
            data={"username": USER, "password": PASSWORD, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{self.host}/accounts/login/"},
            name="log in",
            allow_redirects=False,
        )
        if response.status_code != 302:
            raise RuntimeError(f"could not log in as {USER!r}: run bin/run first (demo users)")

    @task
    def benchmark(self) -> None:
        case_path = CASE_PATH
        for _ in range(0 if CASE_PATH else REQUESTS):
            token = self._csrf("/cases/new/")
            files = [("photos", (f"p{i}.jpg", PHOTO, "image/jpeg")) for i in range(PHOTOS)]
            with self.client.post(
                "/cases/new/",
                data={
                    "csrfmiddlewaretoken": token,
                    "policy_number": "BENCH-1",
                    "loss_date": "2026-11-01",
                    "loss_place": "Bench street",
                    "description": "Benchmark claim",
                },
                files=files,
                headers={"Referer": f"{self.host}/cases/new/"},
                name=f"submit claim, {PHOTOS} photos",
                allow_redirects=False,
                catch_response=True,
            ) as response:
                if response.status_code != 302:
                    response.failure(f"expected a redirect, got {response.status_code}")
                    continue
                case_path = response.headers["Location"]
        for _ in range(REQUESTS):
            self.client.get(case_path, name="case page")
        self.environment.runner.quit()  # type: ignore[union-attr]
        raise StopUser()
