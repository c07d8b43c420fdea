"""A contact recorded in error is voided with a reason and stops where it stands; a closed contact is
re-opened as a new contact linked to it, never by reviving its finished flow."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select
from support import user

from app.extensions import db
from app.models import AuditEvent, Case, ProcessInstance, Referral, Task
from app.services import bundles, case_actions, contacts, involvement, workflow
from app.services.errors import Forbidden, NotSaved

SCENARIOS = bundles.PROCESSES_DIR / "initial_contact" / "scenarios"
S17 = json.loads((SCENARIOS / "s17_consent_given.json").read_text(encoding="utf-8"))
BELOW = json.loads((SCENARIOS / "below_threshold_advice.json").read_text(encoding="utf-8"))


def complete(case_id: int, steps: list[dict]) -> None:
    for step in steps:
        task = db.session.scalar(select(Task).where(Task.case_id == case_id, Task.bpmn_id == step["task"]))
        assert task is not None, step["task"]
        workflow.complete_task(user(step["as"]), task.id, step["data"])


def test_voiding_stops_the_flow_and_clears_the_trays(fresh) -> None:
    case = contacts.record_contact(user("fpoc"), S17["start"])
    complete(case.id, S17["steps"][:2])  # reviewed and decided: a referral waits on partner checks
    assert db.session.scalar(select(func.count()).select_from(Task).where(Task.case_id == case.id)) == 1

    case_actions.void(user("ssw"), case.id, "Recorded twice: the same call is CT-000001.")
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert (case.status, case.void_reason) == ("voided", "Recorded twice: the same call is CT-000001.")
    assert db.session.scalar(select(func.count()).select_from(Task).where(Task.case_id == case.id)) == 0
    (instance,) = db.session.scalars(select(ProcessInstance).where(ProcessInstance.case_id == case.id))
    assert (instance.status, instance.next_wake_at) == ("cancelled", None)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.name == "CASE_VOIDED")) is not None
    # Its referral no longer counts: a later referral for the same child is not a re-referral.
    referral = db.session.scalar(select(Referral).where(Referral.case_id == case.id))
    assert referral.accepted_at is not None
    assert involvement.previous_referral_within(referral.person_id, referral.accepted_at) is None


def test_voiding_needs_a_reason_and_a_decision_maker(fresh) -> None:
    case = contacts.record_contact(user("fpoc"), S17["start"])
    with pytest.raises(Forbidden):
        case_actions.void(user("fpoc"), case.id, "I typed the wrong family in.")
    with pytest.raises(ValueError, match="at least 10 characters"):
        case_actions.void(user("ssw"), case.id, "  oops  ")
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == "open"
    case_actions.void(user("team_manager"), case.id, "I typed the wrong family in.")
    with pytest.raises(NotSaved):
        case_actions.void(user("ssw"), case.id, "Again, by someone else.")


def test_the_void_page_keeps_the_reason_when_it_is_too_short(web) -> None:
    case = contacts.record_contact(user("fpoc"), S17["start"])
    ssw = web.login("ssw")
    assert "Void: recorded in error" in ssw.get(f"/cases/{case.id}")
    page = ssw.post(f"/cases/{case.id}/void", {"reason": "dup"}, expect=400).get_data(as_text=True)
    assert "There is a problem" in page and "at least 10 characters" in page and ">dup</textarea>" in page
    response = ssw.post(f"/cases/{case.id}/void", {"reason": "A duplicate of an earlier call."}, expect=302)
    page = ssw.get(response.headers["Location"])
    assert "Voided" in page and "A duplicate of an earlier call." in page
    assert "Review the contact" not in ssw.get("/tasks")


def test_a_call_handler_cannot_void(web) -> None:
    case = contacts.record_contact(user("fpoc"), S17["start"])
    fpoc = web.login("fpoc")
    assert "Void: recorded in error" not in fpoc.get(f"/cases/{case.id}")
    fpoc.get(f"/cases/{case.id}/void", expect=403)
    fpoc.post(f"/cases/{case.id}/void", {"reason": "A duplicate of an earlier call."}, expect=403)
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == "open"


def test_a_closed_contact_is_reopened_as_a_new_linked_contact(web) -> None:
    case = contacts.record_contact(user("fpoc"), BELOW["start"])
    complete(case.id, BELOW["steps"])
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == "closed"

    fpoc = web.login("fpoc")
    assert "Re-open as a new contact" in fpoc.get(f"/cases/{case.id}")
    form = fpoc.get(f"/contacts/new?reopen={case.id}")
    assert f"Re-open {case.reference} as a new contact" in form
    assert 'value="Amy Example"' in form and 'value="Sam Teacher"' in form  # the earlier answers
    assert "bruise on her arm" not in form  # the concern is this contact's own
    posted = _form_values(form)
    posted["concern"] = "Amy is frightened again; her mother now asks for help."
    posted["consent"] = "given"
    posted["immediate_protection"] = "no"
    response = fpoc.post("/contacts/new", list(posted.items()), expect=302)
    new_id = int(re.search(r"/cases/(\d+)", response.headers["Location"]).group(1))
    assert new_id != case.id
    db.session.expire_all()
    newer = db.session.get(Case, new_id)
    assert newer.reopened_from_id == case.id and newer.status == "open"
    assert db.session.get(Case, case.id).status == "closed"  # the old flow is not revived
    new_page, old_page = fpoc.get(f"/cases/{new_id}"), fpoc.get(f"/cases/{case.id}")
    assert f'Re-opens <a class="govuk-link" href="/cases/{case.id}">{case.reference}</a>' in new_page
    assert f'Re-opened as <a class="govuk-link" href="/cases/{new_id}">{newer.reference}</a>' in old_page
    assert "Re-open as a new contact" in old_page and "Re-opens" in fpoc.get(f"/cases/{new_id}")


def test_an_open_contact_cannot_be_reopened(web) -> None:
    case = contacts.record_contact(user("fpoc"), S17["start"])
    web.login("fpoc").get(f"/contacts/new?reopen={case.id}", expect=409)


def _form_values(page: str) -> dict[str, str]:
    """The values a browser would post from the page's text inputs and checked radios."""
    values: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if not name or name.group(1) in {"csrf_token", "_action"}:
            continue
        kind = re.search(r'type="([^"]+)"', tag)
        if kind and kind.group(1) in {"radio", "checkbox"} and "checked" not in tag:
            continue
        values[name.group(1)] = value.group(1) if value else ""
    for name, text in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>([^<]*)</textarea>', page):
        values[name] = text
    return {k: v.replace("&#39;", "'").replace("&amp;", "&") for k, v in values.items()}
