"""What is known of a child outside the front door's own contacts: their involvement with children's services,
imported from the council's main record system, and the sounds of their name, kept for searching."""

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.cases import Person
from app.models.types import UTCDateTime, utcnow
from app.models.users import User


class Involvement(db.Model):  # type: ignore[name-defined,misc]
    """One episode of a child's involvement as the main record system holds it: an open case with its allocated
    worker, targeted early help with its lead professional, a past referral, a plan, being looked after.

    The main record system stays the source of truth: a row is matched again by (kind, external_id) on every
    import, so importing the same file twice changes nothing.
    """

    __tablename__ = "involvement"
    __table_args__ = (UniqueConstraint("kind", "external_id", name="uq_involvement_kind_external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    # social_care, targeted_early_help, lado_subject, referral, child_protection_plan, looked_after
    kind: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(10))  # open, closed
    started_on: Mapped[date | None] = mapped_column(Date, index=True)
    ended_on: Mapped[date | None] = mapped_column(Date)
    # The worker as the source system names them; linked to a Compass user when one has that username, so
    # the open-case check can send the contact straight to them (§4.15).
    allocated_worker_username: Mapped[str | None] = mapped_column(String(80))
    allocated_worker_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    team: Mapped[str | None] = mapped_column(String(40))
    worker_name: Mapped[str | None] = mapped_column(String(120))
    external_id: Mapped[str] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(10))  # import, demo
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    person: Mapped[Person] = relationship()
    allocated_worker: Mapped[User | None] = relationship(lazy="joined")


class PersonNamePart(db.Model):  # type: ignore[name-defined,misc]
    """One part of a child's name with its sound, so a search by any part (first name, surname, an initial, a
    misspelling) is an index lookup rather than a pass over every person."""

    __tablename__ = "person_name_part"
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    part: Mapped[str] = mapped_column(String(80), index=True)  # as in Person.name_key: plain lower-case letters
    sound: Mapped[str] = mapped_column(String(8), index=True)

    person: Mapped[Person] = relationship()
