"""The records of LADO allegations: one allegation against a person who works with children (§10), from the
hand-over of the contact that reported it to its closure, and how long the record is kept."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.cases import Case
from app.models.types import UTCDateTime, utcnow


class LadoAllegation(db.Model):  # type: ignore[name-defined,misc]
    """One allegation as the LADO manages it.

    The subject's name, role and employer are kept as the intake gave them. Meetings are a list in the row
    (each {number, date, attendees, information_shared, actions, regulator, review_date, further_meeting}):
    they are only ever read with their allegation, and a flow holds at most three.
    """

    __tablename__ = "lado_allegation"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    subject_name: Mapped[str | None] = mapped_column(String(200))
    subject_role: Mapped[str | None] = mapped_column(String(200))
    subject_employer: Mapped[str | None] = mapped_column(String(200))
    # Not asked at intake; the LADO adds it when known. It sets how long the record is kept.
    subject_date_of_birth: Mapped[date | None] = mapped_column(Date)
    employer_contact_name: Mapped[str | None] = mapped_column(String(200))
    employer_contact_email: Mapped[str | None] = mapped_column(String(200))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    # Initial consideration within one working day of the hand-over: the deadline, when it was done, and
    # whether that was in time (kept, so the figure never depends on a calendar changed later).
    consideration_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    considered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    considered_in_time: Mapped[bool | None] = mapped_column(Boolean)
    harm_criteria: Mapped[list[str]] = mapped_column(JSON, default=list)
    initial_decision: Mapped[str | None] = mapped_column(String(20))  # advice, meeting
    initial_rationale: Mapped[str | None] = mapped_column(Text)
    meetings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    actions: Mapped[list[str]] = mapped_column(JSON, default=list)  # every action agreed at any meeting
    regulator: Mapped[str | None] = mapped_column(String(40))  # the regulator referred to, if any
    # substantiated, false, malicious, unsubstantiated, unfounded; none when closed with advice.
    outcome: Mapped[str | None] = mapped_column(String(20))
    outcome_rationale: Mapped[str | None] = mapped_column(Text)
    dbs_referred_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    retain_until: Mapped[date | None] = mapped_column(Date)

    case: Mapped[Case] = relationship(lazy="joined")
