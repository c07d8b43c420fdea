"""Statutory clocks: every task the diagram gives a due time runs a clock, kept after the task is done.

A clock starts when its task becomes ready, is met when the task is done (late, if after its due time),
stops when the flow goes on without it (a chase no longer needed), and is missed the moment an open task
passes its due time: the worker notices, records the breach once as an audit event and on the case
timeline. A task done late before the worker noticed is recorded as missed when it is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update

from app.engine.runtime import ReadyTask
from app.extensions import db
from app.models import ProcessInstance, TaskClock
from app.models.types import utcnow
from app.services import audit, plain_sql, timeline
from app.services.trays import LONDON, rag


def start(instance: ProcessInstance, task: ReadyTask) -> None:
    """A clock for a task that has just become ready, when the diagram gives it a due time."""
    if task.due_at is None:
        return
    if db.session.scalar(select(TaskClock.id).where(TaskClock.task_id == task.id)) is not None:
        return  # the mirror was rebuilt: the clock already runs
    db.session.add(
        TaskClock(
            task_id=task.id,
            case_id=instance.case_id,
            instance_id=instance.id,
            flow=task.flow,
            bpmn_id=task.bpmn_id,
            name=task.name,
            subject=task.subject[:200],
            lane=task.lane or "",
            due_at=task.due_at,
        )
    )


def finish(task_id: str, completed: bool, user_id: int | None) -> None:
    """The task left the mirror: done by someone (`completed`), or passed by as the flow went on."""
    now = utcnow()
    held = _held(task_id)
    if held is None:
        # The usual case: no one has read the clock in this transaction. One statement finishes it, if it is
        # still running, and says when it was due; only a clock done late is read whole, to record its miss.
        done = _MET if completed else _STOPPED
        found = plain_sql.run(done, {"clock_task_id": task_id, "now": now}).first()
        if found is not None and completed and now > found.due_at and found.missed_at is None:
            clock = db.session.get(TaskClock, found.id)
            if clock is not None:
                _record_miss(clock, now, user_id)
        return
    if held.met_at is not None or held.stopped_at is not None:
        return
    if not completed:
        held.stopped_at = now
        return
    held.met_at = now
    if now > held.due_at and held.missed_at is None:
        _record_miss(held, now, user_id)


def _held(task_id: str) -> TaskClock | None:
    """The task's clock if this transaction holds it already (read or started): then it is changed as an object,
    so what the session holds and what is written never differ."""
    for row in (*db.session.identity_map.values(), *db.session.new):
        if isinstance(row, TaskClock) and row.task_id == task_id:
            return row
    return None


_CLOCKS = TaskClock.__table__
_RUNNING = (_CLOCKS.c.task_id == bindparam("clock_task_id"), _CLOCKS.c.met_at.is_(None), _CLOCKS.c.stopped_at.is_(None))


def _finishing(column: str) -> Any:
    """Set the moment a running clock ended (met or stopped), giving back what a miss needs to know."""
    ending = update(_CLOCKS).where(*_RUNNING).values({column: bindparam("now")})
    return ending.returning(_CLOCKS.c.id, _CLOCKS.c.due_at, _CLOCKS.c.missed_at)


_MET, _STOPPED = _finishing("met_at"), _finishing("stopped_at")


def stop_all(case_id: int) -> None:
    """Stop every open clock of a case (voided: recorded in error)."""
    now = utcnow()
    for clock in db.session.scalars(
        select(TaskClock).where(
            TaskClock.case_id == case_id, TaskClock.met_at.is_(None), TaskClock.stopped_at.is_(None)
        )
    ):
        clock.stopped_at = now


def sweep(now: datetime | None = None) -> int:
    """Record every open clock that has passed its due time and is not yet recorded as missed."""
    now = now or utcnow()
    due = db.session.scalars(
        select(TaskClock)
        .where(
            TaskClock.due_at <= now,
            TaskClock.missed_at.is_(None),
            TaskClock.met_at.is_(None),
            TaskClock.stopped_at.is_(None),
        )
        .order_by(TaskClock.due_at)
        .limit(500)
    ).all()
    for clock in due:
        _record_miss(clock, now, None)
    db.session.commit()
    return len(due)


def _record_miss(clock: TaskClock, now: datetime, user_id: int | None) -> None:
    clock.missed_at = now
    audit.record("CLOCK_MISSED", user_id, case_id=clock.case_id, task_id=clock.task_id)
    about = f": {clock.subject}" if clock.subject else ""
    due = clock.due_at.astimezone(LONDON).strftime("%-d %B %Y at %H:%M")
    timeline.add(clock.case_id, None, f"Missed its time: {clock.name}{about}", [["Due by", due]], flow=clock.flow)


@dataclass(frozen=True)
class ClockView:
    flow: str
    name: str
    subject: str
    started_at: datetime
    due_at: datetime
    done_at: datetime | None
    status: str  # the words on its tag
    colour: str  # red, amber, green, grey
    left: str  # time left, or how late


def for_case(case_id: int, now: datetime | None = None) -> list[ClockView]:
    """Every clock of a case, open ones first (soonest due first), then the finished ones."""
    now = now or utcnow()
    clocks = db.session.scalars(select(TaskClock).where(TaskClock.case_id == case_id).order_by(TaskClock.due_at))
    views = [_view(c, now) for c in clocks]
    return sorted(views, key=lambda v: (v.done_at is not None, v.due_at))


def _view(clock: TaskClock, now: datetime) -> ClockView:
    if clock.stopped_at is not None:
        status, colour, left, done = "Not needed", "grey", "", clock.stopped_at
    elif clock.met_at is not None:
        late = clock.met_at > clock.due_at
        status, colour = ("Met late", "red") if late else ("Met", "green")
        left, done = (f"{_span(clock.met_at - clock.due_at)} late" if late else ""), clock.met_at
    else:
        status, colour, left = open_clock(clock.due_at, now)
        done = None
    return ClockView(clock.flow, clock.name, clock.subject, clock.started_at, clock.due_at, done, status, colour, left)


def open_clock(due_at: datetime, now: datetime) -> tuple[str, str, str]:
    """How an open clock stands: its tag's words, colour, and the time left or how overdue it is."""
    colour = rag(due_at, now) or "green"
    status = {"red": "Overdue", "amber": "Due soon", "green": "On time"}[colour]
    left = f"{_span(now - due_at)} overdue" if colour == "red" else f"{_span(due_at - now)} left"
    return status, colour, left


def _span(delta: timedelta) -> str:
    """A length of time as a person would say it: "2 days 3 hours", "45 minutes"."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour")] if days else [(hours, "hour"), (mins, "minute")]
    words = [f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n]
    return " ".join(words) or "less than a minute"
