"""The managers' pages at scale: the dashboard (whole, filtered by flow, by team and by when the contact was
made), the quarterly steering-group figures (this quarter and a past one) and the failed steps, with 200,000
cases and 10,000 open tasks against 2,000 cases (open tasks in the same proportion), on PostgreSQL, measured
in one run.

Both databases are filled by the demo data generator (bench/scale.py keeps them between runs); the pages are
fetched over HTTP with Flask's test client, signed in as the demo service manager, who sees every case.

Prints p50/p95 of each page at both sizes and `dashboard: ratio R (target <= 2)`, R = p95 at scale over p95
small; and, apart, the first report of this quarter's figures when none of its days is kept yet.
Run: make bench (needs PostgreSQL: bash .ci/start-postgres; BENCH_DATABASE_URL to use another server).
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import scale
from flask import Flask
from sqlalchemy import delete

from app.extensions import db
from app.models import FiguresDay


def pages() -> list[str]:
    today = date.today()
    last_year = today.year - 1
    return [
        "/dashboard",
        "/dashboard?flow=initial_contact",
        "/dashboard?team=compass&worker=",
        f"/dashboard?from={today.year}-01-01&to={today.isoformat()}",
        "/figures",
        f"/figures?from={last_year}-04-01&to={last_year}-06-30",
        "/failed-steps",
    ]


def first_report(app: Flask, client: Any, path: str) -> float:
    """Milliseconds for the figures of a period when no day of it is kept yet, as after `flask demo-data`:
    every day is counted from the records, then kept (app/services/figures_days.py)."""
    with app.app_context():
        db.session.execute(delete(FiguresDay))
        db.session.commit()
    began = time.perf_counter()
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return (time.perf_counter() - began) * 1000


def main() -> None:
    small_url, large_url = scale.urls()
    small_app = scale.app_with_data(small_url, *scale.SMALL)
    large_app = scale.app_with_data(large_url, *scale.LARGE)
    small_client = scale.signed_in(small_app, "demo.service_manager")
    large_client = scale.signed_in(large_app, "demo.service_manager")
    # The figures' first report of a quarter, before any of its days is kept (not part of the ratio, which
    # times the pages as a manager meets them: each past day counted once, then kept).
    quarter = pages()[4]
    cold = (first_report(small_app, small_client, quarter), first_report(large_app, large_client, quarter))
    small = scale.timed(small_client, pages())
    large = scale.timed(large_client, pages())
    scale.compare("dashboard", small, large, target=2)
    print(f"first report of this quarter, no day kept yet: {cold[0]:.0f} ms small, {cold[1]:.0f} ms large")


if __name__ == "__main__":
    main()
