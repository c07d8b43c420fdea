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
    """Review and decide the one child; for a child in need the referral runs on to its outcome."""
    steps = [("ssw_review", "ssw", {"next_step": "decide"})]
    steps.append(("ssw_decision", "ssw", {"rationale": "Reasons written against the threshold.", **answers}))
    if answers.get("threshold") == "s17":
        steps += [
            ("acknowledge_referral", "coordinator", {"acknowledged_how": "phone"}),
            (
                "partner_information",
                "coordinator",
                {"agencies": ["police"], "summary": "Nothing known.", "consent_withdrawn": False},
            ),
            (
                "referral_outcome",
                "ssw",
                {
                    "referral_outcome": "assessment",
                    "rationale": "Reasons for the assessment.",
                    "next_steps": "A visit this week.",
                },
            ),
        ]
    for bpmn_id, role, data in steps:
        task = db.session.scalar(select(Task).where(Task.case_id == case_id, Task.bpmn_id == bpmn_id))
        workflow.complete_task(user(role), task.id, data)
    return list(db.session.scalars(select(OutboxItem).where(OutboxItem.case_id == case_id).order_by(OutboxItem.id)))


def test_the_parents_letter_never_names_the_referrer(fresh) -> None:
    case = contacts.record_contact(user("fpoc"), SCENARIO["start"])
    letters = decide(case.id, threshold="s17")
    parent = next(i for i in letters if i.recipient_role == "parent")
    referrer = next(i for i in letters if i.template == "referrer_outcome")
    referrer_details = SCENARIO["start"]["referrer"]
    for detail in (referrer_details["name"], referrer_details["agency"], referrer_details["email"]):
        assert detail not in parent.body and detail not in parent.subject
    assert parent.body.startswith("Dear Pat Example,")
    assert "Amy Example: Progress to referral" in parent.body
    assert referrer.recipient_name == "Sam Teacher"
    assert (referrer.channel, referrer.address) == ("letter", referrer_details["address"])
    assert len({i.message_id for i in letters}) == len(letters) == 3  # a stable id each: a retry is recognisable


def test_no_letter_to_an_address_that_is_not_safe(fresh) -> None:
    start = copy.deepcopy(SCENARIO["start"])
    start["parents"][0]["safe_to_write"] = False
    case = contacts.record_contact(user("fpoc"), start)
    letters = decide(case.id, threshold="s17")
    assert {i.recipient_role for i in letters} == {"referrer"}
    assert [i.template for i in letters] == ["referral_outcome", "referrer_outcome"]


def test_parents_who_are_not_to_be_told_get_no_letter(fresh) -> None:
    case = contacts.record_contact(user("fpoc"), SCENARIO["start"])
    letters = decide(case.id, threshold="s47", parents_told="obstruct_police")
    assert [i.recipient_role for i in letters] == ["referrer"]


def test_parents_who_are_told_of_a_strategy_discussion_get_their_letter(fresh) -> None:
    case = contacts.record_contact(user("fpoc"), SCENARIO["start"])
    letters = decide(case.id, threshold="s47", parents_told="yes")
    assert sorted(i.recipient_role for i in letters) == ["parent", "referrer"]
