"""The dashboard's reading functions: a fixed number of queries however many rows a page holds (no query per
row), and the days a manager may type."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import delete, event, select
from sqlalchemy.engine import Engine
from support import user

from app.extensions import db
from app.models import Case, Task
from app.services import bundles, claims, contacts, dashboard, workflow

START = json.loads(
    (bundles.PROCESSES_DIR / "initial_contact" / "scenarios" / "below_threshold_advice.json").read_text("utf-8")
)["start"]
MON = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def contacts_made(count: int) -> None:
    for n in range(count):
        start = json.loads(json.dumps(START))
        start["children"][0] |= {"name": f"Child {n:02d} Counted", "date_of_birth": f"2012-03-{n + 1:02d}"}
        with time_machine.travel(MON + timedelta(minutes=n), tick=False):
            contacts.record_contact(user("fpoc"), start)


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement sent to the database meanwhile."""
    sent: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


READERS: dict[str, Callable[[Any, dashboard.Filters], Any]] = {
    "in_flight": dashboard.in_flight,
    "by_flow": dashboard.by_flow,
    "by_step": dashboard.by_step,
    "workload": dashboard.workload,
}


@pytest.mark.parametrize(("reader", "queries"), [("in_flight", 4), ("by_flow", 3), ("by_step", 2), ("workload", 2)])
def test_a_reader_asks_the_same_few_queries_for_two_rows_or_twelve(fresh, reader: str, queries: int) -> None:
    manager = user("service_manager")  # loaded before counting: signing in is not the dashboard's work
    assert manager.roles == {"service_manager"}
    counted = []
    for more in (2, 10):
        contacts_made(more)
        claims.claim(user("ssw"), dashboard.in_flight(manager, dashboard.Filters()).rows[-1].task_id)
        db.session.expire_all()
        manager = user("service_manager")
        assert manager.roles == {"service_manager"}
        with time_machine.travel(MON + timedelta(days=2), tick=False), statements() as sent:
            READERS[reader](manager, dashboard.Filters())
        counted.append(len(sent))
    assert counted == [queries, queries]


def test_the_csv_reads_the_cases_of_its_rows_in_one_query_not_one_each(fresh) -> None:
    contacts_made(12)
    manager = user("service_manager")
    assert manager.roles == {"service_manager"}
    with statements() as sent:
        text = dashboard.export_csv(manager, dashboard.Filters())
    # Sealing the export's audit event into its chain reads the chain's head: not the dashboard's reading.
    reads = [s for s in sent if s.lstrip().upper().startswith("SELECT") and "audit_chain" not in s]
    assert len(text.splitlines()) == 13
    assert len(reads) == 2, reads  # the open work, then its cases with their children


@pytest.mark.parametrize(
    ("typed", "day"),
    [
        ("2026-11-24", date(2026, 11, 24)),
        ("24/11/2026", date(2026, 11, 24)),
        (" 1/2/2026 ", date(2026, 2, 1)),
        ("2026-02-29", None),
        ("31/04/2026", None),
        ("20261124", None),
        ("0001-01-01", None),
        ("9999-12-31", None),
        ("1/1/-5", None),
        ("tomorrow", None),
        ("", None),
        ("2026-11-24" * 100, None),
    ],
)
def test_the_days_a_manager_may_type(typed: str, day: date | None) -> None:
    assert dashboard.parse_day(typed) == day


@pytest.mark.parametrize(
    ("query", "task_reads", "case_looked_up"),
    [
        ("", 3, False),
        ("?team=compass", 3, False),
        ("?from=2026-11-23&to=2026-11-23&source=10", 4, False),
        ("?outcome=pending&page=2", 4, True),
    ],
)
def test_the_page_reads_the_open_work_once_and_counts_it_all_from_that(
    fresh, web, query: str, task_reads: int, case_looked_up: bool
) -> None:
    """The counts by step, team and worker and the filters' choices all come from one grouped read of the open
    tasks (and one more of the narrowed work when a filter asks something of the case); then each flow's
    cases are counted and the page's tasks read."""
    contacts_made(12)
    manager = web.another().login("service_manager")
    sent: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(Engine, "before_cursor_execute", note)  # the web app has an engine of its own
    try:
        with time_machine.travel(MON + timedelta(days=2), tick=False):
            page = manager.get(f"/dashboard{query}")
    finally:
        event.remove(Engine, "before_cursor_execute", note)
    assert "12 open tasks, overdue first" in " ".join(page.split())
    reads = [s for s in sent if s.lstrip().upper().startswith("SELECT") and re.search(r"\bFROM task\b", s)]
    assert len(reads) == task_reads, reads
    # The contact's date and source are the task's own copies; only a child's outcome is asked of the case.
    assert any("case_record" in s for s in reads) is case_looked_up


def test_each_task_keeps_its_contacts_date_and_source_also_when_the_mirror_is_rebuilt(fresh) -> None:
    contacts_made(2)
    made = db.session.scalars(select(Case).order_by(Case.id)).all()
    assert [c.referral_source for c in made] == ["10", "10"]

    def copies() -> list[tuple[int, datetime, str | None]]:
        db.session.expire_all()
        tasks = db.session.scalars(select(Task).order_by(Task.case_id)).all()
        return [(t.case_id, t.contact_made_at, t.referral_source) for t in tasks]

    expected = [(made[0].id, MON, "10"), (made[1].id, MON + timedelta(minutes=1), "10")]
    assert copies() == expected
    db.session.execute(delete(Task))
    db.session.commit()
    assert copies() == []
    workflow.rebuild_mirror()
    db.session.commit()
    assert copies() == expected
