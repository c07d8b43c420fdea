"""The case's own records written from what a flow's steps report (handlers' `Record`s): referrals, their
acknowledgement and outcome, consent, hand-overs and the MARF. Each writer runs inside the step's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import handlers
from app.extensions import db
from app.models import Case, CasePerson, Consent, Handover, Referral
from app.models.types import utcnow
from app.roles import HANDOVERS, REFERRAL_OUTCOMES, REFERRAL_ROUTES
from app.services import audit, involvement, people, timeline

Writer = Callable[[Case, Mapping[str, Any], int | None], None]


# Each flow keeps the writers of its own records in its own service module, registered with `writer`.
FLOW_RECORD_MODULES = (
    "app.services.mat",
    "app.services.strategy_discussions",
    "app.services.lado",
    "app.services.information_requests",
    "app.services.da_notifications",
    "app.services.da_triage",
)


def writer(kind: str) -> Callable[[Writer], Writer]:
    """Register a flow's writer for one kind of record (see `handlers.Record`)."""

    def register(fn: Writer) -> Writer:
        if kind in WRITERS and WRITERS[kind] is not fn:
            raise ValueError(f"two writers are registered for {kind!r}")
        WRITERS[kind] = fn
        return fn

    return register


def _load_flow_writers() -> None:
    import importlib

    for module in FLOW_RECORD_MODULES:
        importlib.import_module(module)


def write(case: Case, records: list[handlers.Record], user_id: int | None) -> None:
    if records:
        _load_flow_writers()
    for record in records:
        writer = WRITERS.get(record.kind)
        if writer is None:
            raise LookupError(f"a step asked to write an unknown kind of record: {record.kind!r}")
        writer(case, record.fields, user_id)
    db.session.flush()


def _child(case: Case, key: Any) -> CasePerson:
    found = next((c for c in case.children if c.key == key), None)
    if found is None:
        raise LookupError(f"the case has no child {key!r}")
    return found


def _referral(case: Case, key: Any) -> Referral:
    child = _child(case, key)
    found = next((r for r in reversed(case.referrals) if r.child_id == child.id), None)
    if found is None:
        raise LookupError(f"no referral was accepted for {key!r}")
    return found


def _referral_accepted(case: Case, fields: Mapping[str, Any], user_id: int | None) -> None:
    child = _child(case, fields["child_key"])
    route = str(fields["route"])
    # A child in need referral waits for the written MARF; a strategy discussion cannot wait (§4.16), and an
    # assessment of a person posing a risk is not a referral made with a MARF.
    waiting = route == "consent_given" and case.marf_expected and case.marf_received_at is None
    referral = Referral(
        case_id=case.id,
        child_id=child.id,
        person_id=child.person_id,
        threshold=str(fields.get("threshold") or "s17"),
        route=route,
        waiting_for="marf" if waiting else None,
    )
    # Appended only: adding it to the session first would let the collection's first load find it in the
    # database as well, and hold it twice.
    case.referrals.append(referral)
    db.session.flush()
    if waiting:
        timeline.add(case.id, user_id, f"Referral for {child.person.name} waits for the written MARF")
    else:
        _accept(case, referral, utcnow(), user_id)
    if route == "strategy_discussion" and referral.accepted_at is not None:
        # Significant harm is decided before the referral exists: its outcome, a strategy discussion, is made in
        # the same moment it is accepted (§4.16), so the one-working-day clock is met and the figures say so.
        referral.outcome = "strategy_discussion"
        referral.outcome_rationale = (
            "A strategy discussion was needed at once: the child may be suffering significant harm."
        )
        referral.outcome_at = referral.accepted_at
        audit.record(
            "REFERRAL_OUTCOME_RECORDED", user_id, case_id=case.id, referral_id=referral.id, outcome=referral.outcome
        )


