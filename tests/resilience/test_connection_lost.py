"""PostgreSQL connections lost under the running processes (a database restart, a failover, a network cut).

The moment is held, not guessed: the test locks the case's audit chain head, which every change to a case
locks last, just before its commit (app/services/audit_chain.py). The web request (or the worker's timer
firing) has written everything by then and waits on that lock inside its transaction; the test finds its
database backend, terminates it with pg_terminate_backend, and lets go.

- The person saving is shown the service's own error page in plain words (no trace), nothing of their save
  is in the database, and the same person saves the same task a moment later.
- Every idle pooled connection of the web server dropped at once (a database restart): the next request
  still works, because a pooled connection is checked before use.
- The worker loses its connection while firing a timer: it carries on, and the timer fires once.

`make test` cuts one connection in each test; `make soak` (COMPASS_SOAK=1) ten.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection, create_engine, func, select, text
from sqlalchemy.engine import make_url

from app.extensions import db
from app.models import AuditEvent, CaseEvent, OutboxItem, ProcessInstance, Task
from app.services import users, workflow
from bench import load

ROOT = Path(__file__).resolve().parents[2]
WEB, WORKER = "compass-web-under-test", "compass-worker-under-test"
SOAK = os.environ.get("COMPASS_SOAK") == "1"
ROUNDS = 10 if SOAK else 1  # connections cut in each test


def named(url: str, application_name: str) -> str:
    """The database URL with an application name, so the test can tell that process's connections apart."""
    return make_url(url).update_query_dict({"application_name": application_name}).render_as_string(False)


@pytest.fixture
def side(pg_fresh: Flask) -> Iterator[Connection]:
    """A second connection of the test's own, to hold locks and terminate other backends."""
    engine = create_engine(db.engine.url)
    with engine.connect() as conn:
        yield conn
        conn.rollback()
    engine.dispose()


