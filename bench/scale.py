"""What the scale benchmarks share (not a benchmark itself): two PostgreSQL databases filled by the demo data
generator, a small one and a large one, kept between runs, and pages timed over HTTP as a signed-in user.

BENCH_DATABASE_URL names the large database (default compass_bench on the local server, started with
`bash .ci/start-postgres`); the small one is the same name with `_small`. A database that already holds the
demo data asked for (its DEMO_DATA_GENERATED audit event says so) is used as it is; otherwise it is emptied
and filled, which takes some minutes at 200,000 cases. Both are planned with random_page_cost 1.1, the setting
for SSD storage the production database should have (docs/scale.md; BENCH_RANDOM_PAGE_COST=4 for the default).
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from sqlalchemy import create_engine, inspect, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import AuditEvent  # noqa: E402
from app.services import demo_data  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://compass:compass@127.0.0.1:5432/compass_bench"
LARGE = (int(os.environ.get("BENCH_CASES", "200000")), int(os.environ.get("BENCH_OPEN_TASKS", "10000")))
SMALL = (2_000, max(1, LARGE[1] * 2_000 // LARGE[0]))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "40"))
PAGE_COST = float(os.environ.get("BENCH_RANDOM_PAGE_COST", "1.1"))  # PostgreSQL's default, 4, is for spinning disks


def urls() -> tuple[str, str]:
    large = make_url(os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    small = large.set(database=f"{large.database}_small")
    return small.render_as_string(hide_password=False), large.render_as_string(hide_password=False)


def _ensure_database(url: str) -> None:
    """Create the database on its server when it is missing (the role needs CREATEDB, or create it by hand)."""
    target = make_url(url)
    server = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        exists = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database})
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    server.dispose()


def _columns_match() -> bool:
    """Whether every column the models name is in the database: data made before a column was added is made
    again, since create_all adds missing tables but never a missing column."""
    found = inspect(db.engine)
    for table in db.metadata.sorted_tables:
        have = {column["name"] for column in found.get_columns(table.name)}
        if not {column.name for column in table.columns} <= have:
            return False
    return True


def app_with_data(url: str, cases: int, open_tasks: int) -> Flask:
    """The app on `url`, holding `cases` generated cases with `open_tasks` open tasks, analysed."""
    _ensure_database(url)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "COMPASS_DEMO": True,
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    with app.app_context():
        db.create_all()
        for table in db.metadata.sorted_tables:  # an index added to the models since the data was made
            for index in table.indexes:
                index.create(db.engine, checkfirst=True)
        made = db.session.scalar(select(AuditEvent.data).where(AuditEvent.name == "DEMO_DATA_GENERATED"))
        if not made or (made.get("cases"), made.get("open_tasks")) != (cases, open_tasks) or not _columns_match():
            db.session.remove()
            db.drop_all()
            db.create_all()
            print(f"generating {cases} cases with {open_tasks} open tasks in {make_url(url).database} ...", flush=True)
            report = demo_data.generate(cases, open_tasks, seed=2026)
            for line in report.lines()[:2]:
                print(f"  {line}")
        else:
            print(f"using the {cases} cases already in {make_url(url).database}")
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            # Planned as the production server should be set up (docs/scale.md): SSD storage.
            connection.execute(text(f'ALTER DATABASE "{make_url(url).database}" SET random_page_cost = {PAGE_COST}'))
            connection.execute(text("ANALYZE"))
        db.session.remove()
    return app


def signed_in(app: Flask, username: str) -> object:
    web = create_app(dict(app.config))
    client = web.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = client.post("/login", data={"username": username, "password": "compass-demo", "csrf_token": token})
    assert response.status_code == 302, f"{username} could not sign in"
    return client


def timed(client: object, paths: Iterable[str], rounds: int = ROUNDS) -> dict[str, list[float]]:
    """Milliseconds per GET of each path, `rounds` times each after two unmeasured warm-ups."""
    found: dict[str, list[float]] = {}
    for path in paths:
        for _ in range(2):
            response = client.get(path)  # type: ignore[attr-defined]
            assert response.status_code == 200, (path, response.status_code)
        times = []
        for _ in range(rounds):
            began = time.perf_counter()
            response = client.get(path)  # type: ignore[attr-defined]
            times.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        found[path] = times
    return found


def p50(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def compare(name: str, small: dict[str, list[float]], large: dict[str, list[float]], target: float) -> None:
    """Print p50/p95 of each path at both sizes, then the ratio of the p95 of all requests: large over small."""
    print(f"{'page':48} {'small p50':>10} {'p95':>8} {'large p50':>10} {'p95':>8}  (ms)")
    for path in small:
        s, b = small[path], large[path]
        print(f"{path:48} {p50(s):10.1f} {p95(s):8.1f} {p50(b):10.1f} {p95(b):8.1f}")
    all_small = [v for values in small.values() for v in values]
    all_large = [v for values in large.values() for v in values]
    print(f"all pages: p95 small {p95(all_small):.1f} ms ({SMALL[0]} cases, {SMALL[1]} open tasks), "
          f"p95 large {p95(all_large):.1f} ms ({LARGE[0]} cases, {LARGE[1]} open tasks)")  # fmt: skip
    print(f"planned with random_page_cost {PAGE_COST}")
    print(f"{name}: ratio {p95(all_large) / p95(all_small):.2f} (target <= {target:g})")
