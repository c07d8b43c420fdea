"""Cases (a contact about one or more children), the people in them, and the case timeline."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class Case(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "case_record"
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open, closed
    source: Mapped[str] = mapped_column(String(20))  # phone, marf
    # Who made the contact, as a census referral source code (app/referral_sources.py).
    referral_source: Mapped[str | None] = mapped_column(String(3), index=True)
    # concern, early_help (a request for early help advice or support), notification, pprc
    request_type: Mapped[str] = mapped_column(String(20), default="concern")
    disabled_childrens_team: Mapped[bool] = mapped_column(Boolean, default=False)
    concern: Mapped[str] = mapped_column(Text, default="")
    immediate_protection: Mapped[bool | None] = mapped_column()
    consent: Mapped[str | None] = mapped_column(String(20))  # given, refused, not_obtained (at intake)
    # Indexed: the figures and the dashboard count contacts made in a period.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A phone referral from a professional is followed by the written MARF; a referral waits for it (§4.16).
    marf_expected: Mapped[bool] = mapped_column(Boolean, default=False)
    marf_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Recorded in error: left out of every figure, kept for the record (DOMAIN.md "Records").
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    void_reason: Mapped[str | None] = mapped_column(Text)
    # Re-opening a closed contact starts a new contact linked to the old one.
    reopened_from_id: Mapped[int | None] = mapped_column(ForeignKey("case_record.id"))
    # A restricted record (a member of staff's own family, say) is kept out of search and trays, and
    # anyone opening it gives a reason first (app/services/restricted.py).
    restricted: Mapped[bool] = mapped_column(Boolean, default=False, index=True)

    people: Mapped[list["CasePerson"]] = relationship(
        back_populates="case", order_by="CasePerson.id", cascade="all, delete-orphan"
    )
    events: Mapped[list["CaseEvent"]] = relationship(order_by="CaseEvent.id", cascade="all, delete-orphan")
    referrals: Mapped[list["Referral"]] = relationship(order_by="Referral.id", cascade="all, delete-orphan")
    consents: Mapped[list["Consent"]] = relationship(order_by="Consent.id", cascade="all, delete-orphan")
    handovers: Mapped[list["Handover"]] = relationship(order_by="Handover.id", cascade="all, delete-orphan")

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
    address: Mapped[str | None] = mapped_column(Text)
    postcode: Mapped[str | None] = mapped_column(String(10), index=True)  # upper case, single space
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Found to be the same person as another record: kept for its history, no longer found by search.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)


class CasePerson(db.Model):  # type: ignore[name-defined,misc]
    """A person's part in one case: a child (with their own decision and outcome), a parent, the referrer."""

    __tablename__ = "case_person"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    key: Mapped[str] = mapped_column(String(40))  # the key the workflow data uses: child-1, parent-1, referrer
    role: Mapped[str] = mapped_column(String(20))  # child, parent, household, alleged_perpetrator, referrer
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    threshold: Mapped[str | None] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(String(40))
    handover: Mapped[str | None] = mapped_column(String(40))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    case: Mapped[Case] = relationship(back_populates="people")
    person: Mapped[Person] = relationship(lazy="joined")


class PersonRelationship(db.Model):  # type: ignore[name-defined,misc]
    """How one person stands to another (a child's mother, a household member, an alleged perpetrator), as a
    contact recorded it; the contact is kept so each relationship can be traced to where it was said."""

    __tablename__ = "person_relationship"
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)  # the parent, carer, member
    child_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    described_as: Mapped[str] = mapped_column(String(100))  # in the contact's words: "Mother", "Lodger"
    role: Mapped[str] = mapped_column(String(20))  # parent, household, alleged_perpetrator
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_record.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    person: Mapped[Person] = relationship(foreign_keys=[person_id], lazy="joined")
    child: Mapped[Person] = relationship(foreign_keys=[child_id], lazy="joined")
    case: Mapped["Case | None"] = relationship()


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
    # The flow whose step wrote it: a need-to-know flow's entries (a LADO allegation) are shown only to
    # that flow's readers.
    flow: Mapped[str | None] = mapped_column(String(80))

    user = relationship("User", lazy="joined")


