"""Restricted records ("break glass"): a manager restricts a record with a reason; it leaves search, the case
list and the children's names in trays; anyone opening it gives a reason, which is kept, audited and listed
for managers; a manager reads who looked at a case, and why."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import select
from support import user

from app.extensions import db
from app.models import AuditEvent, Case, CaseAccessReason, Task
from app.services import api_tokens, bundles, contacts

SCENARIO = json.loads(
    (bundles.PROCESSES_DIR / "initial_contact" / "scenarios" / "below_threshold_advice.json").read_text(
        encoding="utf-8"
    )
)
CHILD = SCENARIO["start"]["children"][0]["name"]
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
REASON = "The child is the nephew of a member of the hub's staff."
WHY_OPEN = "Asked by the team manager to complete the SSW review today."


def at(moment: datetime) -> Any:
    return time_machine.travel(moment, tick=False)


@pytest.fixture
def case(fresh) -> Case:
    with at(NOW):
        recorded = contacts.record_contact(user("fpoc"), SCENARIO["start"])
    return recorded


def restrict(web: Any, case: Case) -> Any:
    manager = web.another().login("team_manager")
    response = manager.post(f"/cases/{case.id}/restriction", {"reason": REASON})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    db.session.refresh(case)
    assert case.restricted
    return manager


def events(name: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.name == name).order_by(AuditEvent.id)))


def test_a_reason_is_needed_to_restrict_and_a_short_one_is_refused_with_the_words_kept(case: Case, web) -> None:
    manager = web.another().login("team_manager")
    response = manager.post(f"/cases/{case.id}/restriction", {"reason": "family"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "There is a problem" in page and "at least 10 characters" in page and ">family</textarea>" in page
    db.session.refresh(case)
    assert not case.restricted and events("CASE_RESTRICTED") == []
    restrict(web, case)
    (event,) = events("CASE_RESTRICTED")
    reason = db.session.get(CaseAccessReason, event.data["reason_id"])
    assert (reason.kind, reason.reason, event.user_id) == ("restricted", REASON, user("team_manager").id)
    assert REASON not in json.dumps(event.data)  # the trail holds ids, the words live beside it


def test_only_managers_restrict_a_record(case: Case, web) -> None:
    for role in ("ssw", "fpoc", "coordinator", "police"):
        other = web.another().login(role)
        assert other.client.get(f"/cases/{case.id}/restriction").status_code == 403, role
        assert other.post(f"/cases/{case.id}/restriction", {"reason": REASON}).status_code == 403, role
    db.session.refresh(case)
    assert not case.restricted


def test_a_restricted_record_leaves_search_the_case_list_and_names_in_trays(case: Case, web) -> None:
    ssw = web.another().login("ssw")
    assert case.reference in ssw.get("/cases")
    assert CHILD in ssw.get(f"/people/search?name={CHILD.split()[0]}")
    restrict(web, case)
    assert case.reference not in ssw.get("/cases")
    assert CHILD not in ssw.get(f"/people/search?name={CHILD.split()[0]}")
    tray = ssw.get("/tasks")
    assert case.reference in tray and "Restricted record" in tray  # the work is still there to be done
    assert CHILD not in tray
    token = api_tokens.create("demo.ssw").secret
    listed = web.client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert {t["subject"] for t in listed["tasks"]} == {"Restricted record"}


def test_opening_needs_a_reason_which_is_kept_and_holds_for_the_working_day(case: Case, web) -> None:
    with at(NOW):
        restrict(web, case)
        ssw = web.another().login("ssw")
        asked = ssw.client.get(f"/cases/{case.id}")
        page = asked.get_data(as_text=True)
        assert asked.status_code == 403 and "This is a restricted record" in page
        assert CHILD not in page and case.concern not in page  # nothing of the record before the reason
        refused = ssw.post(f"/cases/{case.id}/open", {"reason": "need"})
        assert refused.status_code == 400 and "at least 10 characters" in refused.get_data(as_text=True)
        opened = ssw.post(f"/cases/{case.id}/open", {"reason": WHY_OPEN})
        assert opened.status_code == 302 and opened.headers["Location"] == f"/cases/{case.id}"
        assert CHILD in ssw.get(f"/cases/{case.id}")
    with at(NOW + timedelta(hours=9)):
        assert CHILD in ssw.get(f"/cases/{case.id}")  # the same working day: not asked again
    with at(NOW + timedelta(hours=10, minutes=1)):
        assert ssw.client.get(f"/cases/{case.id}").status_code == 403  # the next day: asked again
    (event,) = events("RESTRICTED_CASE_OPENED")
    assert event.user_id == user("ssw").id and event.case_id == case.id
    assert db.session.get(CaseAccessReason, event.data["reason_id"]).reason == WHY_OPEN


def test_a_task_of_a_restricted_record_asks_for_the_reason_then_comes_back(case: Case, web) -> None:
    restrict(web, case)
    task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "ssw_review"))
    ssw = web.another().login("ssw")
    sent = ssw.client.get(f"/tasks/{task.id}")
    assert sent.status_code == 302 and sent.headers["Location"].startswith(f"/cases/{case.id}?next=")
    asked = ssw.client.get(sent.headers["Location"]).get_data(as_text=True)
    assert f'name="next" value="/tasks/{task.id}"' in asked
    back = ssw.post(f"/cases/{case.id}/open", {"reason": WHY_OPEN, "next": f"/tasks/{task.id}"})
    assert back.headers["Location"] == f"/tasks/{task.id}"
    assert CHILD in ssw.get(f"/tasks/{task.id}")
    elsewhere = ssw.post(f"/cases/{case.id}/open", {"reason": WHY_OPEN, "next": "https://example.org/"})
    assert elsewhere.headers["Location"] == f"/cases/{case.id}"  # never sent on to another site


def test_a_role_with_no_part_in_the_case_is_refused_outright_not_asked_for_a_reason(case: Case, web) -> None:
    restrict(web, case)
    police = web.another().login("police")
    response = police.client.get(f"/cases/{case.id}")
    assert response.status_code == 403 and "restricted record" not in response.get_data(as_text=True)
    assert police.post(f"/cases/{case.id}/open", {"reason": WHY_OPEN}).status_code == 403
    assert db.session.scalars(select(CaseAccessReason).where(CaseAccessReason.kind == "opened")).all() == []


def test_the_api_refuses_a_restricted_record(case: Case, web) -> None:
    restrict(web, case)
    token = api_tokens.create("demo.ssw").secret
    answer = web.client.get(f"/api/v1/cases/{case.id}", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403 and CHILD not in answer.get_data(as_text=True)


def test_managers_see_every_opening_and_who_looked_at_a_case_and_why(case: Case, web) -> None:
    manager = restrict(web, case)
    ssw = web.another().login("ssw")
    ssw.post(f"/cases/{case.id}/open", {"reason": WHY_OPEN})
    ssw.get(f"/cases/{case.id}")
    listing = html.unescape(manager.get("/restricted-records"))
    assert case.reference in listing and WHY_OPEN in listing and "Demo senior social worker" in listing
    log = html.unescape(manager.get(f"/cases/{case.id}/access-log"))
    for shown in ("Opened the restricted record", WHY_OPEN, "Looked at the case", "Restricted the record", REASON):
        assert shown in log, shown
    assert "Demo senior social worker" in log and "Senior social worker" in log
    assert len(events("CASE_ACCESS_LOG_VIEWED")) == 1  # reading the log is on the record too
    for role in ("ssw", "fpoc", "police", "lado"):
        other = web.another().login(role)
        assert other.client.get(f"/cases/{case.id}/access-log").status_code == 403, role
        assert other.client.get("/restricted-records").status_code == 403, role


def test_lifting_the_restriction_needs_a_reason_and_brings_the_record_back(case: Case, web) -> None:
    manager = restrict(web, case)
    assert "Lift the restriction" in manager.get(f"/cases/{case.id}/restriction")
    response = manager.post(f"/cases/{case.id}/restriction", {"reason": "Staff member has left the council."})
    assert response.status_code == 302
    db.session.refresh(case)
    assert not case.restricted and len(events("CASE_RESTRICTION_LIFTED")) == 1
    ssw = web.another().login("ssw")
    assert CHILD in ssw.get(f"/cases/{case.id}")


def test_the_access_log_keeps_the_lados_work_from_a_team_manager_but_not_from_the_service_manager(fresh, web) -> None:
    from flows import run_scenario

    path = (
        bundles.PROCESSES_DIR / "lado" / "scenarios" / "one_meeting_substantiated_with_suspension_and_dbs_referral.json"
    )
    result = run_scenario(json.loads(path.read_text(encoding="utf-8")))
    assert result.mismatches == []
    lado_tasks = db.session.scalars(
        select(AuditEvent).where(AuditEvent.case_id == result.case_id, AuditEvent.name == "TASK_COMPLETED")
    ).all()
    team = html.unescape(web.another().login("team_manager").get(f"/cases/{result.case_id}/access-log"))
    service = html.unescape(web.another().login("service_manager").get(f"/cases/{result.case_id}/access-log"))
    assert "Demo LADO" not in team and "LADO" not in team.split("Who looked at this case")[1].split("Back to")[0]
    assert "Demo LADO" in service and len(lado_tasks) > 0


def test_a_long_access_log_comes_in_pages_of_a_hundred(case: Case, web) -> None:
    from app.services import audit

    for _ in range(104):
        audit.record("CASE_VIEWED", user("ssw").id, case_id=case.id)
    db.session.commit()
    manager = web.another().login("service_manager")
    first = manager.get(f"/cases/{case.id}/access-log")
    # the newest entry is this reading of the log itself; the 99 looks before it fill the page
    assert (
        first.count("Looked at the case") == 99
        and "Read this access log" in first
        and f"/cases/{case.id}/access-log?page=2" in first
    )
    second = manager.get(f"/cases/{case.id}/access-log?page=2")
    assert "Looked at the case" in second and f"/cases/{case.id}/access-log?page=1" in second


def test_a_page_number_too_big_for_the_database_is_the_first_page(case: Case, web) -> None:
    manager = web.another().login("service_manager")
    huge = "99999999999999999999"
    assert "Who looked at this case" in manager.get(f"/cases/{case.id}/access-log?page={huge}")
    assert "Restricted records" in manager.get(f"/restricted-records?page={huge}")
    assert "Records past their retention time" in manager.get(f"/retention?page={huge}")


def test_the_person_page_leaves_out_what_a_restricted_record_says_of_the_people_around_a_child(case: Case, web) -> None:
    child = next(p for p in case.people if p.role == "child")
    parent = next((p for p in case.people if p.role == "parent"), None)
    assert parent is not None
    ssw = web.another().login("ssw")
    assert parent.person.name in ssw.get(f"/people/{child.person_id}")
    restrict(web, case)
    assert ssw.client.get(f"/people/{child.person_id}").status_code == 404  # known from this record alone


def test_re_opening_a_restricted_record_makes_a_restricted_record(case: Case, web) -> None:
    from app.services import case_actions, restricted

    restrict(web, case)
    case.status = "closed"
    db.session.commit()
    fpoc = user("fpoc")
    restricted.open_with_reason(fpoc, case.id, WHY_OPEN)
    closed, data = case_actions.reopen_data(fpoc, case.id)
    answers = {k: SCENARIO["start"][k] for k in ("concern", "immediate_protection", "consent")}
    again = contacts.record_contact(fpoc, {**data, **answers}, reopens=closed)
    assert again.restricted and again.reopened_from_id == case.id
    assert again.reference not in web.another().login("fpoc").get("/cases")


def test_a_childs_restricted_earlier_contact_shows_as_there_but_says_nothing_more(case: Case, web) -> None:
    restrict(web, case)
    with at(NOW + timedelta(days=1)):
        later = contacts.record_contact(user("fpoc"), SCENARIO["start"])
    page = web.another().login("ssw").get(f"/cases/{later.id}")
    assert "A restricted record: ask a team manager" in page
    assert f">{case.reference}<" not in page


def test_sorting_a_tray_by_child_puts_restricted_records_last_whatever_their_names(fresh, web) -> None:
    with at(NOW):
        first = contacts.record_contact(user("fpoc"), SCENARIO["start"])
    named = {**SCENARIO["start"], "children": [{**SCENARIO["start"]["children"][0], "name": "Zachary Zed"}]}
    with at(NOW + timedelta(minutes=5)):
        second = contacts.record_contact(user("fpoc"), named)
    restrict(web, first)
    tray = web.another().login("ssw").get("/tasks?sort=child")
    assert tray.index(second.reference) < tray.index(first.reference)
