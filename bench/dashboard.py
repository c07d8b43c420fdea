"""The managers' pages at scale: the dashboard (whole, filtered by flow, by team and by when the contact was
made), the quarterly steering-group figures (this quarter and a past one) and the failed steps, with 200,000
cases and 10,000 open tasks against 2,000 cases (open tasks in the same proportion), on PostgreSQL, measured
in one run.

Both databases are filled by the demo data generator (bench/scale.py keeps them between runs); the pages are
fetched over HTTP with Flask's test client, signed in as the demo service manager, who sees every case.

Prints p50/p95 of each page at both sizes and `dashboard: ratio R (target <= 2)`, R = p95 at scale over p95
small. Run: make bench (needs PostgreSQL: bash .ci/start-postgres; BENCH_DATABASE_URL to use another server).
"""

from __future__ import annotations

from datetime import date

import scale


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


def main() -> None:
    small_url, large_url = scale.urls()
    small_app = scale.app_with_data(small_url, *scale.SMALL)
    large_app = scale.app_with_data(large_url, *scale.LARGE)
    small = scale.timed(scale.signed_in(small_app, "demo.service_manager"), pages())
    large = scale.timed(scale.signed_in(large_app, "demo.service_manager"), pages())
    scale.compare("dashboard", small, large, target=2)


if __name__ == "__main__":
    main()