@pytest.fixture
def web(pg_fresh: Flask, tmp_path: Path) -> Iterator[str]:
    port = load.free_port()
    log = tmp_path / "web.log"
    process = load.start_web(named(pg_fresh.config["SQLALCHEMY_DATABASE_URI"], WEB), port, log, workers=1, threads=2)
    try:
        load.wait_until_serving(process, port, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        load.kill(process)


def wait_for(condition: Callable[[], Any], what: str, seconds: float = 60) -> Any:
    """Poll (real processes on the real clock, not a timed assertion) until the condition gives a value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"waited in vain for {what}")


def hold_chain_head(side: Connection, case_id: int) -> None:
    held = side.execute(text("SELECT key FROM audit_chain WHERE key = :key FOR UPDATE"), {"key": f"case:{case_id}"})
    assert held.scalar() == f"case:{case_id}"


def hold_case_row(side: Connection, case_id: int) -> None:
    """A new task row names its case, and that reference takes a share lock on the case's row: a timer whose
    firing brings a task waits here, inside its transaction, with its other writes made."""
    held = side.execute(text("SELECT id FROM case_record WHERE id = :id FOR UPDATE"), {"id": case_id})
    assert held.scalar() == case_id


def blocked_by(side: Connection, application_name: str) -> int | None:
    """The backend of `application_name` waiting on a lock this connection holds, if one is."""
    side.execute(text("SELECT pg_stat_clear_snapshot()"))  # a fresh look, though inside one transaction
    row = side.execute(
        text(
            "SELECT pid FROM pg_stat_activity "
            "WHERE application_name = :name AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"
        ),
        {"name": application_name},
    ).first()
    return int(row[0]) if row else None


def connections_of(side: Connection, application_name: str) -> list[int]:
    side.execute(text("SELECT pg_stat_clear_snapshot()"))
    found = side.execute(
        text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"), {"name": application_name}
    )
    return [int(pid) for pid in found.scalars()]


def terminate(side: Connection, pid: int) -> None:
    assert side.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar() is True


def note_of(case_id: int) -> str:
    db.session.rollback()
    task_id = db.session.scalar(select(Task.id).where(Task.case_id == case_id, Task.bpmn_id == "note"))
    assert task_id is not None
    return task_id


def what_the_case_holds(case_id: int) -> dict[str, Any]:
    db.session.rollback()
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case_id))
    assert instance is not None

    def count(model: Any) -> int:
        return int(db.session.scalar(select(func.count()).select_from(model).where(model.case_id == case_id)) or 0)

    return {
        "version": instance.version,
        "state": instance.state,
        "tasks": sorted(db.session.scalars(select(Task.bpmn_id).where(Task.case_id == case_id))),
        "audit events": count(AuditEvent),
        "timeline": count(CaseEvent),
        "outbox": count(OutboxItem),
    }


def cut_off_mid_save(browser: load.Browser, side: Connection) -> None:
    """A save whose database connection is cut while it waits to commit; then the same save made again."""
    [case_id] = load.start_cases(1, "P30D")
    task_id = note_of(case_id)
    page = browser.get(f"/tasks/{task_id}")
    assert page.status == 200
    before = what_the_case_holds(case_id)

    hold_chain_head(side, case_id)
    answers: list[load.Answer] = []
    saving = threading.Thread(
        target=lambda: answers.append(browser.post_form(f"/tasks/{task_id}", {"finding": "first try"}, page))
    )
    saving.start()
    pid = wait_for(
        lambda: blocked_by(side, WEB) or (not saving.is_alive() and -1), "the save to reach its commit", seconds=180
    )
    assert pid != -1, f"the save finished without waiting on the chain head: {answers[0].status}"
    terminate(side, pid)
    side.rollback()
    saving.join(60)

    [answer] = answers
    assert answer.status in (500, 503)
    assert "Sorry, there is a problem with the service" in answer.body
    assert "Nothing you sent was saved" in answer.body
    for leak in ("Traceback", "psycopg", "sqlalchemy", "OperationalError", "terminating connection"):
        assert leak.lower() not in answer.body.lower(), leak
    # Nothing of the save is in the database: not the state, the mirror, the audit, the timeline, the e-mail.
    assert what_the_case_holds(case_id) == before
    assert not db.session.scalar(
        select(AuditEvent.id).where(AuditEvent.task_id == task_id, AuditEvent.name == "TASK_COMPLETED")
    )

    # The same person saves the same task again, on the same server, and it goes through once.
    again = browser.post_form(f"/tasks/{task_id}", {"finding": "second try"})
    assert again.status == 302, again.body[:2000]
    after = what_the_case_holds(case_id)
    assert after["version"] == before["version"] + 1
    assert after["tasks"] == [] and after["outbox"] == 1
    completed = db.session.scalars(
        select(AuditEvent).where(AuditEvent.task_id == task_id, AuditEvent.name == "TASK_COMPLETED")
    ).all()
    assert len(completed) == 1


@pytest.mark.postgres_only
def test_a_save_cut_off_from_the_database_mid_transaction_saves_nothing_and_can_be_made_again(
    pg_fresh: Flask, web: str, side: Connection
) -> None:
    browser = load.Browser(web)
    browser.sign_in("demo.ssw", "compass-demo")
    for _ in range(ROUNDS):
        cut_off_mid_save(browser, side)


@pytest.mark.postgres_only
def test_the_web_server_carries_on_after_the_database_drops_every_connection(
    pg_fresh: Flask, web: str, side: Connection
) -> None:
    browser = load.Browser(web)
    browser.sign_in("demo.ssw", "compass-demo")
    for case_id in load.start_cases(ROUNDS, "P30D"):
        task_id = note_of(case_id)
        assert browser.get("/tasks").status == 200
        assert browser.get(f"/tasks/{task_id}").status == 200
        pids = connections_of(side, WEB)
        assert pids, "the web server keeps no connection open between requests"
        for pid in pids:
            terminate(side, pid)
        wait_for(lambda: not connections_of(side, WEB), "the web server's connections to close")

        # Every pooled connection is dead: the next requests must not be answered with an error page.
        assert browser.get("/tasks").status == 200
        assert browser.post_form(f"/tasks/{task_id}", {"finding": "after the restart"}).status == 302
        assert what_the_case_holds(case_id)["tasks"] == []


def due_and_held(side: Connection) -> int:
    """A case whose follow-up timer is due in a moment, its row held before the worker can fire it. With
    the worker already running, the firing may beat the hold: then the next case is tried."""
    for _ in range(5):
        [case_id] = load.start_cases(1, "PT2S")
        workflow.complete_task(users.find("demo.ssw"), note_of(case_id), {"finding": "seen"})
        hold_case_row(side, case_id)
        if what_the_case_holds(case_id)["tasks"] == []:
            return case_id
        side.rollback()
    raise AssertionError("the worker fired every timer before the test could hold its case")


@pytest.mark.postgres_only
def test_the_worker_carries_on_after_losing_the_database_mid_firing(
    pg_fresh: Flask, side: Connection, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    env = load.app_environment(named(pg_fresh.config["SQLALCHEMY_DATABASE_URI"], WORKER))
    command = [sys.executable, "-m", "flask", "--app", "app", "worker", "--interval", "0.2"]
    with log.open("ab") as out:
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True)

    def worker_stopped() -> str:
        return f"the worker stopped:\n{log.read_text(errors='replace')[-3000:]}"

    case_ids = []
    try:
        for _ in range(ROUNDS):
            case_id = due_and_held(side)
            case_ids.append(case_id)
            pid = wait_for(lambda: blocked_by(side, WORKER) or worker.poll() is not None, "the firing", seconds=180)
            assert worker.poll() is None, worker_stopped()
            terminate(side, pid)
            side.rollback()

            def fired(case_id: int = case_id) -> bool:
                assert worker.poll() is None, worker_stopped()
                return what_the_case_holds(case_id)["tasks"] == ["follow_up"]

            wait_for(fired, "the worker to fire the timer after losing its connection", seconds=180)
        # Still running: it sends the e-mails too, and on its next passes no timer fires again.
        wait_for(lambda: set(db.session.scalars(select(OutboxItem.status))) == {"delivered"}, "the e-mails to be sent")
        assert worker.poll() is None, worker_stopped()
    finally:
        load.kill(worker)
    for case_id in case_ids:
        assert what_the_case_holds(case_id)["tasks"] == ["follow_up"]
        instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case_id))
        assert instance is not None and instance.next_wake_at is None
    # Each loss is in the worker's log in words, without the statement or its values.
    said = log.read_text(errors="replace")
    assert said.count("worker: lost the database") == ROUNDS
    assert "SELECT" not in said and "INSERT" not in said
