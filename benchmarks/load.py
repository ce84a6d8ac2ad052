"""Pages under load: concurrent users against a live server on a few hundred cases.

    DATABASE_URL=postgres://claims:claims@127.0.0.1:5432/claims \\
        .venv/bin/python benchmarks/load.py [--cases 300] [--users 20] [--seconds 60] \\
        [--server gunicorn|daphne|both] [--workers 3] [--think 0]

Creates a throw-away PostgreSQL database beside DATABASE_URL's (its name + `_load`, dropped
and made again each run), migrates it and seeds `--cases` processed cases spread over ten
customers (one photo and three findings each, one in three waiting for review, one in
five reviewed), ten adjusters and an admin. Then it starts the server as production
does (`--server gunicorn`: Gunicorn with `--workers` Uvicorn workers, the command in
docker/compose.yml; `daphne`: one Daphne process, as before) and runs `--users` threads
for `--seconds`: half customers (their case list, one of their case pages), half
adjusters (the review queue, the case list of every case, a case page), each logged in
with its own session and requesting one page after another with `--think` seconds
between. Prints, per page, the number of requests, p50, p95 and max in milliseconds and
the errors (any status but 200, or a timeout); the client threads run on the same
machine as the server, so they take part of its CPU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "load-bench-pass-1"
CUSTOMERS = 10
ADJUSTERS = 10


def _bench_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise SystemExit(
            "Set DATABASE_URL to a PostgreSQL database (the targets are for PostgreSQL); "
            "the benchmark makes its own database next to it."
        )
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_load"))


def _recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres", scheme="postgresql"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _seed(cases: int) -> dict[str, list[str]]:
    """Migrate and fill the bench database (in this process); the user names and the
    public ids of each customer's cases."""
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connections

    from claims.models import Case
    from common.access import ADJUSTERS_GROUP
    from tests import factories

    call_command("migrate", "--no-input", verbosity=0)
    rng = random.Random(7)
    version = factories.model_version_create(threshold=0.6, status="active")
    group, _ = Group.objects.get_or_create(name=ADJUSTERS_GROUP)
    customers = [
        User.objects.create_user(f"load-customer-{i}", password=PASSWORD) for i in range(CUSTOMERS)
    ]
    adjusters = []
    for i in range(ADJUSTERS):
        user = User.objects.create_user(f"load-adjuster-{i}", password=PASSWORD)
        user.groups.add(group)
        adjusters.append(user)
    User.objects.create_superuser("load-admin", password=PASSWORD)
    image = factories.jpeg_bytes(640, 480)
    damages = ["surface_damage", "deformity", "body_damage"]
    parts = ["hood", "bumper", "door_shell", "trunk"]
    owned: dict[str, list[str]] = defaultdict(list)
    for n in range(cases):
        customer = customers[n % CUSTOMERS]
        waiting = n % 3 == 0
        case = factories.case_create(
            customer=customer,
            version=version,
            findings=[
                (
                    rng.choice(damages),
                    rng.choice(parts),
                    rng.uniform(0.2, 0.59) if waiting and k == 0 else rng.uniform(0.6, 0.99),
                )
                for k in range(3)
            ],
            photo_size=(640, 480),
            image=image,
            age=dt.timedelta(hours=rng.uniform(0, 24 * 30)),
            status=Case.Status.NEEDS_REVIEW if waiting else Case.Status.RELEASED,
        )
        owned[customer.username].append(str(case.public_id))
    reviewed = Case.objects.filter(status=Case.Status.RELEASED).order_by("pk")[: cases // 5]
    Case.objects.filter(pk__in=[c.pk for c in reviewed]).update(status=Case.Status.REVIEWED)
    connections.close_all()
    return {
        "customers": [u.username for u in customers],
        "adjusters": [u.username for u in adjusters],
        **owned,
    }


def _server_command(server: str, port: int, workers: int) -> list[str]:
    if server == "daphne":
        return [
            str(ROOT / ".venv/bin/daphne"),
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ]
    return [
        str(ROOT / ".venv/bin/gunicorn"),
        "config.asgi:application",
        "-c",
        str(ROOT / "config/gunicorn.py"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
    ]


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            if requests.get(f"{base}/accounts/login/", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise SystemExit("the server did not answer within 60 s")


def _login(base: str, username: str) -> requests.Session:
    session = requests.Session()
    html = session.get(f"{base}/accounts/login/", timeout=30).text
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token on the login page"
    response = session.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": match.group(1)},
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=30,
    )
    if "sessionid" not in session.cookies:
        raise SystemExit(f"log-in as {username} failed ({response.status_code})")
    return session


def _run_load(
    base: str, people: dict[str, list[str]], users: int, seconds: float, think: float
) -> dict[str, Any]:
    every_case = [pid for name in people["customers"] for pid in people[name]]
    plans: list[tuple[str, list[tuple[str, str]]]] = []
    for i in range(users):
        if i % 2 == 0:
            name = people["customers"][(i // 2) % CUSTOMERS]
            mine = people[name]
            pages = [("case list", "/cases/"), *[("case page", f"/cases/{p}/") for p in mine[:5]]]
            plans.append((name, pages))
        else:
            name = people["adjusters"][(i // 2) % ADJUSTERS]
            pages = [("review queue", "/review/"), ("case list", "/cases/")]
            pages += [("case page", f"/cases/{p}/") for p in random.Random(i).sample(every_case, 3)]
            plans.append((name, pages))
    sessions = [_login(base, name) for name, _ in plans]
    timings: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    lock = threading.Lock()
    barrier = threading.Barrier(users)
    stop_at = [0.0]

    def user(index: int) -> None:
        session = sessions[index]
        pages = plans[index][1]
        barrier.wait()
        if index == 0:
            stop_at[0] = time.monotonic() + seconds
        while not stop_at[0]:
            time.sleep(0.001)
        k = index  # users start at different pages
        while time.monotonic() < stop_at[0]:
            label, path = pages[k % len(pages)]
            k += 1
            started = time.perf_counter()
            try:
                ok = session.get(f"{base}{path}", timeout=30).status_code == 200
            except requests.RequestException:
                ok = False
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                timings[label].append(elapsed)
                if not ok:
                    errors[label] += 1
            if think:
                time.sleep(think)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"timings": timings, "errors": errors}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _report(server: str, command: list[str], result: dict[str, Any], seconds: float) -> None:
    print(f"\n{server}: {' '.join(Path(c).name if '/' in c else c for c in command)}")
    print(f"{'page':<14}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'errors':>8}")
    total = 0
    for label in ("case page", "case list", "review queue"):
        values = result["timings"].get(label, [])
        if not values:
            continue
        total += len(values)
        print(
            f"{label:<14}{len(values):>9}{statistics.median(values):>9.0f}"
            f"{_percentile(values, 0.95):>9.0f}{max(values):>9.0f}"
            f"{result['errors'].get(label, 0):>8}"
        )
    print(f"throughput {total / seconds:.1f} requests/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--server", choices=["gunicorn", "daphne", "both"], default="gunicorn")
    parser.add_argument("--workers", type=int, default=3, help="Gunicorn worker processes")
    parser.add_argument("--think", type=float, default=0.0, help="seconds between requests")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    bench_url = _bench_url(os.environ.get("DATABASE_URL", ""))
    media = Path(tempfile.mkdtemp(prefix="claims-load-"))
    env = {
        **os.environ,
        "DATABASE_URL": bench_url,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DJANGO_MEDIA_ROOT": str(media),
        "DJANGO_DEBUG": "false",
        "YOLO_OFFLINE": "1",
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    _recreate_database(bench_url)
    started = time.monotonic()
    people = _seed(args.cases)
    print(
        f"seeded {args.cases} cases, {CUSTOMERS} customers, {ADJUSTERS} adjusters in "
        f"{time.monotonic() - started:.0f} s; {args.users} users for {args.seconds:.0f} s, "
        f"think time {args.think} s; machine load {os.getloadavg()[0]:.1f}"
    )
    servers = ["daphne", "gunicorn"] if args.server == "both" else [args.server]
    try:
        for server in servers:
            command = _server_command(server, args.port, args.workers)
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            base = f"http://127.0.0.1:{args.port}"
            try:
                _wait_until_up(base, process)
                result = _run_load(base, people, args.users, args.seconds, args.think)
            finally:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
            _report(server, command, result, args.seconds)
    finally:
        shutil.rmtree(media, ignore_errors=True)


if __name__ == "__main__":
    main()
