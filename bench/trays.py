"""The work trays at scale: "my tasks" and the team tray with 200,000 cases and 10,000 open tasks, against the
same pages with 2,000 cases (and open tasks in the same proportion), on PostgreSQL, measured in one run.

Both databases are filled by the demo data generator (bench/scale.py keeps them between runs). The pages are
fetched over HTTP with Flask's test client, signed in as the demo senior social worker, whose lane holds the
most open work: the first page of each tray, a later page, and each filtered by overdue and by flow.

Prints p50/p95 of each page at both sizes and `trays: ratio R (target <= 2)`, R = p95 at scale over p95 small.
Run: make bench (needs PostgreSQL: bash .ci/start-postgres; BENCH_DATABASE_URL to use another server).
"""

from __future__ import annotations

import scale

PAGES = [
    "/tasks",
    "/tasks?page=3",
    "/tasks?due=overdue&sort=waited",
    "/tasks?flow=initial_contact",
    "/tasks/team",
    "/tasks/team?page=3",
    "/tasks/team?due=today",
]


def main() -> None:
    small_url, large_url = scale.urls()
    small_app = scale.app_with_data(small_url, *scale.SMALL)
    large_app = scale.app_with_data(large_url, *scale.LARGE)
    small = scale.timed(scale.signed_in(small_app, "demo.ssw"), PAGES)
    large = scale.timed(scale.signed_in(large_app, "demo.ssw"), PAGES)
    scale.compare("trays", small, large, target=2)


if __name__ == "__main__":
    main()
