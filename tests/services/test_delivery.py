"""The outbox's e-mails reach a real SMTP server on loopback (aiosmtpd), at least once, with a stable
Message-ID; failures back off on a fake clock and end as "failed"; letters are left for printing."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
import time_machine
from aiosmtpd.controller import Controller
from flask import Flask
from support import user

from app.extensions import db
from app.models import Case, OutboxItem
from app.services import delivery

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd calls it by this name
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.original_content)))
        return "250 OK"


@pytest.fixture
def smtp_server(fresh: Flask) -> Iterator[Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    fresh.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port, MAIL_FROM="compass@example.org")
    try:
        yield inbox
    finally:
        controller.stop()
        fresh.config.update(SMTP_HOST="", SMTP_PORT=25)


@pytest.fixture
def dead_server(fresh: Flask) -> Iterator[None]:
    fresh.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port())  # nothing listens there
    yield
    fresh.config.update(SMTP_HOST="", SMTP_PORT=25)


def make_case(reference: str = "CT-000101") -> Case:
    case = Case(reference=reference, source="phone", created_by_id=user("fpoc").id)
    db.session.add(case)
    db.session.flush()
    return case


def queue(case: Case, channel: str = "email", role: str = "referrer", address: str = "gp@example.nhs.uk") -> OutboxItem:
    item = OutboxItem(
        message_id=str(uuid.uuid4()),
        case_id=case.id,
        channel=channel,
        template="referrer_acknowledgement",
        recipient_role=role,
        recipient_name="Dr Sam Referrer",
        address=address,
        subject=f"Your contact about a child ({case.reference})",
        body="Dear Dr Referrer,\n\nWe received your contact.\n",
        created_at=NOW,
    )
    db.session.add(item)
    db.session.commit()
    return item


def test_an_email_reaches_the_smtp_server_with_its_stable_message_id(smtp_server: Inbox) -> None:
    item = queue(make_case())
    assert delivery.deliver_due(NOW) == 1
    ((rcpt_tos, message),) = smtp_server.messages
    assert rcpt_tos == ["gp@example.nhs.uk"]
    assert message["To"] == "Dr Sam Referrer <gp@example.nhs.uk>"
    assert message["From"] == "compass@example.org"
    assert message["Subject"] == "Your contact about a child (CT-000101)"
    assert message["Message-ID"] == f"<{item.message_id}@compass.local>"
    # SMTP carries lines ending in CRLF.
    body = message.get_payload(decode=True).decode().replace("\r\n", "\n")
    assert body == "Dear Dr Referrer,\n\nWe received your contact.\n"
    db.session.expire_all()
    assert (item.status, item.delivered_via, item.delivered_at, item.attempts) == ("delivered", "smtp", NOW, 1)
    assert delivery.deliver_due(NOW) == 0  # delivered once only
    assert len(smtp_server.messages) == 1


def test_without_an_smtp_server_the_email_goes_to_the_sink(fresh: Flask) -> None:
    assert not fresh.config.get("SMTP_HOST")
    item = queue(make_case())
    assert delivery.deliver_due(NOW) == 1
    db.session.expire_all()
    assert (item.status, item.delivered_via, item.delivered_at) == ("delivered", "sink", NOW)
    (row,) = delivery.sink_items(show_referrer=True)
    assert (row.subject, row.to, row.when) == (item.subject, "Dr Sam Referrer <gp@example.nhs.uk>", NOW)
    assert delivery.sink_items(show_referrer=False)[0].to is None


def test_letters_are_left_pending_for_printing(smtp_server: Inbox) -> None:
    letter = queue(make_case(), channel="letter", role="parent", address="1 High Street")
    assert delivery.deliver_due(NOW) == 0
    db.session.expire_all()
    assert (letter.status, letter.attempts) == ("pending", 0)
    assert smtp_server.messages == []


def test_a_failing_server_backs_off_then_the_item_fails_for_good(dead_server: None) -> None:
    item = queue(make_case())
    moment = NOW
    waits = [timedelta(minutes=m) for m in (1, 5, 15, 60)]
    for attempt, wait in enumerate(waits, start=1):
        with time_machine.travel(moment, tick=False):
            assert delivery.deliver_due() == 0
        db.session.expire_all()
        assert (item.status, item.attempts, item.next_attempt_at) == ("pending", attempt, moment + wait)
        assert item.last_error is not None and item.last_error.startswith("ConnectionRefusedError")
        assert "\n" not in item.last_error and "Traceback" not in item.last_error
        assert "gp@example.nhs.uk" not in item.last_error
        # Not tried again before its time.
        with time_machine.travel(moment + wait - timedelta(seconds=1), tick=False):
            assert delivery.deliver_due() == 0
        db.session.expire_all()
        assert item.attempts == attempt
        moment += wait
    with time_machine.travel(moment, tick=False):
        assert delivery.deliver_due() == 0
    db.session.expire_all()
    assert (item.status, item.attempts, item.next_attempt_at) == ("failed", delivery.MAX_ATTEMPTS, None)
    with time_machine.travel(moment + timedelta(days=1), tick=False):
        assert delivery.deliver_due() == 0
    db.session.expire_all()
    assert item.attempts == delivery.MAX_ATTEMPTS
    (row,) = delivery.failed_items(show_referrer=True)
    assert (row.case_reference, row.recipient_role, row.attempts) == ("CT-000101", "referrer", 5)


def test_an_email_sent_but_not_committed_is_sent_again_as_the_same_message(smtp_server: Inbox) -> None:
    item = queue(make_case())
    other = queue(make_case("CT-000102"), address="school@example.org")
    # The worker sends the first item, then dies before its commit: the row is still pending.
    assert delivery.deliver_one(item.id, NOW) == 1
    db.session.rollback()
    db.session.expire_all()
    assert (item.status, item.attempts) == ("pending", 0)

    assert delivery.deliver_due(NOW) == 2
    ids = [message["Message-ID"] for _, message in smtp_server.messages]
    assert ids == [f"<{item.message_id}@compass.local>"] * 2 + [f"<{other.message_id}@compass.local>"]
    first, resent = smtp_server.messages[0][1], smtp_server.messages[1][1]
    assert first.as_bytes() == resent.as_bytes()  # the same message, not a new one
    db.session.expire_all()
    assert (item.status, other.status) == ("delivered", "delivered")


def test_the_worker_command_delivers_due_emails(smtp_server: Inbox, fresh: Flask) -> None:
    item = queue(make_case())
    db.session.commit()
    with time_machine.travel(NOW, tick=False):
        result = fresh.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "woke 0 instance(s), delivered 1 e-mail(s)" in result.output
    assert [message["Message-ID"] for _, message in smtp_server.messages] == [f"<{item.message_id}@compass.local>"]
    db.session.expire_all()
    assert item.status == "delivered"
