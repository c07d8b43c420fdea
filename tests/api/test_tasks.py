"""Working tasks through the API: the trays, a task with its form and data, completing it (200, 403, 404,
409, 422), and whole scenarios of the initial-contact flow driven from their files, each step found by its
diagram id on the case and completed with a token of the step's role."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import time_machine
from api_client import ApiClient, assert_documented
from sqlalchemy import select
from support import SCENARIO_START, duration, start_test_case, user

from app.extensions import db
from app.models import AuditEvent, OutboxItem, ProcessInstance, Task
from app.services import bundles, contacts, scenarios, trays, worker

SCENARIOS = sorted((bundles.PROCESSES_DIR / "initial_contact" / "scenarios").glob("*.json"))
S47 = json.loads((bundles.PROCESSES_DIR / "initial_contact" / "scenarios" / "s47_strategy_discussion.json").read_text())


def waiting(client: ApiClient, case_id: int, step: dict[str, Any]) -> dict[str, Any]:
    tasks = client.get(f"/api/v1/cases/{case_id}").json["tasks"]
    found = [t for t in tasks if t["name"] == step["task"] and step.get("subject", t["subject"]) == t["subject"]]
    assert found, (step, [(t["name"], t["subject"]) for t in tasks])
    return found[0]


def recorded(scenario: dict[str, Any]) -> int:
    return contacts.record_contact(user(scenario.get("start_as", "fpoc")), copy.deepcopy(scenario["start"])).id


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_a_scenario_runs_through_the_api(api, path: Path) -> None:
    """Every scenario, each step through the API; what the main record system holds beforehand is imported,
    and a step that moves the clock moves a fake one and lets the worker wake what is due."""
    scenario = json.loads(path.read_text("utf-8"))
    with time_machine.travel(SCENARIO_START, tick=False) as clock:
        _run_through_the_api(api, scenario, clock)


def _run_through_the_api(api, scenario: dict[str, Any], clock: Any) -> None:
    scenarios._import_records(scenario)
    start_as = api.as_role(scenario.get("start_as", "fpoc"))
    if scenario.get("start_with") == "domestic_abuse_notification":
        # Handed over from domestic-abuse triage: the police system sends the notification, as it would.
        police = api.as_role("police")
        case_id = police.post("/api/v1/notifications/domestic-abuse", scenario["start"], expect=201).json["case_id"]
    else:
        case_id = start_as.post("/api/v1/cases", {"flow": "initial_contact", "data": scenario["start"]}, expect=201)
        case_id = case_id.json["id"]
    hub = api.as_role("ssw")  # sees every front-door case, so finds every waiting task on it
    by_role: dict[str, ApiClient] = {}
    for step in scenario["steps"]:
        if "advance" in step:
            clock.shift(duration(step["advance"]))
            worker.wake_due()
            continue
        if "check" in step:
            continue  # a part-way check of the case's records: the scenario tests make it
        task = waiting(hub, case_id, step)
        client = by_role.setdefault(step["as"], api.as_role(step["as"]))
        opened = client.get(f"/api/v1/tasks/{task['id']}").json
        assert_documented("TaskDetail", opened)
        assert opened["form"].get("type") == "object"
        done = client.post(f"/api/v1/tasks/{task['id']}/complete", {"data": step.get("data", {})}, expect=200).json
        assert_documented("CaseAfterTask", done)
        assert scenarios.mirror_mismatch(case_id) is None
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.task_id == task["id"]))
        assert event.name == "TASK_COMPLETED" and event.user_id == user(step["as"]).id

    case = hub.get(f"/api/v1/cases/{case_id}").json
    letters = list(db.session.scalars(select(OutboxItem).where(OutboxItem.case_id == case_id)))
    actual = {
        "status": case["status"],
        "outcomes": {k: v for k, v in case["outcome"].items() if v},
        "handovers": {c["key"]: c["handover"] for c in case["children"] if c["handover"]},
        "letters": sorted({i.template for i in letters}),
        "letters_to": dict(Counter(i.recipient_role for i in letters)),
    }
    for key, wanted in scenario.get("expect", {}).items():
        if key in actual:
            assert actual[key] == (sorted(set(wanted)) if key == "letters" else wanted), key
    assert {c["key"]: c["outcome"] for c in case["children"]} == case["outcome"]


def test_the_trays_are_the_web_trays(api) -> None:
    recorded(S47)
    recorded(S47)
    ssw = api.as_role("ssw")
    mine = ssw.get("/api/v1/tasks").json
    assert_documented("TaskList", mine)
    assert [t["id"] for t in mine["tasks"]] == [t.id for t in trays.my_tasks(user("ssw"))]
    assert len(mine["tasks"]) == 2
    team = ssw.get("/api/v1/tasks?tray=team").json
    assert [t["id"] for t in team["tasks"]] == [t.id for t in trays.team_tasks(user("ssw"))]
    assert api.as_role("police").get("/api/v1/tasks").json["tasks"] == []
    assert "tray=mine or ?tray=team" in ssw.get("/api/v1/tasks?tray=everyone", expect=400).json["error"]


def test_a_task_shows_only_the_answers_its_form_asks_for(api) -> None:
    case_id = recorded(S47)
    task = waiting(api.as_role("ssw"), case_id, S47["steps"][0])
    opened = api.as_role("ssw").get(f"/api/v1/tasks/{task['id']}").json
    assert set(opened["data"]) <= set(opened["form"]["properties"]) | _revealed(opened["form"])
    assert S47["start"]["referrer"]["email"] not in json.dumps(opened["data"])


def _revealed(schema: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for part in [schema, *schema.get("allOf", [])]:
        for branch in ("then", "else"):
            names |= set(part.get(branch, {}).get("properties", {}))
    return names


def test_a_token_of_another_role_cannot_open_or_complete_a_task(api) -> None:
    case_id = recorded(S47)
    step = S47["steps"][0]
    task = waiting(api.as_role("ssw"), case_id, step)
    for role in ("fpoc", "police", "admin"):
        other = api.as_role(role)
        other.get(f"/api/v1/tasks/{task['id']}", expect=403)
        answer = other.post(f"/api/v1/tasks/{task['id']}/complete", {"data": step["data"]}, expect=403)
        assert answer.json["error"]
    assert db.session.get(Task, task["id"]) is not None
    assert scenarios.mirror_mismatch(case_id) is None


def test_the_second_completion_is_a_conflict_naming_who_did_it_and_when(api) -> None:
    case_id = recorded(S47)
    step = S47["steps"][0]
    task = waiting(api.as_role("ssw"), case_id, step)
    first, second = api.as_role("ssw"), api.as_role("ssw")
    first.post(f"/api/v1/tasks/{task['id']}/complete", {"data": step["data"]}, expect=200)
    late = second.post(f"/api/v1/tasks/{task['id']}/complete", {"data": step["data"]}, expect=409).json
    assert_documented("Conflict", late)
    assert late["completed_by"] == user("ssw").name and late["completed_at"]
    assert second.get(f"/api/v1/tasks/{task['id']}", expect=409).json["completed_by"] == user("ssw").name


def test_answers_that_do_not_match_the_form_get_422(api) -> None:
    case_id = recorded(S47)
    task = waiting(api.as_role("ssw"), case_id, S47["steps"][0])
    ssw = api.as_role("ssw")
    form = ssw.get(f"/api/v1/tasks/{task['id']}").json["form"]
    answer = ssw.post(f"/api/v1/tasks/{task['id']}/complete", {"data": {}}, expect=422).json
    assert_documented("ValidationErrors", answer)
    assert set(form["required"]) <= set(answer["errors"])
    assert db.session.get(Task, task["id"]) is not None


def test_an_unknown_task_is_404_and_a_body_without_data_is_400(api) -> None:
    ssw = api.as_role("ssw")
    nowhere = "00000000-0000-0000-0000-000000000000"
    assert ssw.get(f"/api/v1/tasks/{nowhere}", expect=404).json["error"]
    assert ssw.post(f"/api/v1/tasks/{nowhere}/complete", {"data": {}}, expect=404).json["error"]
    case_id = recorded(S47)
    task = waiting(ssw, case_id, S47["steps"][0])
    assert '"data"' in ssw.post(f"/api/v1/tasks/{task['id']}/complete", {"answers": {}}, expect=400).json["error"]
    assert "JSON" in ssw.post(f"/api/v1/tasks/{task['id']}/complete", raw="threshold=s47", expect=400).json["error"]


def test_a_partner_works_its_own_lane_only_and_sees_the_case_while_it_has_a_part(api) -> None:
    case, _instance = start_test_case("parallel_checks")
    police, health = api.as_role("police"), api.as_role("health")
    lanes = {t["lane"]: t for t in police.get(f"/api/v1/cases/{case.id}").json["tasks"]}
    assert {"police", "health"} <= set(lanes)

    # Police may not do health's check, nor health the police's.
    police.post(f"/api/v1/tasks/{lanes['health']['id']}/complete", {"data": {"finding": "None"}}, expect=403)
    health.post(f"/api/v1/tasks/{lanes['police']['id']}/complete", {"data": {"finding": "None"}}, expect=403)
    health.post(
        f"/api/v1/tasks/{lanes['health']['id']}/complete", {"data": {"finding": "Known to the health visitor."}}
    )

    # A partner sees what happened and when, but not the answers each step recorded, nor the referrer.
    seen = police.get(f"/api/v1/cases/{case.id}").json
    assert_documented("Case", seen)
    assert seen["events"] and all("detail" not in e for e in seen["events"])
    assert "referrer" not in seen and "Known to the health visitor" not in json.dumps(seen)
    assert "Known to the health visitor" in json.dumps(api.as_role("ssw").get(f"/api/v1/cases/{case.id}").json)

    done = police.post(
        f"/api/v1/tasks/{lanes['police']['id']}/complete", {"data": {"finding": "No police records."}}, expect=200
    ).json
    # That was the police's only part in the case: they are told which case it was, and no more.
    assert done == {"id": case.id}
    police.get(f"/api/v1/cases/{case.id}", expect=404)
    assert api.as_role("ssw").get(f"/api/v1/cases/{case.id}").json["id"] == case.id


def test_an_answer_to_a_question_the_form_does_not_ask_is_refused_and_nothing_is_written(api) -> None:
    """Answers go into the case's workflow data: an extra key could reset a loop's counter or set an outcome."""
    case_id = recorded(S47)
    step = S47["steps"][0]
    ssw = api.as_role("ssw")
    task = waiting(ssw, case_id, step)
    instance = db.session.get(Task, task["id"]).instance_id
    before = db.session.get(ProcessInstance, instance).state
    answer = ssw.post(
        f"/api/v1/tasks/{task['id']}/complete", {"data": {**step["data"], "outcome": "no_further_action"}}, expect=422
    ).json
    assert answer["errors"] == {"outcome": "The form has no question called 'outcome'"}
    db.session.expire_all()
    assert db.session.get(Task, task["id"]) is not None
    assert db.session.get(ProcessInstance, instance).state == before
    # The same answers without it are taken.
    ssw.post(f"/api/v1/tasks/{task['id']}/complete", {"data": step["data"]}, expect=200)
