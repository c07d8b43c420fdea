"""A process owner's work on a flow before and after it runs: the draft being edited, and each move of a
running case from one version of its flow to another."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class ProcessDraft(db.Model):  # type: ignore[name-defined,misc]
    """The next version of a flow while it is being edited: one per flow, shared by its process owners.

    Nothing runs on a draft. It becomes a version (a ProcessBundle) only when it is deployed, and its
    `version` column makes two owners saving over each other's work an error they are told about.
    """

    __tablename__ = "process_draft"
    id: Mapped[int] = mapped_column(primary_key=True)
    flow: Mapped[str] = mapped_column(String(80), unique=True)
    files: Mapped[dict[str, str]] = mapped_column(JSON)  # file name -> BPMN XML
    forms: Mapped[dict[str, Any]] = mapped_column(JSON)  # form id -> JSON Schema
    # The version it was started from: what "changed since" and the version diff compare against.
    base_bundle_id: Mapped[int | None] = mapped_column(ForeignKey("process_bundle.id"))
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # The last replay of the scenarios and recent closed cases, and the content hash it ran against: a
    # deploy needs a replay of exactly what is deployed.
    replay_hash: Mapped[str | None] = mapped_column(String(64))
    replay_report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads it as a class attribute)


class InstanceMigration(db.Model):  # type: ignore[name-defined,misc]
    """One running flow moved to another version, with what it was before, so the move can be undone."""

    __tablename__ = "instance_migration"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    flow: Mapped[str] = mapped_column(String(80))
    from_bundle_id: Mapped[int] = mapped_column(ForeignKey("process_bundle.id"))
    to_bundle_id: Mapped[int] = mapped_column(ForeignKey("process_bundle.id"))
    # The saved workflow as it was, byte for byte (ENGINE-NOTES.md: its key order matters), and its version.
    state_before: Mapped[str] = mapped_column(Text)
    version_before: Mapped[int] = mapped_column(Integer)
    # The instance's version right after the move: undoing is refused once the case has moved on from it.
    version_after: Mapped[int] = mapped_column(Integer)
    changes: Mapped[list[str]] = mapped_column(JSON, default=list)  # what changed for this case, in words
    migrated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    migrated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reverted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reverted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
