"""The records of information requests from external agencies (§12): what was asked, why, on which ground,
the decision and exactly what was disclosed. Together they are the register and audit trail §12.3 asks for.
"""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.cases import Case
from app.models.types import UTCDateTime, utcnow


class InformationRequest(db.Model):  # type: ignore[name-defined,misc]
    """One agency's request for information about one or more people, and how it was answered."""

    __tablename__ = "information_request"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), unique=True)
    agency: Mapped[str] = mapped_column(String(20), index=True)  # INFORMATION_REQUEST_AGENCIES
    agency_name: Mapped[str | None] = mapped_column(String(200))  # which authority or agency, when "other"
    requester_name: Mapped[str] = mapped_column(String(200))
    requester_email: Mapped[str] = mapped_column(String(320))
    asked: Mapped[str] = mapped_column(Text)  # exactly what information they want
    why: Mapped[str] = mapped_column(Text)  # the justification the third party gave (§12.3)
    ground: Mapped[str] = mapped_column(String(20), index=True)  # INFORMATION_REQUEST_GROUNDS
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Business support's routine checks: what Compass's records hold (§12.2).
    records_summary: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The senior social worker's decision.
    proportionate: Mapped[bool | None] = mapped_column(Boolean)
    decision: Mapped[str | None] = mapped_column(String(20), index=True)  # disclose_all, disclose_part, refuse
    rationale: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # On the individual's consent: as recorded before anything is disclosed (given, refused, not_received).
    consent: Mapped[str | None] = mapped_column(String(20))
    consent_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What went to the requester: the text exactly as sent, or the refusal and the reason they were given.
    disclosed_text: Mapped[str | None] = mapped_column(Text)
    disclosed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    refusal_reason: Mapped[str | None] = mapped_column(Text)
    refused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    case: Mapped[Case] = relationship(lazy="joined")

    @property
    def status(self) -> str:
        """Where the request stands: disclosed, refused, awaiting consent, awaiting decision, or in checks."""
        if self.disclosed_at is not None:
            return "disclosed"
        if self.refused_at is not None:
            return "refused"
        if self.decision is not None:
            return "awaiting_consent"  # a disclosure on consent waits for it to be recorded
        if self.checked_at is not None:
            return "awaiting_decision"
        return "checks"
