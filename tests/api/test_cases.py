"""Starting the initial-contact flow through the API and reading cases back: 201, 400, 403, 404 and 422,
and the Idempotency-Key that makes a retry find the case instead of making a second one.

Start data comes from the flow's own scenario files and required fields from the live start form, so the
tests follow the diagram and its forms as they change."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from api_client import assert_documented
from sqlalchemy import func, select
from support import user

from app.extensions import db
from app.models import ApiIdempotencyKey, AuditEvent, Case, LiveBundle
from app.services import bundles, contacts

SCENARIO = json.loads(
    (bundles.PROCESSES_DIR / "initial_contact" / "scenarios" / "s47_strategy_discussion.json").read_text("utf-8")
)
START = SCENARIO["start"]
CASES = "/api/v1/cases"


def new_case(data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"flow": "initial_contact", "data": copy.deepcopy(data if data is not None else START)}


def case_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Case)) or 0


def test_a_contact_recorder_sees_the_flow_it_may_start_with_its_start_form(api) -> None:
    answer = api.as_role("coordinator").get("/api/v1/flows")
    assert_documented("FlowList", answer.json)
    (flow,) = answer.json["flows"]
    assert flow["name"] == "initial_contact" and flow["title"]
    assert flow["start_form"] == contacts.start_form()[2]


def test_a_partner_may_start_no_flow(api) -> None:
    assert api.as_role("police").get("/api/v1/flows").json == {"flows": []}


def test_posting_a_contact_makes_the_case_and_answers_with_it(api) -> None:
    answer = api.as_role("coordinator").post(CASES, new_case(), expect=201)
    body = answer.json
    assert_documented("Case", body)
    case = db.session.get(Case, body["id"])
    assert case is not None and case.created_by_id == user("coordinator").id
    assert answer.headers["Location"] == f"/api/v1/cases/{case.id}"
    assert body["reference"] == case.reference and body["flow"] == "initial_contact" and body["status"] == "open"
    assert [c["name"] for c in body["children"]] == [c["name"] for c in START["children"]]
    assert body["outcome"] == {c["key"]: None for c in body["children"]}
    assert all(t["name"] and t["title"] and t["lane"] for t in body["tasks"])
    assert body["events"], "the contact is on the timeline"
    # The creation and the look at the case that the answer gave are both on the record, as the token's user.
    for name in ("CASE_CREATED", "CASE_VIEWED"):
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.name == name, AuditEvent.case_id == case.id))
        assert event is not None and event.user_id == user("coordinator").id


@pytest.mark.parametrize(
    ("raw", "body", "words"),
    [
        ("this is not json", None, "JSON object"),
        ("[1, 2]", None, "JSON object"),
        (None, {"data": START}, '"flow"'),
        (None, {"flow": "initial_contact"}, '"data"'),
        (None, {"flow": "initial_contact", "data": ["not", "an", "object"]}, '"data"'),
        (None, {"flow": "no_such_flow", "data": START}, "no flow called 'no_such_flow'"),
    ],
)
def test_a_body_that_is_not_a_start_request_is_refused_with_400(api, raw, body, words) -> None:
    answer = api.as_role("fpoc").post(CASES, body, raw=raw, expect=400)
    assert words in answer.json["error"]
    assert case_count() == 0


def test_start_data_missing_its_required_answers_gets_422_with_one_message_per_answer(api) -> None:
    required = contacts.start_form()[2]["required"]
    data = {k: v for k, v in START.items() if k not in required}
    answer = api.as_role("fpoc").post(CASES, new_case(data), expect=422)
    assert_documented("ValidationErrors", answer.json)
    assert set(answer.json["errors"]) == set(required)
    assert all(message for message in answer.json["errors"].values())
    assert case_count() == 0


def test_a_missing_answer_inside_a_list_is_keyed_by_its_path(api) -> None:
    # The first list of people in the start form whose items require an answer, whatever the form calls it.
    schema = contacts.start_form()[2]
    name, item_required = next(
        (name, prop["items"]["required"][0])
        for name, prop in schema["properties"].items()
        if prop.get("type") == "array" and prop.get("items", {}).get("required") and START.get(name)
    )
    data = copy.deepcopy(START)
    del data[name][0][item_required]
    answer = api.as_role("fpoc").post(CASES, new_case(data), expect=422)
    assert f"{name}.0.{item_required}" in answer.json["errors"]
    assert case_count() == 0


def test_a_caller_who_may_not_record_contacts_gets_403(api) -> None:
    for role in ("police", "process_owner", "early_help"):
        answer = api.as_role(role).post(CASES, new_case(), expect=403)
        assert answer.json["error"]
    assert case_count() == 0


def test_a_retry_with_the_same_idempotency_key_finds_the_first_case(api) -> None:
    client = api.as_role("coordinator")
    key = {"Idempotency-Key": "marf-2026-000123"}
    first = client.post(CASES, new_case(), expect=201, headers=key)
    again = client.post(CASES, new_case(), expect=200, headers=key)
    assert again.json["id"] == first.json["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert case_count() == 1
    row = db.session.scalar(select(ApiIdempotencyKey))
    assert (row.key, row.case_id, row.user_id) == (key["Idempotency-Key"], first.json["id"], user("coordinator").id)

    # Without a key, the same request is a new contact.
    client.post(CASES, new_case(), expect=201)
    assert case_count() == 2


def test_the_same_key_with_a_different_request_is_refused(api) -> None:
    client = api.as_role("coordinator")
    key = {"Idempotency-Key": "marf-77"}
    client.post(CASES, new_case(), expect=201, headers=key)
    changed = copy.deepcopy(START)
    changed["concern"] = START["concern"] + " And another thing."
    answer = client.post(CASES, new_case(changed), expect=422, headers=key)
    assert "already used for a different request" in answer.json["error"]
    assert case_count() == 1


def test_keys_belong_to_one_user_and_a_refused_request_leaves_its_key_unused(api) -> None:
    key = {"Idempotency-Key": "shared-key"}
    required = contacts.start_form()[2]["required"]
    fpoc = api.as_role("fpoc")
    fpoc.post(CASES, new_case({k: v for k, v in START.items() if k != required[-1]}), expect=422, headers=key)
    assert db.session.scalar(select(func.count()).select_from(ApiIdempotencyKey)) == 0
    mine = fpoc.post(CASES, new_case(), expect=201, headers=key)
    theirs = api.as_role("coordinator").post(CASES, new_case(), expect=201, headers=key)
    assert mine.json["id"] != theirs.json["id"]
    assert case_count() == 2


def test_an_unusable_idempotency_key_is_refused(api) -> None:
    for key in ("   ", "x" * 201):
        answer = api.as_role("fpoc").post(CASES, new_case(), expect=400, headers={"Idempotency-Key": key})
        assert "Idempotency-Key" in answer.json["error"]
    assert case_count() == 0


def test_reading_a_case_unknown_or_out_of_sight_answers_404_alike(api) -> None:
    case_id = contacts.record_contact(user("fpoc"), copy.deepcopy(START)).id
    ssw = api.as_role("ssw").get(f"{CASES}/{case_id}").json
    assert_documented("Case", ssw)
    assert ssw["referrer"]["name"] == START["referrer"]["name"]

    unknown = api.as_role("ssw").get(f"{CASES}/{case_id + 1000}", expect=404).json
    for role in ("police", "partner", "admin", "process_owner"):
        hidden = api.as_role(role).get(f"{CASES}/{case_id}", expect=404).json
        assert hidden["error"].replace(str(case_id), "N") == unknown["error"].replace(str(case_id + 1000), "N")
        viewed = select(AuditEvent).where(AuditEvent.name == "CASE_VIEWED", AuditEvent.user_id == user(role).id)
        assert db.session.scalar(viewed) is None


def test_the_referrers_contact_details_are_never_in_a_case(api) -> None:
    case_id = contacts.record_contact(user("fpoc"), copy.deepcopy(START)).id
    text = api.as_role("ssw").get(f"{CASES}/{case_id}").json["referrer"]
    contact_details = {k: v for k, v in START["referrer"].items() if k in ("email", "phone", "address")}
    assert contact_details, "the scenario gives the referrer's contact details"
    for value in contact_details.values():
        assert value not in json.dumps(text)


def test_a_broken_deployment_is_a_json_500_with_nothing_saved(api) -> None:
    client = api.as_role("fpoc")
    # No live version of the flow: a real fault in the service, which the caller hears about in plain words.
    db.session.execute(LiveBundle.__table__.delete())
    db.session.commit()
    answer = client.post(CASES, new_case(), expect=500)
    assert answer.json == {"error": answer.json["error"]} and "Nothing you sent was saved" in answer.json["error"]
    assert case_count() == 0
