"""The pages managers and practitioners open all day read the big tables through their indexes.

On PostgreSQL with 20,000 generated cases (app/services/demo_data.py) and the statistics analysed, every
query the work trays, the dashboard, the quarterly figures and the failed steps issue is captured as it runs
and EXPLAINed; no plan may read a whole big table (a Seq Scan on case_record, task, task_clock, referral or
case_person) unless it is named below with the reason it must.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from harness import make_app
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from app.extensions import db
from app.services import demo_data

BIG = {"case_record", "task", "task_clock", "referral", "case_person"}
RANDOM_PAGE_COST = 1.1  # what the production database is to be configured with (docs/scale.md)

# Reading a whole big table is right when the page is about all of it. Each exception: (table, a pattern the
# query's text matches, why).
WHOLE_TABLE_READS: list[tuple[str, str, str]] = [
    (
        "task",
        r".",
        "the task mirror holds only the work open now (10,000 rows at 200,000 cases), never history: a tray "
        "sorts all of a lane's or team's open work to show a page of it, and the dashboard adds up all of it, so "
        "reading the mirror whole is the work itself, and it does not grow with the years of cases",
    ),
]

# One scenario a flow: every flow finished once (the closed history's states) and open work in each, made
# through the services in seconds rather than the half minute all the template scenarios take.
WALK = [
    ("initial_contact", "below_threshold_advice"),
    ("mat", "mat_decides_no_action_and_the_contact_closes"),
    ("strategy_discussion", "police_investigation_only_chaired_by_a_team_manager"),
    ("lado", "no_harm_criterion_met_advice_and_no_further_action"),
    ("information_request", "disproportionate_request_refused"),
    ("da_triage", "level_1_record_only"),
]

PAGES = {
    "demo.ssw": ["/tasks", "/tasks?page=2", "/tasks?due=overdue", "/tasks/team", "/tasks/team?sort=child"],
    "demo.service_manager": [
        "/dashboard",
        "/dashboard?flow=initial_contact",
        "/dashboard?from=2026-01-01&to=2026-03-31",
        # Past quarters: the generated open work (a thousand tasks) all sits in the current one, which makes it a
        # sixth of the children at this size and a whole-table read the right plan; at 200,000 cases it is not.
        "/figures?from=2022-04-01&to=2022-06-30",
        "/figures?from=2019-10-01&to=2019-12-31",
        "/failed-steps",
    ],
}


@contextmanager
def captured() -> Iterator[list[tuple[str, Any]]]:
    """Every SELECT any engine sends while the block runs, with its parameters."""
    statements: list[tuple[str, Any]] = []

    def listen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and not executemany:
            statements.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", listen)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", listen)


def _scans(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _scans(child)


def _signed_in(app: Flask, username: str) -> Any:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    response = client.post("/login", data={"username": username, "password": "compass-demo", "csrf_token": token[1]})
    assert response.status_code == 302
    return client


@pytest.mark.postgres_only
def test_the_busy_pages_read_the_big_tables_by_index(pg_fresh: Flask) -> None:
    # Ten years of contacts, as a council keeps them: a quarter is a small part of the whole.
    demo_data.generate(20_000, open_tasks=1_000, seed=11, years=10, walk=WALK)
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))

    web = make_app(pg_fresh.config["SQLALCHEMY_DATABASE_URI"])
    with captured() as statements:
        for username, paths in PAGES.items():
            client = _signed_in(web, username)
            for path in paths:
                response = client.get(path)
                assert response.status_code == 200, (path, response.status_code)

    seen: set[tuple[str, str]] = set()
    problems = []
    with db.engine.connect() as connection:
        # Planned as on the production server's SSD storage, where reading a page at random costs about what
        # reading the next one does (PostgreSQL's default, 4, is for spinning disks: under it a join that
        # needs a twentieth of a table of this size reads all of it).
        connection.exec_driver_sql(f"SET random_page_cost = {RANDOM_PAGE_COST}")
        for statement, parameters in statements:
            if (statement, repr(parameters)) in seen:
                continue
            seen.add((statement, repr(parameters)))
            explained = connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar()
            plan = (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]
            for node in _scans(plan):
                table = node.get("Relation Name")
                if node["Node Type"] != "Seq Scan" or table not in BIG:
                    continue
                if any(t == table and re.search(p, statement) for t, p, _why in WHOLE_TABLE_READS):
                    continue
                problems.append(f"Seq Scan on {table} in:\n{statement}\n")
    assert len(seen) > 20  # the pages did run their queries through the listener
    assert problems == [], "\n".join(problems)