def _accept(case: Case, referral: Referral, moment: datetime, user_id: int | None) -> None:
    previous = involvement.previous_referral_within(referral.person_id, moment, exclude_referral_id=referral.id)
    referral.accepted_at = moment
    referral.waiting_for = None
    referral.re_referral = previous is not None
    referral.previous_referral_on = previous
    audit.record(
        "REFERRAL_ACCEPTED", user_id, case_id=case.id, referral_id=referral.id, re_referral=referral.re_referral
    )
    detail = [["Route", REFERRAL_ROUTES.get(referral.route, referral.route)]]
    if referral.re_referral and previous is not None:
        detail.append(["Re-referral", f"Yes: the last referral was on {previous:%d %B %Y}"])
    timeline.add(case.id, user_id, f"Accepted as a referral: {referral.child.person.name}", detail)


def _marf_received(case: Case, fields: Mapping[str, Any], user_id: int | None) -> None:
    now = utcnow()
    case.marf_received_at = now
    audit.record("MARF_RECEIVED", user_id, case_id=case.id)
    for referral in case.referrals:
        if referral.waiting_for == "marf":
            _accept(case, referral, now, user_id)


def _referral_acknowledged(case: Case, fields: Mapping[str, Any], user_id: int | None) -> None:
    referral = _referral(case, fields["child_key"])
    referral.acknowledged_at = utcnow()
    audit.record("REFERRAL_ACKNOWLEDGED", user_id, case_id=case.id, referral_id=referral.id)


def _referral_outcome(case: Case, fields: Mapping[str, Any], user_id: int | None) -> None:
    referral = _referral(case, fields["child_key"])
    outcome = str(fields["outcome"])
    if outcome not in REFERRAL_OUTCOMES:
        raise LookupError(f"unknown referral outcome {outcome!r}")
    referral.outcome = outcome
    referral.outcome_rationale = str(fields.get("rationale") or "")
    referral.next_steps = str(fields.get("next_steps") or "")
    referral.outcome_at = utcnow()
    audit.record("REFERRAL_OUTCOME_RECORDED", user_id, case_id=case.id, referral_id=referral.id, outcome=outcome)


def _consent(case: Case, fields: Mapping[str, Any], user_id: int | None) -> None:
    if fields.get("child_key"):
        person = _child(case, fields["child_key"])
    else:
        person = _parent_named(case, str(fields.get("name") or ""))
    row = Consent(
        case_id=case.id,
        case_person_id=person.id,
        status=str(fields["status"]),
        how=fields.get("how"),
        own_consent=bool(fields.get("own_consent")),
        note=fields.get("note"),
        recorded_by_id=user_id,
    )
    case.consents.append(row)
    db.session.flush()
    audit.record("CONSENT_RECORDED", user_id, case_id=case.id, consent_id=row.id, status=row.status)


def _parent_named(case: Case, name: str) -> CasePerson:
    """The case's parent or carer of that name; someone not named at intake joins the case as one."""
    key = people.name_key(name)
    parents = [p for p in case.people if p.role == "parent"]
    found = next((p for p in parents if p.person.name_key == key), None)
    if found is not None:
        return found
    person = people.new_person(name)
    added = CasePerson(
        case=case, person=person, key=f"parent-{len(parents) + 1}", role="parent", details={"added_by": "consent"}
    )
    db.session.add(added)
    db.session.flush()
    return added


def _handover(case: Case, fields: Mapping[str, Any], user_id: int | None) -> None:
    flow = str(fields["flow"])
    child = _child(case, fields["child_key"]) if fields.get("child_key") else None
    add_handover(case, flow, str(fields.get("reason") or ""), child, user_id)


def add_handover(case: Case, flow: str, reason: str, child: CasePerson | None, user_id: int | None) -> Handover:
    row = Handover(case_id=case.id, child_id=child.id if child else None, flow=flow, reason=reason)
    case.handovers.append(row)
    db.session.flush()
    audit.record("CASE_HANDED_OVER", user_id, case_id=case.id, handover_id=row.id, flow=flow)
    about = f" for {child.person.name}" if child else ""
    timeline.add(
        case.id, user_id, f"Handed over to {HANDOVERS.get(flow, flow)}{about}", [["Why", reason]] if reason else []
    )
    return row


WRITERS: dict[str, Writer] = {
    "referral_accepted": _referral_accepted,
    "marf_received": _marf_received,
    "referral_acknowledged": _referral_acknowledged,
    "referral_outcome": _referral_outcome,
    "consent": _consent,
    "handover": _handover,
}
