"""The records of domestic-abuse notifications and their triage (DOMAIN.md Flow 3, §8)."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.cases import Case
from app.models.types import UTCDateTime, utcnow


class DaNotification(db.Model):  # type: ignore[name-defined,misc]
    """One police domestic-abuse notification, as the police sent it; it becomes a contact (a case) of its own.

    The police reference is unique: a notification sent again (a retried upload or API call) is recognised by
    it and by the hash of what was sent, and never makes a second case.
    """

    __tablename__ = "da_notification"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    police_reference: Mapped[str] = mapped_column(String(60), unique=True)
    received_via: Mapped[str] = mapped_column(String(10))  # hand, api, csv
    incident_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dash_risk: Mapped[str] = mapped_column(String(10))  # standard, medium, high
    dash_yes_count: Mapped[int | None] = mapped_column(Integer)  # of the 24 DASH questions
    marac: Mapped[bool] = mapped_column(Boolean, default=False)
    repeat: Mapped[bool] = mapped_column(Boolean, default=False)
    summary: Mapped[str] = mapped_column(Text, default="")
    victim_name: Mapped[str] = mapped_column(String(200))
    victim_address: Mapped[str | None] = mapped_column(Text)
    victim_safe_to_write: Mapped[bool] = mapped_column(Boolean, default=False)
    perpetrator_name: Mapped[str | None] = mapped_column(String(200))
    # Each child as notified, with their school (Operation Encompass): [{"key", "name", "school", ...}].
    children: Mapped[list[Any]] = mapped_column(JSON, default=list)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    payload_hash: Mapped[str] = mapped_column(String(64))

    case: Mapped[Case] = relationship()


class DaTriageDecision(db.Model):  # type: ignore[name-defined,misc]
    """The daily joint triage's decision on one notification: the level (1-4), the screening matrix's risk and
    protective factors, and why (§8.4-§8.9)."""

    __tablename__ = "da_triage_decision"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    level: Mapped[int] = mapped_column(Integer)
    dash_risk: Mapped[str] = mapped_column(String(10))  # as the triage agreed it
    risk_factors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    protective_factors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    threshold: Mapped[str | None] = mapped_column(String(10))  # s17 or s47, for level 4
    rationale: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)  # the figures' period
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
