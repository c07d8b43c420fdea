"""Paper letters are printed and posted by business support: a list of those waiting, each with its PDF, and
"Mark as posted", after which the case shows the letter as sent. Nobody else sees the list."""

from __future__ import annotations

import pytest
from flows import scenario_copy
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, OutboxItem, Task
from app.services import contacts, scenarios, workflow


def _decided_with_letters() -> int:
    """A contact decided below threshold: a letter to the parent and one to the referrer, both on paper."""
    scenario = scenario_copy(scenarios.load("initial_contact"), "below_threshold_advice")
    case = contacts.record_contact(scenarios.demo_user("fpoc"), scenario["start"])
    for step in scenario["steps"]:
        task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == step["task"]))
        workflow.complete_task(scenarios.demo_user(step["as"]), task.id, step["data"])
    return case.id


def test_business_support_posts_a_letter_and_the_case_shows_it_sent(web) -> None:
    case_id = _decided_with_letters()
    letters = db.session.scalars(
        select(OutboxItem).where(OutboxItem.case_id == case_id, OutboxItem.channel == "letter").order_by(OutboxItem.id)
    ).all()
    assert letters, "the scenario sends paper letters"
    first = letters[0]
    web.login("business_support")
    page = web.get("/letters-to-post")
    assert first.subject in page and f"/cases/{case_id}/letters/{first.id}.pdf" in page
    assert page.count("Mark as posted") == len(letters)

    web.post(f"/letters-to-post/{first.id}/posted", {}, expect=302)
    page = web.get("/letters-to-post")
    assert f"Posted: {first.subject}" in page
    assert page.count("Mark as posted") == len(letters) - 1
    item = db.session.get(OutboxItem, first.id)
    assert (item.status, item.delivered_via) == ("delivered", "post") and item.delivered_at is not None
    web.post(f"/letters-to-post/{first.id}/posted", {}, expect=302)  # twice: nothing more happens
    posted = db.session.scalars(select(AuditEvent).where(AuditEvent.name == "LETTER_POSTED")).all()
    assert [e.data["outbox_item_id"] for e in posted] == [first.id]
    case_page = web.get(f"/cases/{case_id}")
    assert "Sent" in case_page.split("Letters", 1)[1]


def test_an_e_mail_cannot_be_marked_posted(web) -> None:
    case_id = _decided_with_letters()
    email = db.session.scalar(select(OutboxItem).where(OutboxItem.case_id == case_id, OutboxItem.channel != "letter"))
    web.login("business_support")
    if email is not None:
        web.post(f"/letters-to-post/{email.id}/posted", {}, expect=404)
        assert db.session.get(OutboxItem, email.id).status == "pending"
    web.post("/letters-to-post/999999/posted", {}, expect=404)


@pytest.mark.parametrize("role", ["fpoc", "ssw", "police", "partner", "admin"])
def test_nobody_else_sees_the_letters_to_post(web, role: str) -> None:
    web.login(role)
    web.get("/letters-to-post", expect=403)
