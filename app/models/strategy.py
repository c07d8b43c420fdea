"""The records of strategy discussions: one row per discussion, kept apart from the workflow so the list of
discussions, the conference clock and the figures read it without restoring an instance (§6)."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.cases import Case, CasePerson
from app.models.types import UTCDateTime, utcnow


class StrategyDiscussion(db.Model):  # type: ignore[name-defined,misc]
    """A strategy discussion about one child: arranged (when, chair, who was invited), then held (how, who
    took part, what each agency contributed, the decision with its plan and both agencies' rationale).

    `s47_started_at` is the census s47 start date; the initial child protection conference is due on
    `icpc_due_on`, 15 working days after the discussion that started the enquiry (Working Together).
    """

    __tablename__ = "strategy_discussion"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), index=True)
    # None when a whole case (every child of it) was handed over rather than one child.
    child_id: Mapped[int | None] = mapped_column(ForeignKey("case_person.id"))
    arranged_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    arranged_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    meeting_on: Mapped[date | None] = mapped_column(Date)
    meeting_time: Mapped[str | None] = mapped_column(String(5))
    meeting_place: Mapped[str | None] = mapped_column(Text)
    chair: Mapped[str] = mapped_column(String(20))  # the chair's role: ssw or team_manager (§6.4)
    chair_name: Mapped[str] = mapped_column(String(200), default="")
    missing_or_exploitation: Mapped[bool] = mapped_column(Boolean, default=False)
    invitees: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{agency, name, email, why}]
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    how_held: Mapped[str | None] = mapped_column(String(20))  # in_person, phone, written
    attendees: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{agency, name, email}]
    contributions: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{agency, how, summary}]
    decision: Mapped[str | None] = mapped_column(String(30))  # STRATEGY_DECISIONS
    s47: Mapped[bool] = mapped_column(Boolean, default=False)
    police_investigation: Mapped[bool] = mapped_column(Boolean, default=False)
    plan: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # contact_parent, interview_child, other_children
    agreed_actions: Mapped[str | None] = mapped_column(Text)
    rationale_social_care: Mapped[str | None] = mapped_column(Text)
    rationale_police: Mapped[str | None] = mapped_column(Text)
    s47_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    icpc_due_on: Mapped[date | None] = mapped_column(Date, index=True)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    case: Mapped[Case] = relationship(lazy="joined")
    child: Mapped[CasePerson | None] = relationship(lazy="joined")
