"""Diagram bundles, the live version of each flow, process instances and the task mirror."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class ProcessBundle(db.Model):  # type: ignore[name-defined,misc]
    """One version of a flow: its diagram files and forms, stored once by content hash."""

    __tablename__ = "process_bundle"
    # A version's number names it in the history, the diff and the downloads: never two of one flow alike.
    __table_args__ = (Index("ix_process_bundle_flow_number", "flow", "number", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True)
    flow: Mapped[str] = mapped_column(String(80), index=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Deferred: a parsed bundle is cached by hash, so most requests never need the files themselves.
    files: Mapped[dict[str, str]] = mapped_column(JSON, deferred=True)  # file name -> BPMN XML
    forms: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)  # form id -> JSON Schema
    note: Mapped[str] = mapped_column(Text, default="")
    # 1, 2, 3… within its flow, in the order the versions were stored: what process owners call it.
    number: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class LiveBundle(db.Model):  # type: ignore[name-defined,misc]
    """Which bundle new cases of a flow start on; a deploy changes this row."""

    __tablename__ = "live_bundle"
    flow: Mapped[str] = mapped_column(String(80), primary_key=True)
    bundle_id: Mapped[int] = mapped_column(ForeignKey("process_bundle.id"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    bundle: Mapped[ProcessBundle] = relationship()


class ProcessInstance(db.Model):  # type: ignore[name-defined,misc]
    """One flow episode of a case, pinned to the bundle it started on."""

    __tablename__ = "process_instance"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    bundle_id: Mapped[int] = mapped_column(ForeignKey("process_bundle.id"))
    flow: Mapped[str] = mapped_column(String(80))
    # running, completed, failed, cancelled (contact voided); indexed for the few failed among years of finished
    status: Mapped[str] = mapped_column(String(20), default="running", index=True)
    # Text, never jsonb: the saved state depends on the order of its keys (ENGINE-NOTES.md).
    state: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    tree_depth: Mapped[int] = mapped_column(Integer, default=0)
    next_wake_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    failure: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    bundle: Mapped[ProcessBundle] = relationship()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads it as a class attribute)


class Task(db.Model):  # type: ignore[name-defined,misc]
    """A ready user task, mirrored from the engine so trays never deserialize a workflow."""

    __tablename__ = "task"
    # The dashboard's order, overdue first (app/services/dashboard.py): a page of fifty is read from the front
    # of this index rather than all the open work being sorted for it.
    __table_args__ = (Index("ix_task_due_order", "due_at", "created_at", "id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the engine's task UUID
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    flow: Mapped[str] = mapped_column(String(80))
    bpmn_id: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(200), default="")  # e.g. the child a per-child task is about
    form_id: Mapped[str | None] = mapped_column(String(120))
    lane: Mapped[str] = mapped_column(String(40), index=True)
    team: Mapped[str | None] = mapped_column(String(40), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # when the assignee claimed (or was given) it
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The case's own, copied when the task appears (neither ever changes), so the managers' dashboard filters
    # the open work by when and by whom the contact was made from this table alone, rather than looking up
    # each open task's case once for every count on the page.
    contact_made_at: Mapped[datetime] = mapped_column(UTCDateTime())
    referral_source: Mapped[str | None] = mapped_column(String(3))

    # Loaded with a second query by id, not joined: a tray sorts and pages thousands of tasks, and a join would
    # make the database match every one of them to its case before keeping a page of 25.
    case = relationship("Case", lazy="selectin")
    # Read only: acting on a task loads its instance and bundle with it, and keeps them for the request.
    instance: Mapped[ProcessInstance] = relationship(viewonly=True)


class TaskClock(db.Model):  # type: ignore[name-defined,misc]
    """A statutory clock: a task that must be done by a moment the diagram sets (its `taskDue`).

    Kept after the task is done, unlike the task mirror, so a case shows every clock it has run: met, met
    late, missed while still open, or stopped because the flow went another way.
    """

    __tablename__ = "task_clock"
    # The clocks still running, by due time: the worker looks for the ones past due on every pass, and years of
    # finished clocks must not stand in its way.
    __table_args__ = (
        Index(
            "ix_task_clock_running_due_at",
            "due_at",
            postgresql_where=text("met_at IS NULL AND stopped_at IS NULL AND missed_at IS NULL"),
            sqlite_where=text("met_at IS NULL AND stopped_at IS NULL AND missed_at IS NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36), unique=True)  # the engine's task UUID
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    flow: Mapped[str] = mapped_column(String(80))
    bpmn_id: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(200), default="")
    lane: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    met_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the task was done (on time or late)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the flow went on without it
    # When the breach was recorded: the worker notices an open task past its time, or it is done late.
    missed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
