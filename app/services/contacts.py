"""Recording a new contact: the case, its people, and the initial-contact flow started on it."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable
from typing import Any

from app import referral_sources, schemaforms
from app.engine.specs import ParsedBundle
from app.extensions import db
from app.models import Case, CasePerson, Consent, PersonRelationship, ProcessBundle, User
from app.services import audit, bundles, people, timeline, workflow
from app.services.errors import Forbidden, FormInvalid

FLOW = "initial_contact"


def start_form() -> tuple[ProcessBundle, ParsedBundle, dict[str, Any]]:
    """The live bundle of the initial-contact flow and the form its first task asks for."""
    row = bundles.live_bundle(FLOW)
    bundle = bundles.parsed(row)
    first = workflow.first_task(bundle)
    schema = bundle.form(first.form_id)
    if schema is None:
        raise LookupError("the initial-contact flow's first task has no form")
    return row, bundle, schema


def record_contact(
    user: User,
    data: dict[str, Any],
    *,
    reopens: Case | None = None,
    before_commit: Callable[[Case], None] | None = None,
) -> Case:
    """Create the case and its people and complete the first task of the flow, in one transaction.

    `reopens` links the new contact to a closed one it re-opens: a finished flow is never revived.
    `before_commit` adds the caller's own rows (an API idempotency key) to the same transaction.
    """
    from app import policy

    if not policy.can_record_contact(user):
        raise Forbidden("Only call handlers, coordinators and senior social workers record contacts.")
    row, _bundle, schema = start_form()
    # Checked before anything is built from it: people and the case are made from these answers.
    errors = schemaforms.validate(schema, data)
    if errors:
        raise FormInvalid(errors)
    data = copy.deepcopy(data)
    # Lists the form may leave out are empty lists to the flow, so its scripts need not guard each one.
    for optional in ("parents", "household"):
        data.setdefault(optional, [])
    try:
        case = Case(
            reference=f"new-{secrets.token_hex(6)}",
            source=data.get("how_received", "phone"),
            referral_source=referral_sources.source_of_contact(data),
            request_type=data.get("request_type") or "concern",
            concern=str(data.get("concern", "")),
            immediate_protection=data.get("immediate_protection"),
            consent=data.get("consent"),
            disabled_childrens_team=data.get("disabled_childrens_team") is True,
            marf_expected=_marf_expected(data),
            created_by_id=user.id,
            reopened_from_id=reopens.id if reopens else None,
            # Re-opening a restricted record makes a restricted record: its people and answers come with it.
            restricted=bool(reopens and reopens.restricted),
        )
        db.session.add(case)
        db.session.flush()
        case.reference = f"CT-{case.id:06d}"
        _add_people(case, data)
        audit.record("CASE_CREATED", user.id, case_id=case.id)
        if reopens is not None:
            audit.record("CASE_REOPENED", user.id, case_id=case.id, reopened_from_id=reopens.id)
            timeline.add(case.id, user.id, f"Re-opens contact {reopens.reference}")
        _consent_at_intake(case, data, user)
        workflow.start_with_first_task(case, row, user, data)
        if before_commit is not None:
            before_commit(case)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return case


def _marf_expected(data: dict[str, Any]) -> bool:
    """A professional's phone referral is followed by the written MARF (§3.2); the diagram chases it."""
    referrer = data.get("referrer") or {}
    return (
        data.get("how_received") == "phone" and referrer.get("kind") == "professional" and not data.get("marf_received")
    )


def _consent_at_intake(case: Case, data: dict[str, Any], user: User) -> None:
    """The consent the referrer reports, recorded against each parent with parental responsibility."""
    status = {"given": "given", "refused": "refused"}.get(str(data.get("consent")))
    if status is None:
        return
    for person in case.people:
        if person.role == "parent" and person.details.get("parental_responsibility"):
            consent = Consent(
                case_id=case.id,
                case_person_id=person.id,
                status=status,
                how="by_referrer",
                note=data.get("consent_detail"),
                recorded_by_id=user.id,
            )
            db.session.add(consent)
            db.session.flush()
            audit.record("CONSENT_RECORDED", user.id, case_id=case.id, consent_id=consent.id, status=status)


def _add_people(case: Case, data: dict[str, Any]) -> None:
    """Link each child to a known person where one matches, give everyone a key the flow can use, and record
    how the adults around the children stand to them."""
    children = []
    for n, child in enumerate(data.get("children") or [], start=1):
        child["key"] = f"child-{n}"
        person = people.find_or_create_child(
            str(child.get("name", "")),
            child.get("date_of_birth"),
            postcode=child.get("postcode"),
            address=child.get("address"),
        )
        children.append(person)
        db.session.add(CasePerson(case=case, person=person, key=child["key"], role="child", details=_details(child)))
    adults = [("parent", "parent", p) for p in data.get("parents") or []]
    adults += [("household", "household", h) for h in data.get("household") or []]
    perpetrator = data.get("alleged_perpetrator") or {}
    if perpetrator.get("name"):
        adults.append(("alleged_perpetrator", "alleged-perpetrator", perpetrator))
    counts: dict[str, int] = {}
    for role, key_prefix, adult in adults:
        counts[role] = counts.get(role, 0) + 1
        adult["key"] = f"{key_prefix}-{counts[role]}" if role != "alleged_perpetrator" else key_prefix
        person = people.new_person(str(adult.get("name", "")))
        db.session.add(CasePerson(case=case, person=person, key=adult["key"], role=role, details=_details(adult)))
        described = str(adult.get("relationship") or role.replace("_", " ").capitalize())[:100]
        for child in children:
            db.session.add(
                PersonRelationship(person=person, child=child, described_as=described, role=role, case_id=case.id)
            )
    referrer = data.get("referrer") or {}
    if referrer.get("name"):
        person = people.new_person(str(referrer["name"]))
        db.session.add(
            CasePerson(case=case, person=person, key="referrer", role="referrer", details=_details(referrer))
        )
    db.session.flush()


def _details(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in {"name", "key"}}
