"""Letters: the referrer stays confidential, unsafe addresses get no letter, and parents who are not to be
told hear nothing."""

import copy
import json

from sqlalchemy import select
from support import user

from app.extensions import db
from app.models import OutboxItem, Task
from app.services import bundles, contacts, workflow

SCENARIO = json.loads((bundles.PROCESSES_DIR / "initial_contact/scenarios/s17_consent_given.json").read_text())


def decide(case_id: int, **answers: object) -> list[OutboxItem]:
    task = db.session.scalar(select(Task).where(Task.case_id == case_id))
    workflow.complete_task(user("ssw"), task.id, {"rationale": "Reasons written against the threshold.", **answers})
    return list(db.session.scalars(select(OutboxItem).where(OutboxItem.case_id == case_id).order_by(OutboxItem.id)))


def test_the_parents_letter_never_names_the_referrer(fresh) -> None:
    case = contacts.record_contact(user("fpoc"), SCENARIO["start"])
    letters = decide(case.id, threshold="s17")
    parent = next(i for i in letters if i.recipient_role == "parent")
    referrer = next(i for i in letters if i.recipient_role == "referrer")
    referrer_details = SCENARIO["start"]["referrer"]
    for detail in (referrer_details["name"], referrer_details["agency"], referrer_details["email"]):
        assert detail not in parent.body and detail not in parent.subject
    assert parent.body.startswith("Dear Pat Example,")
    assert "Amy Example: Progress to referral" in parent.body
    assert referrer.recipient_name == "Sam Teacher" and referrer.address == "s.teacher@oak.example"
    assert referrer.channel == "email"
    assert len({i.message_id for i in letters}) == 2  # a stable id each, for a recognisable retry


def test_no_letter_to_an_address_that_is_not_safe(fresh) -> None:
    start = copy.deepcopy(SCENARIO["start"])
    start["parents"][0]["safe_to_write"] = False
    case = contacts.record_contact(user("fpoc"), start)
    letters = decide(case.id, threshold="s17")
    assert [i.recipient_role for i in letters] == ["referrer"]


def test_parents_who_are_not_to_be_told_get_no_letter(fresh) -> None:
    case = contacts.record_contact(user("fpoc"), SCENARIO["start"])
    letters = decide(case.id, threshold="s47", parents_told="obstruct_police")
    assert [i.recipient_role for i in letters] == ["referrer"]


def test_parents_who_are_told_of_a_strategy_discussion_get_their_letter(fresh) -> None:
    case = contacts.record_contact(user("fpoc"), SCENARIO["start"])
    letters = decide(case.id, threshold="s47", parents_told="yes")
    assert sorted(i.recipient_role for i in letters) == ["parent", "referrer"]
