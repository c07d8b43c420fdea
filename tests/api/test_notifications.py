"""POST /api/v1/notifications/domestic-abuse: the police's system sends its notifications."""

from __future__ import annotations

import copy
import json
from typing import Any

from api_client import assert_documented
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Case, ProcessInstance, Task
from app.models.domestic_abuse import DaNotification

URL = "/api/v1/notifications/domestic-abuse"

NOTIFICATION: dict[str, Any] = {
    "police_reference": "DA/2026/000801",
    "incident_date": "2026-11-23",
    "incident_time": "23:05",
    "dash_risk": "high",
    "dash_yes_count": 15,
    "marac": True,
    "repeat_incident": False,
    "summary": "Officers attended after a 999 call; the victim had marks to her neck. Two children at home.",
    "victim": {"name": "Jo Victim", "address": "3 River Walk, Shrewsbury SY1 2AB", "safe_to_write": False},
    "perpetrator": {"name": "Lee Partner", "relationship": "Partner"},
    "children": [
        {
            "name": "Ruby Victim",
            "date_of_birth": "2017-02-11",
            "school": "Castlefields Primary School",
            "school_email": "dsl@castlefields.example.sch.uk",
        },
        {"name": "Sam Victim", "date_of_birth": "2023-05-30"},
    ],
}


def _count(model: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)))


def test_a_notification_is_recorded_and_its_triage_started(api) -> None:
    answer = api.as_role("police").post(URL, NOTIFICATION, expect=201)
    assert_documented("NotificationReceived", answer.json)
    case = db.session.get(Case, answer.json["case_id"])
    assert answer.json == {
        "case_id": case.id,
        "case_reference": case.reference,
        "police_reference": "DA/2026/000801",
        "status": "received",
    }
    assert answer.headers["Location"] == f"/api/v1/cases/{case.id}"
    assert (case.source, case.request_type) == ("police", "da_notification")
    assert [c.person.name for c in case.children] == ["Ruby Victim", "Sam Victim"]
    row = db.session.scalar(select(DaNotification))
    assert (row.received_via, row.dash_risk, row.dash_yes_count, row.marac) == ("api", "high", 15, True)
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case.id))
    assert (instance.flow, instance.status) == ("da_triage", "running")
    assert {t.bpmn_id for t in db.session.scalars(select(Task).where(Task.case_id == case.id))} == {
        "social_care_check",
        "health_check",
        "police_check",
    }
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.name == "DA_NOTIFICATION_RECEIVED"))
    assert event.data["via"] == "api" and event.user_id is not None


def test_the_same_notification_sent_again_answers_with_the_first_case(api) -> None:
    client = api.as_role("police")
    first = client.post(URL, NOTIFICATION, expect=201)
    again = client.post(URL, copy.deepcopy(NOTIFICATION), expect=200)
    assert again.json["case_id"] == first.json["case_id"] and again.json["status"] == "already_received"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _count(Case) == 1 and _count(ProcessInstance) == 1


def test_the_same_reference_with_other_details_is_refused_on_the_reference(api) -> None:
    client = api.as_role("police")
    client.post(URL, NOTIFICATION, expect=201)
    changed = {**copy.deepcopy(NOTIFICATION), "summary": NOTIFICATION["summary"] + " A second call that night."}
    answer = client.post(URL, changed, expect=422)
    assert_documented("ValidationErrors", answer.json)
    assert list(answer.json["errors"]) == ["police_reference"]
    assert "already received" in answer.json["errors"]["police_reference"]
    assert _count(Case) == 1


def test_problems_come_back_per_field_and_nothing_is_saved(api) -> None:
    bad = copy.deepcopy(NOTIFICATION)
    bad.update(dash_risk="very high", incident_date="23/11/2026", dash_yes_count=30)
    del bad["victim"]["safe_to_write"]
    bad["children"] = [{"date_of_birth": "2017-02-30"}]
    answer = api.as_role("police").post(URL, bad, expect=422)
    assert_documented("ValidationErrors", answer.json)
    errors = answer.json["errors"]
    assert set(errors) == {
        "dash_risk",
        "incident_date",
        "dash_yes_count",
        "victim.safe_to_write",
        "children.0.name",
        "children.0.date_of_birth",
    }
    assert errors["incident_date"] == "Enter the date of the incident as a real date"
    assert errors["children.0.name"] == "Enter the child's full name"
    assert _count(Case) == 0 and _count(DaNotification) == 0


def test_no_child_unknown_fields_and_wrong_types_are_refused_not_errors(api) -> None:
    client = api.as_role("police")
    for change in (
        {"children": []},
        {"children": "Ruby"},
        {"decisions": [{"key": "child-1", "outcome": "no_further_action"}]},  # never reaches the flow's data
        {"police_reference": 12345},
        {"victim": None},
        {"marac": "yes"},
    ):
        answer = client.post(URL, {**copy.deepcopy(NOTIFICATION), **change}, expect=422)
        assert answer.json["errors"], change
    assert _count(Case) == 0


def test_a_body_that_is_not_a_json_object_is_a_plain_400(api) -> None:
    client = api.as_role("police")
    for raw in ("not json", "[1, 2]", json.dumps("DA/1")):
        answer = client.post(URL, raw=raw, expect=400)
        assert "JSON object" in answer.json["error"]
    assert _count(Case) == 0


def test_an_idempotency_key_replays_its_case_and_refuses_another_request(api) -> None:
    client = api.as_role("coordinator")
    headers = {"Idempotency-Key": "police-batch-1"}
    first = client.post(URL, NOTIFICATION, expect=201, headers=headers)
    again = client.post(URL, NOTIFICATION, expect=200, headers=headers)
    assert again.json["case_id"] == first.json["case_id"]
    other = {**copy.deepcopy(NOTIFICATION), "police_reference": "DA/2026/000802"}
    refused = client.post(URL, other, expect=422, headers=headers)
    assert "Idempotency-Key" in refused.json["error"]
    assert _count(Case) == 1


def test_only_the_police_and_the_hubs_recorders_may_send(api) -> None:
    answer = api.as_role("health").post(URL, NOTIFICATION, expect=403)
    assert answer.json["error"]
    api.with_token(None).post(URL, NOTIFICATION, expect=401)
    assert _count(Case) == 0


def test_the_endpoint_is_in_the_openapi_document(api) -> None:
    document = api.as_role("police").get("/api/openapi.json").json
    operation = document["paths"][URL]["post"]
    assert set(operation["responses"]) >= {"200", "201", "400", "401", "403", "422"}
    schema = document["components"]["schemas"]["DomesticAbuseNotification"]
    assert "police_reference" in schema["required"] and "children" in schema["properties"]
