"""The records of Multi Agency Triage: each child's MAT decision, kept apart from the workflow so the
triage list and the figures read it without restoring an instance (§5)."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.cases import CasePerson
from app.models.types import UTCDateTime, utcnow


class MatDecision(db.Model):  # type: ignore[name-defined,misc]
    """The meeting's joint decision for one child (no action, strategy discussion, further checks), and the
    final decision social care makes after further checks."""

    __tablename__ = "mat_decision"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("case_person.id"))
    meeting_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the meeting the child was taken to
    outcome: Mapped[str] = mapped_column(String(40))  # no_action, strategy_discussion, further_checks
    rationale: Mapped[str] = mapped_column(Text)
    # The defensible decision to override parental consent, required for further checks (§5.1).
    consent_override_reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)  # the figures' period
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # After further checks: one of the contact outcomes, or strategy_discussion.
    final_outcome: Mapped[str | None] = mapped_column(String(40))
    final_rationale: Mapped[str | None] = mapped_column(Text)
    final_decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    final_decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    child: Mapped[CasePerson] = relationship(lazy="joined")
