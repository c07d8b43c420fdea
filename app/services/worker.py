"""The background worker's work: wake each instance whose timer is due and run what follows, and deliver
the outbox's due e-mails (app/services/delivery.py).

On PostgreSQL due instances are claimed with FOR UPDATE SKIP LOCKED, so several workers share the load
and never fire the same timer twice; the instance's version column guards the rest.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from app.extensions import db
from app.models import ProcessInstance
from app.models.types import utcnow
from app.services import workflow

# The longest the worker sleeps between passes (it wakes sooner when a timer is due sooner).
POLL_INTERVAL = 5.0
# Instances woken in one pass, each in its own transaction; the worker goes again at once after a full one.
BATCH = 100


def _due(now: datetime, limit: int) -> list[int]:
    query = (
        select(ProcessInstance.id)
        .where(ProcessInstance.status == "running", ProcessInstance.next_wake_at <= now)
        .order_by(ProcessInstance.next_wake_at)
        .limit(limit)
    )
    ids = list(db.session.scalars(query))
    db.session.rollback()
    return ids


def wake_due(now: datetime | None = None, limit: int = BATCH) -> int:
    """One pass: wake every due instance, each in its own transaction. Returns how many were woken."""
    now = now or utcnow()
    woken = 0
    for instance_id in _due(now, limit):
        try:
            woken += _wake(instance_id, now)
            db.session.commit()
        except StaleDataError:
            db.session.rollback()  # a user or another worker moved it on first; it is looked at again next pass
        except Exception:
            db.session.rollback()
            raise
    return woken


def seconds_to_next_wake(now: datetime | None = None) -> float | None:
    """How long until the next instance's timer is due (0 when one is due already), or None when none waits:
    the worker sleeps until then rather than a whole interval, so a timer fires close to its moment."""
    now = now or utcnow()
    soonest = db.session.scalar(
        select(ProcessInstance.next_wake_at)
        .where(ProcessInstance.status == "running", ProcessInstance.next_wake_at.is_not(None))
        .order_by(ProcessInstance.next_wake_at)
        .limit(1)
    )
    db.session.rollback()
    if soonest is None:
        return None
    return max(0.0, (soonest - now).total_seconds())


def work_once(now: datetime | None = None) -> tuple[int, int]:
    """One pass of the worker: wake due instances, record the clocks that have just been missed, then
    deliver due e-mails (which a woken step may have just queued). Returns (instances woken, e-mails
    delivered)."""
    from app.services import clocks, delivery

    now = now or utcnow()
    woken = wake_due(now)
    clocks.sweep(now)
    return woken, delivery.deliver_due(now)


def _wake(instance_id: int, now: datetime) -> int:
    query = select(ProcessInstance).where(
        ProcessInstance.id == instance_id,
        ProcessInstance.status == "running",
        ProcessInstance.next_wake_at <= now,
    )
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=ProcessInstance)
    instance = db.session.scalar(query)
    if instance is None:
        return 0  # claimed by another worker, or no longer due
    workflow.fire_timers(instance)
    return 1
