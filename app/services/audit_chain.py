"""Sealing audit events into their chains as their transaction commits, and checking every chain.

An event is added to the session like any other row (so a rolled-back savepoint takes its events with it);
just before the transaction commits, each new event gets its chain's next sequence number, the hash of the
event before it, and its own hash over everything it says (those not written by then are written sealed, all
in one statement, rather than written and then sealed). The chain heads are locked in one fixed order,
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

from sqlalchemy import bindparam, event, insert, inspect, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.attributes import set_committed_value

from app.extensions import db
from app.models import AuditChain, AuditEvent, Case
from app.models.types import utcnow
from app.services import plain_sql

_HEADS = AuditChain.__table__  # written with plain statements: nothing reads a head as an object while sealing
_EVENTS = AuditEvent.__table__
_RECORDED = ("name", "at", "user_id", "case_id", "task_id", "data")  # what an event says; the seal is added
_SEAL_EVENT = (
    update(_EVENTS)
    .where(_EVENTS.c.id == bindparam("event_id"), _EVENTS.c.hash.is_(None))
    .values(
        chain=bindparam("new_chain"),
        seq=bindparam("new_seq"),
        prev_hash=bindparam("new_prev_hash"),
        hash=bindparam("new_hash"),
    )
)
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


# First of the listeners before a commit, whatever was imported first: the events are taken out before any
# other listener's flush would write them unsealed (to be sealed by a second statement each).
@event.listens_for(Session, "before_commit", insert=True)
def _seal(session: Session) -> None:
    if not session.info.get(NEW_EVENTS):
        return
    # An event not written yet stays out of the flush of everything else, to be written once, sealed, with the
    # others like it in one statement; one a query's flush has written already is sealed where it is.
    unwritten = _take_unwritten(session)
    session.flush()
    unwritten += _take_unwritten(session)  # recorded while flushing
    recorded = session.info.pop(NEW_EVENTS)
    written = sorted((row for row in recorded if inspect(row).persistent and row.hash is None), key=lambda r: r.id)
    by_chain: dict[str, list[AuditEvent]] = defaultdict(list)
    # In the order they were recorded: a flush writes every event recorded before it, so those written came first.
    for row in [*written, *unwritten]:
        by_chain[chain_of(row.case_id)].append(row)
    seals: list[dict[str, Any]] = []  # for the events written already
    fresh: dict[int, dict[str, Any]] = {}  # the seals of the events still to write, by object
    for key in sorted(by_chain):
        seq, last_hash = _locked_head(session, key)
        for row in by_chain[key]:
            seq += 1
            prev_hash, last_hash = last_hash, event_hash(key, seq, last_hash, row)
            seal = {"chain": key, "seq": seq, "prev_hash": prev_hash, "hash": last_hash}
            if inspect(row).persistent:
                # The row says what is written for it, without being a change for the session to flush again.
                for name, value in seal.items():
                    set_committed_value(row, name, value)
                seals.append({"event_id": row.id, **{f"new_{name}": value for name, value in seal.items()}})
            else:
                fresh[id(row)] = seal
        plain_sql.run(_MOVE_HEAD, {"head_key": key, "new_seq": seq, "new_last_hash": last_hash}, session)
    if unwritten:  # in the order recorded, as a flush would have written them
        rows = [{**{name: getattr(row, name) for name in _RECORDED}, **fresh[id(row)]} for row in unwritten]
        plain_sql.run(_WRITE_EVENTS, rows, session)
    if seals:
        # Every seal in one statement on the table: a second flush of the events costs more than the writing.
        count = plain_sql.run(_SEAL_EVENT, seals, session).rowcount
        if session.get_bind().dialect.supports_sane_multi_rowcount and count != len(seals):
            raise RuntimeError(f"{len(seals)} audit events were to be sealed, but {count} were")


def _take_unwritten(session: Session) -> list[AuditEvent]:
    """The events recorded and not yet written, taken out of the session (with what a flush would fill in)."""
    rows = [row for row in session.info.get(NEW_EVENTS, []) if inspect(row).pending]
    for row in rows:
        session.expunge(row)
        row.at = row.at or utcnow()
        row.data = row.data if row.data is not None else {}
    return rows


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(NEW_EVENTS, None)


def _locked_head(session: Session, key: str) -> tuple[int, str]:
    """The chain's head (made, for a new chain), locked until the transaction ends, as it stands once the
    lock is ours. One statement: when the head exists, the insert touches it instead (setting nothing new),
    which locks it and waits for any other writer of the chain just as SELECT ... FOR UPDATE would."""
    upsert = _LOCK_HEAD[session.get_bind().dialect.name == "postgresql"]
    seq, last_hash = plain_sql.run(upsert, {"head_key": key}, session).one()
    return seq, last_hash


def _lock_head(maker: Any) -> Any:
    upsert = maker(_HEADS).values(key=bindparam("head_key"), seq=0, last_hash="")
    upsert = upsert.on_conflict_do_update(index_elements=[_HEADS.c.key], set_={"seq": _HEADS.c.seq})
    return upsert.returning(_HEADS.c.seq, _HEADS.c.last_hash)


# The statements of every commit, made once (by PostgreSQL or not) rather than again for each transaction.
_LOCK_HEAD = {False: _lock_head(sqlite.insert), True: _lock_head(postgresql.insert)}
_MOVE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.key == bindparam("head_key"))
    .values(seq=bindparam("new_seq"), last_hash=bindparam("new_last_hash"))
)
_WRITE_EVENTS = insert(_EVENTS)


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
