"""Opening a task or a case is on the record (TASK_VIEWED, CASE_VIEWED), committed once the page is made and
before it is sent. Committed first, it would leave every record the page goes on to read expired, each read
again from the database: on PostgreSQL that was most of the database's work for a completion."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from test_contact_to_decision import CONTACT, review_each_child

from app.extensions import db
from app.models import AuditEvent


@contextmanager
def statements() -> Iterator[list[str]]:
    sent: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(" ".join(statement.split()[:3]).upper())

    event.listen(Engine, "before_cursor_execute", note)  # the web client's app has an engine of its own
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", note)


def read_after_the_look(sent: list[str]) -> list[str]:
    """The statements after the look's audit event was written: the look is the page's last work."""
    written = [i for i, statement in enumerate(sent) if statement.startswith("INSERT INTO AUDIT_EVENT")]
    assert len(written) == 1, sent
    return sent[written[0] + 1 :]


def test_a_task_page_and_a_case_page_record_the_look_last_and_read_nothing_twice(web) -> None:
    web.login("fpoc")
    case_url = web.post("/contacts/new", CONTACT, expect=302).headers["Location"]
    case_id = int(re.search(r"/cases/(\d+)", case_url).group(1))
    web.client.post("/logout", data={"csrf_token": web.token("/tasks")})
    web.login("ssw")
    task_id = review_each_child(web, case_id)["Amy Example"]

    with statements() as sent:
        page = web.get(f"/tasks/{task_id}")
    assert "Amy said she is frightened to go home" in page
    assert read_after_the_look(sent) == []

    with statements() as sent:
        page = web.get(case_url)
    assert "Amy Example" in page
    assert read_after_the_look(sent) == []

    latest = select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq.desc()).limit(2)
    looks = [(e.name, e.task_id) for e in db.session.scalars(latest)]
    assert looks == [("CASE_VIEWED", None), ("TASK_VIEWED", task_id)]
