"""The append-only audit trail: ids, never personal details.

Each event belongs to a chain: a case's own ("case:<id>"), or the one chain of events about no case
("system": sign-ins, tokens, diagrams, people looked up). Within a chain every event carries the hash of
the one before, so an event changed, removed or slipped in afterwards breaks the chain where it happened.
Chains are per case so that writes to different cases never wait on each other, and so a case's chain can
end cleanly when its records are deleted at the end of retention.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import DDL, JSON, ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class AuditEvent(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_chain_seq", "chain", "seq", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    case_id: Mapped[int | None] = mapped_column(index=True)
    task_id: Mapped[str | None] = mapped_column(String(36), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Sealed when the transaction that recorded the event commits (app/services/audit_chain.py).
    chain: Mapped[str | None] = mapped_column(String(40))
    seq: Mapped[int | None] = mapped_column()
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class AuditChain(db.Model):  # type: ignore[name-defined,misc]
    """The head of each chain: how many events it holds and the hash of the last. The next event's
    transaction locks this row, so two writers to one chain take turns and the chain never forks."""

    __tablename__ = "audit_chain"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default="")


# A sealed event can never be changed, by the application or by hand in SQL. (Removal is left possible for
# the end of retention; the chain's head and sequence numbers show any event removed otherwise.)
SEAL_TRIGGER = {
    "sqlite": [
        "CREATE TRIGGER audit_event_sealed BEFORE UPDATE ON audit_event WHEN OLD.hash IS NOT NULL "
        "BEGIN SELECT RAISE(ABORT, 'audit events are never changed'); END"
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_event_sealed() RETURNS trigger AS $$ BEGIN "
        "IF OLD.hash IS NOT NULL THEN RAISE EXCEPTION 'audit events are never changed'; END IF; "
        "RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER audit_event_sealed BEFORE UPDATE ON audit_event "
        "FOR EACH ROW EXECUTE FUNCTION audit_event_sealed()",
    ],
}
# A chain's head only moves on: cutting events off the end and moving the head back is refused too.
HEAD_TRIGGER = {
    "sqlite": [
        "CREATE TRIGGER audit_chain_forward BEFORE UPDATE ON audit_chain WHEN NEW.seq < OLD.seq "
        "BEGIN SELECT RAISE(ABORT, 'an audit chain only grows'); END"
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_chain_forward() RETURNS trigger AS $$ BEGIN "
        "IF NEW.seq < OLD.seq THEN RAISE EXCEPTION 'an audit chain only grows'; END IF; "
        "RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER audit_chain_forward BEFORE UPDATE ON audit_chain "
        "FOR EACH ROW EXECUTE FUNCTION audit_chain_forward()",
    ],
}
for _table, _triggers in ((AuditEvent.__table__, SEAL_TRIGGER), (AuditChain.__table__, HEAD_TRIGGER)):
    for _dialect, _statements in _triggers.items():
        for _statement in _statements:
            event.listen(_table, "after_create", DDL(_statement).execute_if(dialect=_dialect))
