"""Plain helpers for tests: diagrams from tests/engine/diagrams stored as bundles, and cases to run them on."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from app.engine import specs
from app.engine.specs import ParsedBundle
from app.extensions import db
from app.models import Case, ProcessBundle, ProcessInstance, User

DIAGRAMS = Path(__file__).parent / "engine" / "diagrams"


def diagram_files(flow: str) -> tuple[dict[str, str], dict[str, Any]]:
    files = {f"{flow}.bpmn": (DIAGRAMS / f"{flow}.bpmn").read_text()}
    forms = {"check_note": json.loads((DIAGRAMS / "check_note.json").read_text())}
    return files, forms


def parsed_test_bundle(flow: str) -> ParsedBundle:
    files, forms = diagram_files(flow)
    return specs.load(flow, files, forms)


def store_test_bundle(flow: str) -> ProcessBundle:
    from app.services import bundles

    files, forms = diagram_files(flow)
    bundles.check(flow, files, forms)
    row = ProcessBundle(flow=flow, hash=specs.bundle_hash(files, forms), files=files, forms=forms)
    db.session.add(row)
    db.session.commit()
    return row


def user(role: str) -> User:
    found = db.session.scalar(select(User).where(User.username == f"demo.{role}"))
    assert found is not None, role
    return found


def start_test_case(flow: str) -> tuple[Case, ProcessInstance]:
    """A case running one of the test diagrams, committed."""
    from app.services import workflow

    bundle_row = store_test_bundle(flow)
    case = Case(reference=f"T-{flow[:12]}", source="phone", created_by_id=user("ssw").id)
    db.session.add(case)
    db.session.flush()
    instance = workflow.start_instance(case, bundle_row, user("ssw"))
    db.session.commit()
    return case, instance


def _empty_tables() -> None:
    db.session.rollback()
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    else:
        for name in tables:
            db.session.execute(text(f"DELETE FROM {name}"))  # noqa: S608 (table names from our own metadata)
    db.session.commit()


def start_afresh() -> None:
    """An empty database with the shipped diagrams imported and one demo user per role."""
    from app.services import bundles, users

    _empty_tables()
    bundles.import_shipped()
    users.seed_demo()


# A Tuesday morning in term time, well away from bank holidays: the scenarios' clocks count from here.
SCENARIO_START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def duration(text: str) -> timedelta:
    """An ISO 8601 duration as the scenarios write them: P5D, PT5H, P1DT2H30M."""
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?", text)
    if not match or text in {"P", "PT"}:
        raise ValueError(f"not a duration a scenario may use: {text!r}")
    days, hours, minutes = (int(part or 0) for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


def signed_in(app: Any, username: str, password: str, url: str) -> tuple[Any, str]:
    """A browser of its own (a test client on `app`), signed in, on the page at `url`: its client and the
    page's CSRF token."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    signed = client.post("/login", data={"username": username, "password": password, "csrf_token": token[1]})
    assert signed.status_code == 302, username
    form = client.get(url).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token, form[:500]
    return client, token[1]


def posted_at_once(posts: list[tuple[Any, str, dict[str, str]]]) -> list[int]:
    """Each (client, url, form) posted at the same moment from a thread of its own; the statuses, in order."""
    import threading

    start = threading.Barrier(len(posts))
    statuses = [0] * len(posts)

    def send(i: int, client: Any, url: str, data: dict[str, str]) -> None:
        start.wait()
        statuses[i] = client.post(url, data=data).status_code

    threads = [threading.Thread(target=send, args=(i, *post)) for i, post in enumerate(posts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return statuses


def seen_waiting_for_a_lock(statement_start: str, thread: Any, seconds: float = 10) -> bool:
    """Whether, within `seconds`, a PostgreSQL session is seen waiting for a lock in a statement beginning with
    `statement_start` (the thread's, which is given the time to get there). The activity is read in a new
    transaction each time: within one, PostgreSQL gives back the same picture of it on every read."""
    waiting = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE :start || '%'")
    with db.engine.connect() as watcher:
        for _ in range(int(seconds / 0.05)):
            seen = watcher.execute(waiting, {"start": statement_start}).scalar()
            watcher.rollback()
            if seen:
                return True
            thread.join(0.05)
    return False
