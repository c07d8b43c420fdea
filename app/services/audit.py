"""Audit events: SUBJECT_PAST_TENSE_VERB names, each with a fixed set of keys holding ids, never details.

Append-only and tamper-evident: each event is sealed into its case's hash chain as it commits
(app/services/audit_chain.py); `flask --app app audit verify` checks every chain."""

from typing import Any

from app.extensions import db
from app.models import AuditEvent
from app.models.types import utcnow
from app.services import audit_chain

EVENT_KEYS: dict[str, frozenset[str]] = {
    name: frozenset(keys)
    for name, keys in {
        "USER_LOGGED_IN": set(),
        "USER_LOGIN_FAILED": {"username_length"},
        "USER_LOGGED_OUT": set(),
        "USER_LOCKED_OUT": set(),
        "USER_LOGIN_REFUSED_LOCKED": set(),
        "USER_SIGNED_OUT_IDLE": set(),
        "API_TOKEN_CREATED": {"token_id"},
        "API_TOKEN_REVOKED": {"token_id"},
        "API_TOKEN_REFUSED": {"reason"},  # missing, unknown, revoked, expired, user_inactive
        "API_TOKEN_SCOPE_REFUSED": {"token_id", "scope"},
        "CASE_CREATED": {"case_id"},
        "CASE_VIEWED": {"case_id"},
        "TASK_VIEWED": {"case_id", "task_id"},
        "CASE_INFORMATION_ADDED": {"case_id"},
        "PERSON_VIEWED": {"person_id"},
        "PERSON_MERGED": {"person_id", "merged_person_id"},
        "CASE_CLOSED": {"case_id"},
        "CASE_VOIDED": {"case_id"},
        "CASE_REOPENED": {"case_id", "reopened_from_id"},
        "REFERRAL_ACCEPTED": {"case_id", "referral_id", "re_referral"},
        "REFERRAL_ACKNOWLEDGED": {"case_id", "referral_id"},
        "REFERRAL_OUTCOME_RECORDED": {"case_id", "referral_id", "outcome"},
        "CONSENT_RECORDED": {"case_id", "consent_id", "status"},
        "CASE_HANDED_OVER": {"case_id", "handover_id", "flow"},
        "CLOCK_MISSED": {"case_id", "task_id"},
        "HANDOVER_STARTED": {"case_id", "handover_id", "instance_id"},
        "CHILD_DECIDED_AFTER_HANDOVER": {"case_id", "instance_id"},
        "MARF_RECEIVED": {"case_id"},
        "PROCESS_STARTED": {"case_id", "instance_id", "bundle_id"},
        "PROCESS_COMPLETED": {"case_id", "instance_id"},
        "PROCESS_STEP_FAILED": {"case_id", "instance_id", "bpmn_id"},
        "TASK_COMPLETED": {"case_id", "instance_id", "task_id", "bpmn_id"},
        "TASK_CLAIMED": {"case_id", "task_id"},
        "TASK_RELEASED": {"case_id", "task_id"},
        "TASK_REASSIGNED": {"case_id", "task_id", "to_user_id"},
        "OUTBOX_ITEM_QUEUED": {"case_id", "instance_id", "outbox_item_id", "template"},
        "LETTER_DOWNLOADED": {"case_id", "outbox_item_id"},
        "LETTER_VIEWED": {"case_id", "outbox_item_id"},
        "LETTER_POSTED": {"case_id", "outbox_item_id"},
        "BUNDLE_IMPORTED": {"bundle_id", "flow"},
        "BUNDLE_MADE_LIVE": {"bundle_id", "flow"},
        "TASK_MIRROR_REBUILT": {"instances", "tasks"},
    }.items()
}


class UnknownAuditEvent(ValueError):
    pass


def register(events: dict[str, set[str]]) -> None:
    """Add a flow's own events (its service module calls this when imported), each with its fixed keys."""
    for name, keys in events.items():
        if name in EVENT_KEYS and EVENT_KEYS[name] != frozenset(keys):
            raise UnknownAuditEvent(f"{name} is already registered with other keys")
        EVENT_KEYS[name] = frozenset(keys)


def record(name: str, user_id: int | None = None, **keys: Any) -> AuditEvent:
    """Add an event to the current transaction; it commits or rolls back with the change it records."""
    expected = EVENT_KEYS.get(name)
    if expected is None:
        raise UnknownAuditEvent(f"unknown audit event {name}")
    if set(keys) != expected:
        raise UnknownAuditEvent(f"{name} takes exactly {sorted(expected)}, not {sorted(keys)}")
    event = AuditEvent(
        name=name,
        at=utcnow(),
        user_id=user_id,
        case_id=keys.get("case_id"),
        task_id=keys.get("task_id"),
        data=keys,
    )
    db.session.add(event)
    # Sealed into the case's chain when this transaction commits (audit_chain).
    audit_chain.remember(db.session(), event)
    return event
