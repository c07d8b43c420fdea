"""/mat: the Multi Agency Triage list by meeting day, today's first, with each agency's part as a tag and links
to the case and to the tasks the viewer can act on; only the hub, police, health and managers see it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from sqlalchemy import select
from support import user

from app.extensions import db
from app.models import Case, Task
from app.services import bundles, contacts, workflow

SCENARIO = json.loads(
    (bundles.PROCESSES_DIR / "mat" / "scenarios" / "mat_decides_no_action_and_the_contact_closes.json").read_text(
        encoding="utf-8"
    )
)
STEPS = {s["task"]: s for s in SCENARIO["steps"] if "task" in s}
BEFORE_THE_MEETING = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # Tuesday, GMT: today's meeting at 10:00
AFTER_THE_MEETING = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)  # on Wednesday's list


def handed_to_mat(child_name: str) -> Case:
    start = json.loads(json.dumps(SCENARIO["start"]))
    start["children"][0]["name"] = child_name
    case = contacts.record_contact(user("fpoc"), start)
    for bpmn_id in ("ssw_review", "ssw_decision"):
        complete(case, bpmn_id)
    return case


def complete(case: Case, bpmn_id: str) -> None:
    task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == bpmn_id))
    assert task is not None, bpmn_id
    workflow.complete_task(user(STEPS[bpmn_id]["as"]), task.id, STEPS[bpmn_id]["data"])


def row_of(page: str, reference: str) -> str:
    match = re.search(rf'<tr class="govuk-table__row" data-case="{reference}">(.*?)</tr>', page, re.S)
    assert match, f"{reference} is not listed"
    return match.group(1)


def part(row: str, key: str) -> str:
    match = re.search(rf'data-part="{key}">(.*?)</li>', row, re.S)
    assert match
    return "Recorded" if "Recorded" in match.group(1) else "Not yet"


@pytest.fixture
def two_items(fresh) -> tuple[Case, Case]:
    """Amy arrives before Tuesday's meeting and police have shared for her; Ben arrives after it."""
    with time_machine.travel(BEFORE_THE_MEETING, tick=False):
        amy = handed_to_mat("Amy Example")
        complete(amy, "police_check")
    with time_machine.travel(AFTER_THE_MEETING, tick=False):
        ben = handed_to_mat("Ben Example")
    return amy, ben


def test_the_list_shows_todays_meeting_first_with_each_agencys_part(web, two_items) -> None:
    amy, ben = two_items
    with time_machine.travel(AFTER_THE_MEETING, tick=False):
        page = web.login("police").get("/mat")
    today = page.index("Today's meeting: Tuesday 24 November 2026")
    later = page.index("Meeting: Wednesday 25 November 2026")
    assert today < page.index(amy.reference) < later < page.index(ben.reference)
    amy_row, ben_row = row_of(page, amy.reference), row_of(page, ben.reference)
    assert "Amy Example" in amy_row and "Ben Example" in ben_row
    assert [part(amy_row, k) for k in ("police_check", "health_check", "social_care_check")] == [
        "Recorded",
        "Not yet",
        "Not yet",
    ]
    assert [part(ben_row, k) for k in ("police_check", "health_check", "social_care_check")] == ["Not yet"] * 3
    # Police act on Ben's police check; Amy's is done, and the others' parts are not theirs.
    ben_police = db.session.scalar(select(Task).where(Task.case_id == ben.id, Task.bpmn_id == "police_check"))
    assert f"/tasks/{ben_police.id}" in ben_row
    assert "/tasks/" not in amy_row
    # Police see a case while it holds a task for them: Ben's case is a link, Amy's is not.
    assert f'href="/cases/{ben.id}"' in ben_row and f'href="/cases/{amy.id}"' not in amy_row


def test_the_chair_sees_the_decision_once_all_three_have_shared(web, two_items) -> None:
    amy, _ben = two_items
    with time_machine.travel(AFTER_THE_MEETING, tick=False):
        complete(amy, "health_check")
        complete(amy, "social_care_check")
        client = web.login("ssw")
        row = row_of(client.get("/mat"), amy.reference)
        assert [part(row, k) for k in ("police_check", "health_check", "social_care_check")] == ["Recorded"] * 3
        assert "Ready for the meeting&#39;s decision" in row
        decision = db.session.scalar(select(Task).where(Task.case_id == amy.id, Task.bpmn_id == "joint_decision"))
        assert f"/tasks/{decision.id}" in row and f'href="/cases/{amy.id}"' in row

        complete(amy, "joint_decision")
        page = client.get("/mat")
    row = row_of(page, amy.reference)
    assert "No action" in row and "/tasks/" not in row
    assert page.index("Today's meeting") < page.index(amy.reference)


