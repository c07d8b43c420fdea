"""Sealing audit events into their chains as their transaction commits, and checking every chain.

An event is added to the session like any other row (so a rolled-back savepoint takes its events with it);
just before the transaction commits, each new event gets its chain's next sequence number, the hash of the
event before it, and its own hash over everything it says. The chain heads are locked in one fixed order,
at the very end of the transaction, so writers never deadlock on them and hold them only for the commit.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from sqlalchemy import event, inspect, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, SessionTransaction

from app.extensions import db
from app.models import AuditChain, AuditEvent, Case

_HEADS = AuditChain.__table__  # written with plain statements: nothing reads a head as an object while sealing
NEW_EVENTS = "audit_new_events"  # the key in Session.info of the events this transaction recorded
SYSTEM_CHAIN = "system"


def chain_of(case_id: int | None) -> str:
    return f"case:{case_id}" if case_id is not None else SYSTEM_CHAIN


def event_hash(chain: str, seq: int, prev_hash: str, row: AuditEvent | dict[str, Any]) -> str:
    """SHA-256 over the event's every field and the hash before it, in one canonical spelling."""
    fields = row if isinstance(row, dict) else _fields(row)
    body = {"chain": chain, "seq": seq, "prev": prev_hash, **fields}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _fields(row: AuditEvent) -> dict[str, Any]:
    return {
        "name": row.name,
        # Microseconds in UTC: what both databases give back exactly as it was stored.
        "at": row.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f"),
        "user_id": row.user_id,
        "case_id": row.case_id,
        "task_id": row.task_id,
        "data": row.data or {},
    }


def remember(session: Session, row: AuditEvent) -> None:
    session.info.setdefault(NEW_EVENTS, []).append(row)


@event.listens_for(Session, "before_commit")
def _seal(session: Session) -> None:
    if not session.info.get(NEW_EVENTS):
        return
    session.flush()
    waiting = [row for row in session.info.pop(NEW_EVENTS) if inspect(row).persistent and row.hash is None]
    by_chain: dict[str, list[AuditEvent]] = defaultdict(list)
    for row in sorted(waiting, key=lambda r: r.id):
        by_chain[chain_of(row.case_id)].append(row)
    for key in sorted(by_chain):
        seq, last_hash = _locked_head(session, key)
        for row in by_chain[key]:
            seq += 1
            row.chain, row.seq, row.prev_hash = key, seq, last_hash
            row.hash = last_hash = event_hash(key, seq, last_hash, row)
        session.execute(update(_HEADS).where(_HEADS.c.key == key).values(seq=seq, last_hash=last_hash))
    session.flush()


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(NEW_EVENTS, None)


def _locked_head(session: Session, key: str) -> tuple[int, str]:
    """The chain's head (made, for a new chain), locked until the transaction ends, as it stands once the
    lock is ours. One statement: when the head exists, the insert touches it instead (setting nothing new),
    which locks it and waits for any other writer of the chain just as SELECT ... FOR UPDATE would."""
    dialect = session.get_bind().dialect.name
    maker = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = maker(_HEADS).values(key=key, seq=0, last_hash="")
    upsert = upsert.on_conflict_do_update(index_elements=[_HEADS.c.key], set_={"seq": _HEADS.c.seq})
    seq, last_hash = session.execute(upsert.returning(_HEADS.c.seq, _HEADS.c.last_hash)).one()
    return seq, last_hash


@dataclass
class ChainReport:
    chains: int = 0
    events: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def verify() -> ChainReport:
    """Walk every chain from its first event: sequence unbroken, each hash linking to the one before and
    matching what the event says, and the head agreeing with the last event. Events never sealed are
    reported too."""
    report = ChainReport()
    heads = {head.key: head for head in db.session.scalars(select(AuditChain))}
    for key in sorted(heads):
        report.chains += 1
        head = heads[key]
        seq, last = 0, ""
        for row in _events_of(key):
            report.events += 1
            seq += 1
            if row.seq != seq:
                report.problems.append(f"{key}: event {row.id} is number {row.seq}, expected {seq} (one is missing)")
                seq = row.seq or seq
            if row.prev_hash != last:
                report.problems.append(f"{key}: event {row.id} does not follow the event before it")
            if row.hash != event_hash(key, row.seq or 0, row.prev_hash or "", row):
                report.problems.append(f"{key}: event {row.id} was changed after it was recorded")
            last = row.hash or ""
        if (head.seq, head.last_hash) != (seq, last):
            report.problems.append(f"{key}: the chain should end at event number {head.seq}; it ends at {seq}")
    # A chain ends only when its case is deleted at the end of retention, which the system chain records; a
    # case still here must have its chain (its first event, CASE_CREATED, is written with the case).
    ended = {
        int(event.data["deleted_case_id"])
        for event in db.session.scalars(select(AuditEvent).where(AuditEvent.name == "CASE_DELETED_AT_RETENTION"))
    }
    for case_id in ended:
        if chain_of(case_id) in heads:
            report.problems.append(f"{chain_of(case_id)}: deleted at retention, yet its chain goes on")
    for case_id in db.session.scalars(select(Case.id).order_by(Case.id)):
        if chain_of(case_id) not in heads:
            report.problems.append(f"case {case_id} has no chain of audit events: its history was removed")
    unsealed = db.session.scalars(select(AuditEvent.id).where(AuditEvent.hash.is_(None)).order_by(AuditEvent.id))
    report.problems += [f"event {event_id} is in no chain" for event_id in unsealed]
    orphans = db.session.scalars(select(AuditEvent.chain).where(AuditEvent.chain.not_in(list(heads))).distinct())
    report.problems += [f"{key}: events without the chain's head" for key in orphans]
    return report


def _events_of(key: str) -> Iterator[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.chain == key).order_by(AuditEvent.seq)
    yield from db.session.scalars(query.execution_options(yield_per=1000))
