"""Outgoing letters, e-mails and notices, frozen when the step that made them committed."""

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class OutboxItem(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "outbox_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)  # stable, so a retried delivery is known
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    channel: Mapped[str] = mapped_column(String(20))  # letter, email, notice
    template: Mapped[str] = mapped_column(String(80))
    recipient_role: Mapped[str] = mapped_column(String(20))  # parent, referrer, partner
    recipient_name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The worker's retry schedule: null means "as soon as possible"; set after a failed try.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    last_error: Mapped[str | None] = mapped_column(Text)  # the error's first line only: no trace, no personal data
    delivered_via: Mapped[str | None] = mapped_column(String(20))  # smtp, or sink when no SMTP server is set
