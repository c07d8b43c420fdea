"""Fifty people at once against the real web server (gunicorn, threads and workers) on PostgreSQL.

Each signs in once, then goes round their own tray, the team's tray, a task's page, its case's page, and
saves the task: their own tasks, and now and then one from a pool that others may be saving at the same
moment. No answer may be an error (no 5xx, no connection refused or reset); a 409 for a pool task someone
saved first is the right answer and is counted apart. Every save acknowledged is in the database once.

The figures (requests per second, p50/p95/p99 latency) are printed and written to
test-results/resilience-load.txt, not asserted: a loaded machine is slower, not wrong.
`make test` runs about 10 seconds of load; `make soak` (COMPASS_SOAK=1) a minute. bench/load.py is the
same load run on its own.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent
from bench import load

SOAK = os.environ.get("COMPASS_SOAK") == "1"
USERS = 50
SECONDS = 60 if SOAK else 10
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres_only
def test_fifty_people_at_once_meet_no_error_and_every_save_counts_once(pg_fresh: Flask, tmp_path: Path) -> None:
    people, pool = load.prepare_load(USERS, own_each=max(2, SECONDS // 5), shared=USERS)
    port = load.free_port()
    log = tmp_path / "web.log"
    web = load.start_web(pg_fresh.config["SQLALCHEMY_DATABASE_URI"], port, log, workers=4, threads=4, preload=True)
    try:
        load.wait_until_serving(web, port, log)
        figures = load.run_load(f"http://127.0.0.1:{port}", people, pool, SECONDS)
    finally:
        load.kill(web)

    report = figures.report(USERS)
    print(report)
    (ROOT / "test-results").mkdir(exist_ok=True)
    (ROOT / "test-results" / "resilience-load.txt").write_text(report + "\n", encoding="utf-8")
    assert figures.errors == [], figures.errors[:20]
    assert figures.completed > 0
    db.session.expire_all()
    saved = Counter(db.session.scalars(select(AuditEvent.task_id).where(AuditEvent.name == "TASK_COMPLETED")))
    assert sum(saved.values()) == figures.completed  # each 302 is one completion, and nothing else completed
    assert set(saved.values()) == {1}  # no task completed twice, however many pressed at once