def test_the_list_shows_nothing_when_no_child_waits(web) -> None:
    page = web.login("health").get("/mat")
    assert 'id="empty"' in page


@pytest.mark.parametrize("role", ["ssw", "coordinator", "compass_sw", "police", "health", "service_manager"])
def test_the_hub_and_the_agencies_at_the_meeting_see_the_list(web, role: str) -> None:
    web.login(role).get("/mat")


@pytest.mark.parametrize("role", ["early_help", "partner", "lado", "allocated_worker", "process_owner", "admin"])
def test_others_are_refused(web, role: str) -> None:
    web.login(role).get("/mat", expect=403)


def test_signing_in_is_needed(web) -> None:
    response: Any = web.client.get("/mat")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_chair_decides_with_what_each_agency_shared_in_front_of_them(web, two_items) -> None:
    amy, _ben = two_items
    with time_machine.travel(AFTER_THE_MEETING, tick=False):
        complete(amy, "health_check")
        complete(amy, "social_care_check")
        decision = db.session.scalar(select(Task).where(Task.case_id == amy.id, Task.bpmn_id == "joint_decision"))
        client = web.login("ssw")
        page = client.get(f"/tasks/{decision.id}")
        for bpmn_id in ("police_check", "health_check", "social_care_check"):
            summary = next(v for k, v in STEPS[bpmn_id]["data"].items() if k.endswith("_summary"))
            assert summary in page

        # Further checks without the reason for overriding consent: refused, with the answers kept.
        rationale = "The school should be asked what it has seen before anything is decided."
        refused = client.post(
            f"/tasks/{decision.id}", {"mat_outcome": "further_checks", "rationale": rationale}, expect=400
        ).get_data(as_text=True)
        assert "govuk-error-summary" in refused and "Give the reason for overriding parental consent" in refused
        assert rationale in refused
        assert db.session.get(Task, decision.id) is not None

        client.post(
            f"/tasks/{decision.id}",
            {
                "mat_outcome": "further_checks",
                "rationale": rationale,
                "consent_override_reason": "Waiting for the parents would leave Amy at risk.",
            },
            expect=302,
        )
        page = client.get("/mat")
    row = row_of(page, amy.reference)
    assert "Further agency checks: under way" in row
    assert "/tasks/" not in row  # the checks are the Compass social worker's, not the chair's
    with time_machine.travel(AFTER_THE_MEETING, tick=False):
        gather = db.session.scalar(select(Task).where(Task.case_id == amy.id, Task.bpmn_id == "gather_information"))
        row = row_of(web.another().login("compass_sw").get("/mat"), amy.reference)
    assert f"/tasks/{gather.id}" in row


def test_a_child_from_a_missed_meeting_is_listed_after_today_and_the_days_ahead(web, two_items) -> None:
    amy, ben = two_items
    with time_machine.travel(datetime(2026, 11, 23, 9, 0, tzinfo=UTC), tick=False):  # Monday, before its meeting
        cal = handed_to_mat("Cal Example")
    with time_machine.travel(AFTER_THE_MEETING, tick=False):
        page = web.login("service_manager").get("/mat")
    earlier = page.index("Earlier meeting: Monday 23 November 2026")
    assert page.index("Today's meeting") < page.index(amy.reference) < page.index(ben.reference) < earlier
    assert earlier < page.index(cal.reference)
    assert "Still to decide" in page[earlier : page.index(cal.reference)]


def test_a_contact_recorded_in_error_leaves_the_list(web, two_items) -> None:
    from app.services import case_actions

    amy, ben = two_items
    with time_machine.travel(AFTER_THE_MEETING, tick=False):
        complete(amy, "health_check")
        complete(amy, "social_care_check")
        complete(amy, "joint_decision")  # decided today: listed with today's meeting
        for case in (amy, ben):
            case_actions.void(user("ssw"), case.id, "Recorded against the wrong family.")
        page = web.login("ssw").get("/mat")
    assert amy.reference not in page and ben.reference not in page
    assert 'id="empty"' in page
