"""Drafts: a person's unsent answers to one form, saved as they type (DESIGN.md rule 5).

A draft is a personal working copy in a table of its own: the engine never reads it, no audit event is
written for it, and it is keyed on the engine's task UUID with no foreign key, so the task mirror can be
rewritten without ever touching a draft.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class Draft(db.Model):  # type: ignore[name-defined,misc]
    """One user's draft of one form: a task's form, or the start form of a new contact.

    `key` carries the uniqueness ("task:<uuid>", "contact:new", "contact:reopen:<case id>"): a unique
    constraint over a NULL task_id would let duplicates in on both SQLite and PostgreSQL.
    """

    __tablename__ = "draft"
    __table_args__ = (UniqueConstraint("user_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    # No index of its own: the unique (user_id, key) constraint starts with it.
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    key: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(20))  # task, contact
    task_id: Mapped[str | None] = mapped_column(String(36), index=True)  # the engine's task UUID
    form_id: Mapped[str] = mapped_column(String(120))
    # None once the form was sent: the row then only remembers which page sent it (page_id), so a save
    # from that page still on its way cannot bring the answers back as a draft.
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    page_id: Mapped[str | None] = mapped_column(String(36))
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
