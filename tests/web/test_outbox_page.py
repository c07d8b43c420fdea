"""/outbox shows managers the failed deliveries and the local sink's e-mails, and nobody else."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime

from flask import Flask
from support import user

from app.extensions import db
from app.models import Case, OutboxItem
from app.services import delivery

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def queue(reference: str, role: str, address: str) -> OutboxItem:
    case = Case(reference=reference, source="phone", created_by_id=user("fpoc").id)
    db.session.add(case)
    db.session.flush()
    item = OutboxItem(
        message_id=str(uuid.uuid4()),
        case_id=case.id,
        channel="email",
        template=f"{role}_acknowledgement",
        recipient_role=role,
        recipient_name="Dr Sam Referrer",
        address=address,
        subject=f"About your contact ({reference})",
        body="Dear Dr Referrer,\n",
        created_at=NOW,
    )
    db.session.add(item)
    db.session.commit()
    return item


def fail_for_good(fresh: Flask) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    fresh.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port)  # nothing listens there
    try:
        # Each try due at once: the back-off itself is tested in tests/services/test_delivery.py.
        for _ in range(delivery.MAX_ATTEMPTS):
            db.session.execute(db.update(OutboxItem).values(next_attempt_at=None))
            db.session.commit()
            delivery.deliver_due(NOW)
    finally:
        fresh.config.update(SMTP_HOST="", SMTP_PORT=25)


def test_a_service_manager_sees_failed_deliveries_and_the_sink(web, fresh: Flask) -> None:
    queue("CT-000201", "referrer", "gp@example.nhs.uk")
    fail_for_good(fresh)
    queue("CT-000202", "parent", "pat@example.org")
    assert delivery.deliver_due(NOW) == 1  # no SMTP server set: to the sink

    page = web.login("service_manager").get("/outbox")
    failed = page.split('id="failed"')[1].split("</table>")[0]
    assert "CT-000201" in failed and "Referrer" in failed and "referrer_acknowledgement" in failed
    assert ">5<" in failed and "ConnectionRefusedError" in failed
    assert "gp@example.nhs.uk" in failed  # a manager of the hub may see the referrer
    sink = page.split('id="sink"')[1].split("</table>")[0]
    assert "About your contact (CT-000202)" in sink and "pat@example.org" in sink
    assert "CT-000201" not in sink
    assert "Traceback" not in page
    assert 'href="/outbox"' in page  # the Deliveries link in the menu


def test_a_team_manager_may_see_it_too(web) -> None:
    assert "Failed deliveries" in web.login("team_manager").get("/outbox")


def test_a_call_handler_is_refused_and_has_no_link(web) -> None:
    client = web.login("fpoc")
    assert 'href="/outbox"' not in client.get("/cases")
    page = client.get("/outbox", expect=403)
    assert "Failed deliveries" not in page
