"""Delivering the outbox's e-mails (DESIGN.md rule 4): at least once, each with a stable Message-ID.

Each pass picks the pending e-mails that are due and sends them one at a time, each in its own transaction:
the row is claimed (FOR UPDATE SKIP LOCKED on PostgreSQL, so two workers never send the same item at once),
sent, marked and committed. A worker killed after sending but before committing sends the item again on its
next pass; the Message-ID header is built from the item's stable message_id, so the receiving end can tell
the resend is the same message.

With SMTP_HOST set, e-mails go to that SMTP server; without it (a demo, a laptop) they go to the local sink:
the row is marked delivered "via sink" and stays listed on the managers' /outbox page.

A failed try is counted, its error's first line kept (no trace, no address), and the item is tried again
after a back-off; after MAX_ATTEMPTS tries it is "failed" and shown to managers at /outbox.

Letters (channel "letter") are NOT delivered here: they are printed and posted by business support, so this
module leaves them pending. Notices to partners are not delivered here either (yet).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.sql.elements import ColumnElement

from app.extensions import db
from app.models import Case, OutboxItem
from app.models.types import utcnow
from app.services import audit
from app.services.errors import NotFound

log = logging.getLogger(__name__)

# Waits after the 1st, 2nd, 3rd and 4th failed try; the 5th failure is final. Short at first (a server
# restarting), then long enough that an outage of an hour does not use up every try.
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(minutes=60))
MAX_ATTEMPTS = len(BACKOFF) + 1
MESSAGE_ID_DOMAIN = "compass.local"
SMTP_TIMEOUT_SECONDS = 30


def message_id_header(item: OutboxItem) -> str:
    return f"<{item.message_id}@{MESSAGE_ID_DOMAIN}>"


def _due_condition(now: datetime) -> ColumnElement[bool]:
    return (
        (OutboxItem.channel == "email")
        & (OutboxItem.status == "pending")
        & or_(OutboxItem.next_attempt_at.is_(None), OutboxItem.next_attempt_at <= now)
    )


def _due(now: datetime, limit: int) -> list[int]:
    query = select(OutboxItem.id).where(_due_condition(now)).order_by(OutboxItem.id).limit(limit)
    ids = list(db.session.scalars(query))
    db.session.rollback()  # hold no transaction open while sending
    return ids


def deliver_due(now: datetime | None = None, limit: int = 50) -> int:
    """One pass: send every due e-mail, each in its own transaction. Returns how many were delivered."""
    now = now or utcnow()
    delivered = 0
    for item_id in _due(now, limit):
        try:
            delivered += deliver_one(item_id, now)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
    return delivered


def deliver_one(item_id: int, now: datetime) -> int:
    """Claim one due e-mail, send it and record how that went; the caller commits. Returns 1 if delivered."""
    query = select(OutboxItem).where(OutboxItem.id == item_id, _due_condition(now))
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=OutboxItem)
    item = db.session.scalar(query)
    if item is None:
        return 0  # claimed by another worker, or no longer due
    item.attempts += 1
    smtp_host = current_app.config.get("SMTP_HOST")
    try:
        if smtp_host:
            _send_smtp(item)
    except Exception as err:
        # Any failure to send is the item's, not the worker's: record it and go on to the next item.
        item.last_error = describe_error(err, item)
        log.warning("e-mail %s not delivered (try %s): %s", item.message_id, item.attempts, item.last_error)
        if item.attempts >= MAX_ATTEMPTS:
            item.status = "failed"
            item.next_attempt_at = None
        else:
            item.next_attempt_at = now + BACKOFF[item.attempts - 1]
        return 0
    item.status = "delivered"
    item.delivered_at = now
    item.delivered_via = "smtp" if smtp_host else "sink"
    item.next_attempt_at = None
    item.last_error = None
    return 1


def email_of(item: OutboxItem) -> EmailMessage:
    config = current_app.config
    message = EmailMessage()
    message["From"] = config.get("MAIL_FROM") or "compass@compass.local"
    message["To"] = formataddr((item.recipient_name, item.address))
    message["Subject"] = item.subject
    message["Message-ID"] = message_id_header(item)
    # Dated when the step that made it committed, so a resend is byte-for-byte the same message.
    message["Date"] = format_datetime(item.created_at)
    message.set_content(item.body)
    return message


def _send_smtp(item: OutboxItem) -> None:
    if not item.address:
        raise ValueError("the e-mail has no address")
    config = current_app.config
    with smtplib.SMTP(config["SMTP_HOST"], int(config.get("SMTP_PORT") or 25), timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        if config.get("SMTP_STARTTLS"):
            smtp.starttls(context=ssl.create_default_context())
        if config.get("SMTP_USERNAME"):
            smtp.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
        smtp.send_message(email_of(item))


def describe_error(err: Exception, item: OutboxItem) -> str:
    """The error in one line for a manager: no stack trace, and no address or name of the recipient."""
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        text = "SMTP: the server refused the recipient"
    elif isinstance(err, smtplib.SMTPResponseException):
        detail = err.smtp_error.decode("utf-8", "replace") if isinstance(err.smtp_error, bytes) else str(err.smtp_error)
        text = f"SMTP {err.smtp_code}: {_first_line(detail)}"
    else:
        text = f"{type(err).__name__}: {_first_line(str(err))}".rstrip(": ")
    for personal in (item.address, item.recipient_name):
        if personal:
            text = text.replace(personal, "[recipient]")
    return text[:300]


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


# --- What the managers' page shows ------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    case_reference: str
    recipient_role: str
    to: str | None  # None when the user may not see who it went to
    template: str
    subject: str
    attempts: int
    last_error: str | None
    when: datetime | None


def failed_items(show_referrer: bool, limit: int = 200) -> list[Row]:
    query = (
        select(OutboxItem, Case)
        .join(Case, Case.id == OutboxItem.case_id)
        .where(OutboxItem.status == "failed")
        .order_by(OutboxItem.created_at.desc(), OutboxItem.id.desc())
        .limit(limit)
    )
    return [_row(item, case, show_referrer, item.created_at) for item, case in db.session.execute(query)]


def sink_items(show_referrer: bool, limit: int = 200) -> list[Row]:
    query = (
        select(OutboxItem, Case)
        .join(Case, Case.id == OutboxItem.case_id)
        .where(OutboxItem.status == "delivered", OutboxItem.delivered_via == "sink")
        .order_by(OutboxItem.delivered_at.desc(), OutboxItem.id.desc())
        .limit(limit)
    )
    return [_row(item, case, show_referrer, item.delivered_at) for item, case in db.session.execute(query)]


def _row(item: OutboxItem, case: Case, show_referrer: bool, when: datetime | None) -> Row:
    # Who made a contact is confidential (policy.can_see_referrer): hide where a referrer's item went. A
    # restricted record's recipients are not listed either: they open with the record, with a reason.
    hidden = (item.recipient_role == "referrer" and not show_referrer) or case.restricted
    to = None if hidden else (f"{item.recipient_name} <{item.address}>" if item.address else item.recipient_name)
    return Row(
        case.reference, item.recipient_role, to, item.template, item.subject, item.attempts, item.last_error, when
    )


# --- Paper letters: printed and posted by business support -----------------------------------------------


@dataclass(frozen=True)
class LetterToPost:
    item_id: int
    case_id: int
    case_reference: str
    recipient_role: str
    to: str | None  # None when the user may not see who it goes to
    subject: str
    queued_at: datetime


def letters_to_post(show_referrer: bool, limit: int = 200) -> list[LetterToPost]:
    """Letters waiting to be printed and posted, oldest first: the worker sends e-mails, people post paper."""
    query = (
        select(OutboxItem, Case)
        .join(Case, Case.id == OutboxItem.case_id)
        .where(OutboxItem.channel == "letter", OutboxItem.status == "pending", Case.status != "voided")
        .order_by(OutboxItem.created_at, OutboxItem.id)
        .limit(limit)
    )
    found = []
    for item, case in db.session.execute(query):
        hidden = (item.recipient_role == "referrer" and not show_referrer) or case.restricted
        to = None if hidden else f"{item.recipient_name}, {item.address}"
        found.append(
            LetterToPost(item.id, item.case_id, case.reference, item.recipient_role, to, item.subject, item.created_at)
        )
    return found


def mark_posted(user_id: int, item_id: int) -> OutboxItem:
    """A printed letter put in the post: delivered, by post, on the record. Marking it twice changes nothing."""
    item = db.session.get(OutboxItem, item_id)
    if item is None or item.channel != "letter":
        raise NotFound(item_id)
    if item.status != "delivered":
        item.status = "delivered"
        item.delivered_via = "post"
        item.delivered_at = utcnow()
        audit.record("LETTER_POSTED", user_id, case_id=item.case_id, outbox_item_id=item.id)
        db.session.commit()
    return item
