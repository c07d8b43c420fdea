"""Cases (a contact about one or more children), the people in them, and the case timeline."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class Case(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "case_record"
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open, closed
    source: Mapped[str] = mapped_column(String(20))  # phone, marf
    concern: Mapped[str] = mapped_column(Text, default="")
    immediate_protection: Mapped[bool | None] = mapped_column()
    consent: Mapped[str | None] = mapped_column(String(20))  # given, refused, not_obtained (at intake)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    people: Mapped[list["CasePerson"]] = relationship(
        back_populates="case", order_by="CasePerson.id", cascade="all, delete-orphan"
    )
    events: Mapped[list["CaseEvent"]] = relationship(order_by="CaseEvent.id", cascade="all, delete-orphan")

    @property
    def children(self) -> list["CasePerson"]:
        return [p for p in self.people if p.role == "child"]


class Person(db.Model):  # type: ignore[name-defined,misc]
    """One real person, who may appear in many cases."""

    __tablename__ = "person"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200), index=True)  # normalised for matching
    date_of_birth: Mapped[date | None] = mapped_column(Date, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CasePerson(db.Model):  # type: ignore[name-defined,misc]
    """A person's part in one case: a child (with their own decision and outcome), a parent, the referrer."""

    __tablename__ = "case_person"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    key: Mapped[str] = mapped_column(String(40))  # the key the workflow data uses: child-1, parent-1, referrer
    role: Mapped[str] = mapped_column(String(20))  # child, parent, referrer
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    threshold: Mapped[str | None] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(String(40))
    handover: Mapped[str | None] = mapped_column(String(40))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    case: Mapped[Case] = relationship(back_populates="people")
    person: Mapped[Person] = relationship(lazy="joined")


class CaseEvent(db.Model):  # type: ignore[name-defined,misc]
    """The case timeline: who did what, when, and why — case content, unlike the audit trail."""

    __tablename__ = "case_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    title: Mapped[str] = mapped_column(String(200))
    detail: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [[label, value], ...] in form order
    note: Mapped[str | None] = mapped_column(Text)

    user = relationship("User", lazy="joined")
