"""/lado, the LADO's register of allegations, and /lado/<id>, one allegation's record: need to know, so the
LADO and the service manager only; and the LADO's task form through the web."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Task
from app.models.lado import LadoAllegation
from app.services import bundles, contacts, scenarios


def _scenario(stem: str) -> dict[str, Any]:
    path = bundles.PROCESSES_DIR / "lado" / "scenarios" / f"{stem}.json"
    return copy.deepcopy(json.loads(path.read_text(encoding="utf-8")))


def _closed_allegation() -> LadoAllegation:
    result = scenarios.run(_scenario("unfounded_allegation"))
    assert result.mismatches == []
    return db.session.scalar(select(LadoAllegation).where(LadoAllegation.case_id == result.case_id))


def _open_allegation(name: str = "Robin Tutor") -> LadoAllegation:
    start = _scenario("two_meetings_unsubstantiated")["start"]
    start["allegation_detail"] = {"name": name, "role": "Maths tutor", "employer": "Oak Primary School"}
    case = contacts.record_contact(scenarios.demo_user("fpoc"), start)
    return db.session.scalar(select(LadoAllegation).where(LadoAllegation.case_id == case.id))


def test_the_register_lists_open_allegations_first(web) -> None:
    closed = _closed_allegation()
    opened = _open_allegation()
    page = web.login("lado").get("/lado")
    assert "Robin Tutor" in page and "Maths tutor, Oak Primary School" in page
    assert "Chris Coach" in page and "Closed: Unfounded" in page
    assert page.index(f"/lado/{opened.id}") < page.index(f"/lado/{closed.id}")
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.name == "LADO_REGISTER_VIEWED")) is not None


def test_the_record_shows_the_meetings_outcome_and_retention(web) -> None:
    row = _closed_allegation()
    page = web.login("lado").get(f"/lado/{row.id}")
    assert "Chris Coach" in page and "Town Juniors FC" in page
    assert "Meeting 1" in page and "DC Sam Reed (Police)" in page
    assert "Unfounded" in page and "Social Work England" in page
    assert "15 January 2058" in page  # born 1990: kept to their retirement at 68
    assert row.case.reference in page
    viewed = db.session.scalar(select(AuditEvent).where(AuditEvent.name == "LADO_ALLEGATION_VIEWED"))
    assert viewed.data == {"case_id": row.case_id, "allegation_id": row.id}


def test_the_record_links_to_the_case_for_whoever_may_see_it(web) -> None:
    row = _open_allegation()
    manager = web.login("service_manager").get(f"/lado/{row.id}")
    assert f'href="/cases/{row.case_id}"' in manager
    lado = web.another().login("lado").get(f"/lado/{row.id}")
    assert f'href="/cases/{row.case_id}"' in lado  # the LADO holds a task on the case


@pytest.mark.parametrize("role", ["fpoc", "ssw", "coordinator", "team_manager", "police", "partner", "admin"])
def test_nobody_else_sees_allegations(web, role: str) -> None:
    row = _open_allegation()
    client = web.login(role)
    client.get("/lado", expect=403)
    client.get(f"/lado/{row.id}", expect=403)


def test_an_unknown_allegation_is_not_found(web) -> None:
    web.login("lado").get("/lado/999999", expect=404)


def test_the_lado_considers_the_allegation_through_the_task_form(web) -> None:
    row = _open_allegation()
    task = db.session.scalar(select(Task).where(Task.case_id == row.case_id, Task.bpmn_id == "initial_consideration"))
    client = web.login("lado")
    form = client.get(f"/tasks/{task.id}")
    assert "possibly committed a criminal offence against or related to a child" in form
    answers = [
        ("initial_decision", "meeting"),
        ("consideration_rationale", "The tutor may have harmed a child in the lesson."),
        ("employer_contact_name", "Jo Head"),
        ("employer_contact_email", "head@oak.example"),
    ]
    refused = client.post(f"/tasks/{task.id}", answers, expect=400).get_data(as_text=True)
    assert "a meeting is held only when at least one is met" in refused
    assert "head@oak.example" in refused  # the answers given are kept
    client.post(f"/tasks/{task.id}", [*answers, ("harm_criteria", "harmed_child")], expect=302)
    db.session.expire_all()
    row = db.session.get(LadoAllegation, row.id)
    assert (row.initial_decision, row.harm_criteria) == ("meeting", ["harmed_child"])
    lado_tasks = db.session.scalars(select(Task.bpmn_id).where(Task.case_id == row.case_id, Task.lane == "lado"))
    assert list(lado_tasks) == ["hold_meeting"]


def test_the_lado_s_entries_on_the_case_timeline_are_for_the_lado_alone(web) -> None:
    """The contact's timeline carries the LADO's consideration of an adult: need-to-know, so the hub sees the
    hand-over but not the LADO's own entries; the LADO sees the contact even with no task on it."""
    import time_machine
    from support import SCENARIO_START

    scenario = _scenario("no_harm_criterion_met_advice_and_no_further_action")
    with time_machine.travel(SCENARIO_START, tick=False):
        result = scenarios.run(scenario)
    assert result.mismatches == []
    case_id = result.case_id
    lado_page = web.login("lado").get(f"/cases/{case_id}")
    assert "LADO initial consideration made" in lado_page
    hub_page = web.another().login("ssw").get(f"/cases/{case_id}")
    assert "Handed over to the LADO" in hub_page
    assert "LADO initial consideration made" not in hub_page
    assert "Initial consideration" not in hub_page.split("Timeline", 1)[1]
    # Nor its letters, clocks or the episode itself: the employer's letter says what the LADO decided.
    for shown in ("lado_advice", "LADO allegation", "Consider the allegation", "employer"):
        assert shown not in hub_page, shown
    assert "LADO allegation" in lado_page
