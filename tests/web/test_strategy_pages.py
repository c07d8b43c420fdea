"""/strategy-discussions: the list (arranged and held, decision, conference due date) and one page per
discussion, for the hub, the police and health only; invitees' names and addresses only for those who may see
the referrer. And the arranging form as the chair sees it: the proposed list, which they can change."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import time_machine
from sqlalchemy import select
from support import SCENARIO_START as START

from app.extensions import db
from app.models import AuditEvent, OutboxItem, Task
from app.models.strategy import StrategyDiscussion
from app.services import bundles, scenarios

SCENARIOS = bundles.PROCESSES_DIR / "strategy_discussion" / "scenarios"
HELD = json.loads((SCENARIOS / "s47_and_police_investigation_chaired_by_the_senior_social_worker.json").read_text())
REFERRER_EMAIL = HELD["start"]["referrer"]["email"]


def _held_and_arranged() -> tuple[StrategyDiscussion, StrategyDiscussion]:
    """One discussion held (a s47 enquiry, conference due 16 December 2026) and one only arranged."""
    arranged_only = copy.deepcopy(HELD)
    arranged_only["steps"] = [s for s in arranged_only["steps"] if s.get("task") != "record_meeting"]
    arranged_only["steps"] = [s for s in arranged_only["steps"] if "advance" not in s]
    arranged_only["expect"] = {}
    with time_machine.travel(START, tick=False) as clock:
        for scenario in (HELD, arranged_only):
            result = scenarios.run(scenario, advance=lambda _text: clock.shift(86400))
            assert result.mismatches == []
    held, arranged = db.session.scalars(select(StrategyDiscussion).order_by(StrategyDiscussion.id)).all()
    return held, arranged


@pytest.mark.parametrize("role", ["ssw", "police", "health", "service_manager", "team_manager"])
def test_the_list_shows_each_discussion_with_its_decision_and_conference_date(fresh, web, role: str) -> None:
    held, arranged = _held_and_arranged()
    page = web.login(role).get("/strategy-discussions")
    rows = re.findall(r'<tr class="govuk-table__row">(.*?)</tr>', page, re.S)[1:]
    assert len(rows) == 2
    # Not yet held comes first.
    assert f"/strategy-discussions/{arranged.id}" in rows[0] and "Arranged" in rows[0]
    assert "25 November 2026 at 10:00" in rows[0] and "Not decided yet" in rows[0]
    assert f"/strategy-discussions/{held.id}" in rows[1] and "Held" in rows[1]
    assert "Section 47 enquiry and police criminal investigation" in rows[1]
    assert "16 December 2026" in rows[1]


def test_a_discussion_page_shows_its_record(fresh, web) -> None:
    held, _arranged = _held_and_arranged()
    page = web.login("ssw").get(f"/strategy-discussions/{held.id}")
    for shown in (
        "Amy Example",
        "Sam Senior (Senior social worker)",
        "Section 47 enquiry and police criminal investigation",
        "Wednesday 16 December 2026",
        "Achieving Best Evidence interview tomorrow morning",
        "An assault may have been committed",
        "The bruising and what Amy said",
        "Missed immunisations",
        REFERRER_EMAIL,  # the hub sees who was invited, and where
    ):
        assert shown in page, shown
    viewed = db.session.scalar(select(AuditEvent).where(AuditEvent.name == "STRATEGY_DISCUSSION_VIEWED"))
    assert viewed.data == {"case_id": held.case_id, "discussion_id": held.id}


def test_police_and_health_see_the_record_but_not_who_invited_whom(fresh, web) -> None:
    held, _arranged = _held_and_arranged()
    for role in ("police", "health"):
        page = web.login(role).get(f"/strategy-discussions/{held.id}")
        assert "Section 47 enquiry and police criminal investigation" in page
        assert "Oak Primary School" in page  # the agencies invited
        assert REFERRER_EMAIL not in page and "s.teacher" not in page
        assert "The referring agency" not in page and "Sam Teacher" not in page
        web = web.another()


@pytest.mark.parametrize("role", ["early_help", "partner", "lado", "allocated_worker", "process_owner", "admin"])
def test_others_cannot_see_strategy_discussions(fresh, web, role: str) -> None:
    held, _arranged = _held_and_arranged()
    client = web.login(role)
    client.get("/strategy-discussions", expect=403)
    client.get(f"/strategy-discussions/{held.id}", expect=403)


def test_an_unknown_discussion_is_not_found(fresh, web) -> None:
    web.login("ssw").get("/strategy-discussions/999", expect=404)


def test_signed_out_goes_to_sign_in(fresh, web) -> None:
    response = web.client.get("/strategy-discussions")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def _arrange_task() -> Task:
    start = copy.deepcopy(HELD)
    start["steps"] = start["steps"][:2]
    start["expect"] = {}
    assert scenarios.run(start).mismatches == []
    task = db.session.scalar(select(Task).where(Task.bpmn_id == "arrange_discussion"))
    assert task is not None
    return task


def _form(invitees: list[dict[str, str]]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "missing_or_exploitation": "no",
        "meeting_date-day": "25",
        "meeting_date-month": "11",
        "meeting_date-year": "2026",
        "meeting_time": "14:30",
        "meeting_place": "Compass",
        "chair": "ssw",
        "chair_name": "Sam Senior",
    }
    for n, invitee in enumerate(invitees):
        data[f"invitees.{n}._item"] = "1"
        for key, value in invitee.items():
            data[f"invitees.{n}.{key}"] = value
    return data


def test_the_chair_sees_the_proposed_list_and_changes_it(fresh, web) -> None:
    with time_machine.travel(START, tick=False):
        task = _arrange_task()
        client = web.login("ssw")
        page = client.get(f"/tasks/{task.id}")
        # The proposed list, filled in and editable, with the school's one known address.
        assert 'name="invitees.0.agency"' in page and 'value="Police"' in page
        assert f'value="{REFERRER_EMAIL}"' in page and 'value="Duty team manager"' in page

        # The chair keeps the police, drops the rest, and adds the child's paediatrician.
        kept = {"agency": "Police", "email": "hau.strategy@police.example.org"}
        added = {"agency": "Community paediatrics", "name": "Dr Lane", "email": "paediatrics@nhs.example.org"}
        client.post(f"/tasks/{task.id}", _form([kept, added]), expect=302)
    invitations = db.session.scalars(select(OutboxItem).where(OutboxItem.template == "strategy_invitation")).all()
    assert sorted(i.address for i in invitations) == ["hau.strategy@police.example.org", "paediatrics@nhs.example.org"]
    assert "at 14:30" in invitations[0].body
    row = db.session.scalar(select(StrategyDiscussion))
    assert [i["agency"] for i in row.invitees] == ["Police", "Community paediatrics"]


def test_an_invitee_without_an_address_is_an_error_with_the_answers_kept(fresh, web) -> None:
    with time_machine.travel(START, tick=False):
        task = _arrange_task()
        client = web.login("ssw")
        response = client.post(f"/tasks/{task.id}", _form([{"agency": "Oak Nursery", "name": "Manager"}]), expect=400)
    page = response.get_data(as_text=True)
    assert "govuk-error-summary" in page and "Enter the invitee&#39;s e-mail address" in page
    assert 'value="Oak Nursery"' in page
    assert db.session.scalar(select(OutboxItem).where(OutboxItem.template == "strategy_invitation")) is None
