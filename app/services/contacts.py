"""Recording a new contact: the case, its people, and the initial-contact flow started on it."""

from __future__ import annotations

import copy
import secrets
from typing import Any

from app.engine.specs import ParsedBundle
from app.extensions import db
from app.models import Case, CasePerson, ProcessBundle, User
from app.services import audit, bundles, people, workflow
from app.services.errors import Forbidden

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


def record_contact(user: User, data: dict[str, Any]) -> Case:
    """Create the case and its people and complete the first task of the flow, in one transaction."""
    from app import policy

    if not policy.can_record_contact(user):
        raise Forbidden("Only call handlers, coordinators and senior social workers record contacts.")
    row, _bundle, _schema = start_form()
    data = copy.deepcopy(data)
    try:
        case = Case(
            reference=f"new-{secrets.token_hex(6)}",
            source=data.get("how_received", "phone"),
            concern=str(data.get("concern", "")),
            immediate_protection=data.get("immediate_protection"),
            consent=data.get("consent"),
            created_by_id=user.id,
        )
        db.session.add(case)
        db.session.flush()
        case.reference = f"CT-{case.id:06d}"
        _add_people(case, data)
        audit.record("CASE_CREATED", user.id, case_id=case.id)
        workflow.start_with_first_task(case, row, user, data)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return case


def _add_people(case: Case, data: dict[str, Any]) -> None:
    """Link each child to a known person where one matches, and give everyone a key the flow can use."""
    for n, child in enumerate(data.get("children") or [], start=1):
        child["key"] = f"child-{n}"
        person = people.find_or_create_child(str(child.get("name", "")), child.get("date_of_birth"))
        db.session.add(CasePerson(case=case, person=person, key=child["key"], role="child", details=_details(child)))
    for n, parent in enumerate(data.get("parents") or [], start=1):
        parent["key"] = f"parent-{n}"
        person = people.new_person(str(parent.get("name", "")))
        db.session.add(CasePerson(case=case, person=person, key=parent["key"], role="parent", details=_details(parent)))
    referrer = data.get("referrer") or {}
    if referrer.get("name"):
        person = people.new_person(str(referrer["name"]))
        db.session.add(
            CasePerson(case=case, person=person, key="referrer", role="referrer", details=_details(referrer))
        )
    db.session.flush()


def _details(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in {"name", "key"}}