class Referral(db.Model):  # type: ignore[name-defined,misc]
    """A child's contact accepted as a referral (§4.16): a record apart from the contact, with its own outcome.

    `accepted_at` is the census referral date and starts the one-working-day clock. It stays empty while the
    referral waits for the written MARF; a strategy discussion is accepted at once.
    """

    __tablename__ = "referral"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("case_person.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    threshold: Mapped[str] = mapped_column(String(20))  # s17, s47
    route: Mapped[str] = mapped_column(String(30))  # consent_given, strategy_discussion, pprc_assessment
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    waiting_for: Mapped[str | None] = mapped_column(String(20))  # marf
    re_referral: Mapped[bool] = mapped_column(Boolean, default=False)
    previous_referral_on: Mapped[date | None] = mapped_column(Date)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(40))  # REFERRAL_OUTCOMES
    outcome_rationale: Mapped[str | None] = mapped_column(Text)
    next_steps: Mapped[str | None] = mapped_column(Text)
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    child: Mapped[CasePerson] = relationship(lazy="joined")


class Consent(db.Model):  # type: ignore[name-defined,misc]
    """One person's consent as it stood at a moment: given, refused or withdrawn (§3.2, §7).

    Consent changes over time, so each change is a new row; the latest row per person is what is in force.
    A young person may give their own consent (§7.7), recorded with why their parents are not asked.
    """

    __tablename__ = "consent_record"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    case_person_id: Mapped[int] = mapped_column(ForeignKey("case_person.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))  # given, refused, withdrawn, not_reached
    how: Mapped[str | None] = mapped_column(String(20))  # phone, in_person, in_writing, by_referrer
    own_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    person: Mapped[CasePerson] = relationship(lazy="joined")


class Handover(db.Model):  # type: ignore[name-defined,misc]
    """Work handed from one flow to another (initial contact -> MAT, strategy discussion, LADO; MAT ->
    strategy discussion; domestic-abuse triage -> referral or strategy discussion).

    Each hand-over starts its own process instance on the same case (DESIGN.md rule 3); a hand-over to a
    flow with no live version waits here, visible on the case.
    """

    __tablename__ = "handover"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    child_id: Mapped[int | None] = mapped_column(ForeignKey("case_person.id"))
    flow: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="waiting")  # waiting, started
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))  # the episode it started
    # The flow episode that handed over, so a case's flows read as a chain (initial contact -> MAT -> ...).
    from_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CaseAccessReason(db.Model):  # type: ignore[name-defined,misc]
    """Why someone restricted a record, lifted the restriction, or opened a restricted record. The reason is
    free text, so it lives here rather than in the audit trail, whose events point at it by id."""

    __tablename__ = "case_access_reason"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # restricted, lifted, opened
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class SharingRecord(db.Model):  # type: ignore[name-defined,misc]
    """One step that shared information about a family, and its lawful basis: the consent in force for each
    parent at that moment (ids and status), or the ground for sharing without it, with the rationale."""

    __tablename__ = "sharing_record"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    flow: Mapped[str] = mapped_column(String(80))
    task_id: Mapped[str | None] = mapped_column(String(36))
    what: Mapped[str] = mapped_column(String(200))
    basis: Mapped[str] = mapped_column(String(40))  # sharing.BASES
    consents: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    rationale: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class RetentionReview(db.Model):  # type: ignore[name-defined,misc]
    """A service manager's decision on a record past its retention time: kept until a later date, or
    deleted. Kept after the record itself is deleted (by its reference, with no link to the gone case)."""

    __tablename__ = "retention_review"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(index=True)  # no foreign key: the case may be gone
    reference: Mapped[str] = mapped_column(String(20))
    decision: Mapped[str] = mapped_column(String(10))  # keep, delete
    reason: Mapped[str] = mapped_column(Text)
    keep_until: Mapped[date | None] = mapped_column(Date)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
