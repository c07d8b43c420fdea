"""The JSON API fuzzed by schemathesis from its own OpenAPI document (/api/openapi.json), in-process through
the WSGI app, with real tokens: requests the document allows and requests it does not, on real cases and tasks
as well as made-up ids. No answer may be a server error, and every answer must be one the document describes:
its status, its content type, its headers and its body. Where the document and the API disagree, the document
is what gets fixed.

Contacts and task answers are also made up from the forms themselves (tests/fuzzing.py), so the fuzzing
reaches the flows behind the endpoints, not only the checks in front of them. `make soak` runs many more.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from fuzzing import answers, examples, fields_of, junk, ready_task, record_counts
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis import checks as st_checks
from sqlalchemy import select

from app.extensions import db
from app.models import Case
from app.services import api_tokens
from app.web.api import openapi

OPERATIONS = [(method.upper(), path) for path, methods in openapi.PATHS.items() for method in methods]

# Every answer is checked against the document; a request the document forbids must be refused (4xx).
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
    st_checks.negative_data_rejection,
]


class World:
    """Two contacts with a task each for a senior social worker, and the tokens to fuzz with."""

    def __init__(self, api: Any, clock: Any):
        self.tasks = [ready_task("ssw_review", clock)[0], ready_task("ssw_decision", clock)[0]]
        self.cases = list(db.session.scalars(select(Case.id).order_by(Case.id)))
        # The senior social worker may do everything the API offers; the police's feed token may only send
        # notifications, so every other operation refuses it.
        self.tokens = {
            "ssw": api_tokens.create("demo.ssw", "fuzz", tuple(api_tokens.SCOPES)).secret,
            "police feed": api_tokens.create("demo.police", "fuzz", ("notifications",)).secret,
        }
        self.schema = schemathesis.openapi.from_wsgi(
            "/api/openapi.json", api.app, headers={"Authorization": f"Bearer {self.tokens['ssw']}"}
        )

    def real_ids(self, path: str) -> list[dict[str, Any]]:
        if "{case_id}" in path:
            return [{"case_id": case_id} for case_id in self.cases]
        if "{task_id}" in path:
            return [{"task_id": task_id} for task_id in self.tasks]
        return []


@pytest.fixture
def world(api: Any, clock: Any) -> World:
    return World(api, clock)


def test_schemathesis_fuzzes_every_operation_of_the_document(world: World) -> None:
    found = {(result.ok().method.upper(), result.ok().path) for result in world.schema.get_all_operations()}
    # Schemathesis leaves out the document's own address when it lists operations; the tests below ask for it
    # by name like every other.
    assert found | {("GET", "/api/openapi.json")} == set(OPERATIONS)
    assert all(world.schema[path][method] for method, path in OPERATIONS)


def with_body(case: Any, body: dict[str, Any]) -> Any:
    case.body = body
    return case


def made_up_bodies(world: World, method: str, path: str) -> list[st.SearchStrategy[Any]]:
    """Bodies made up from the forms behind an operation: a contact's answers, a task's answers."""
    operation = world.schema[path][method]
    if (method, path) == ("POST", "/api/v1/cases"):
        contact = st.builds(
            lambda data: {"flow": "initial_contact", "data": data}, answers(fields_of("contact_intake"))
        )
        return [st.builds(with_body, operation.as_strategy(), contact)]
    if (method, path) == ("POST", "/api/v1/tasks/{task_id}/complete"):
        review = st.builds(lambda data: {"data": data}, answers(fields_of("ssw_review")))
        return [
            st.builds(with_body, operation.as_strategy(path_parameters=ids), review) for ids in world.real_ids(path)
        ]
    return []


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
@pytest.mark.filterwarnings("ignore:Generating overly large repr")  # hypothesis naming a made-up contact
def test_no_request_gets_a_server_error_or_an_answer_the_document_does_not_describe(
    world: World, method: str, path: str
) -> None:
    operation = world.schema[path][method]
    cases = [operation.as_strategy(mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    cases += [operation.as_strategy(path_parameters=ids) for ids in world.real_ids(path)]
    cases += made_up_bodies(world, method, path)
    tally: Counter[str] = Counter()

    @examples(10)
    @given(case=st.one_of(cases), who=st.sampled_from(sorted(world.tokens)))
    def attempt(case: Any, who: str) -> None:
        headers = {"Authorization": f"Bearer {world.tokens[who]}"}
        response = case.call(headers=headers)
        db.session.expire_all()
        tally[f"{who} {response.status_code}"] += 1
        assert b"Traceback" not in response.content
        case.validate_response(response, checks=CHECKS, headers=headers)

    attempt()
    print(f"\n{method} {path}: {sum(tally.values())} requests, answered {dict(sorted(tally.items()))}")
    assert not any(status.endswith(("500", "502", "503")) for status in tally)


# --- Bodies no schema generator makes --------------------------------------------------------------------


def test_a_body_that_is_not_plain_json_is_refused_and_nothing_is_kept(world: World, api: Any) -> None:
    """Python's JSON parser takes NaN, Infinity and lone surrogates, and fails on deep nesting; none of these
    reached the database or became a 500 (each was one, before the API refused them)."""
    client = api.with_token(world.tokens["ssw"])
    notification = {
        "police_reference": "DA/2026/7",
        "incident_date": "2026-11-20",
        "dash_risk": "standard",
        "marac": False,
        "repeat_incident": False,
        "summary": "Officers attended.",
        "victim": {"name": "Jo Victim", "safe_to_write": True},
        "children": [{"name": "Ruby Victim"}],
    }
    before = record_counts()
    for url, body in [
        ("/api/v1/notifications/domestic-abuse", {**notification, "summary": "Officers attended \ud800."}),
        ("/api/v1/notifications/domestic-abuse", {**notification, "victim": {"name": "\udfff", "safe_to_write": True}}),
        ("/api/v1/cases", {"flow": "initial_contact", "data": {"concern": float("nan")}}),
        (f"/api/v1/tasks/{world.tasks[0]}/complete", {"data": {"next_step": "decide", "note": float("inf")}}),
    ]:
        answer = client.post(url, body, expect=400)
        assert "not plain JSON" in answer.json["error"], answer.json
    deep = '{"flow": "initial_contact", "data": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert client.post("/api/v1/cases", raw=deep, expect=400).json["error"].startswith("Send the body as a JSON")
    assert record_counts() == before
    # The same notification in plain JSON is received.
    client.post("/api/v1/notifications/domestic-abuse", notification, expect=201)


def test_ids_larger_than_any_record_are_not_found(world: World, api: Any) -> None:
    client = api.with_token(world.tokens["ssw"])
    for number in (2**31, 2**63, 10**30):
        client.get(f"/api/v1/cases/{number}", expect=404)


@pytest.mark.parametrize("form", ["contact_intake", "da_notification"])
def test_a_start_form_sent_as_anything_is_refused_in_plain_words(world: World, api: Any, form: str) -> None:
    """Any JSON object at all as a contact or a notification: never a 500, and a refusal keeps nothing."""
    client = api.with_token(world.tokens["ssw"])
    url = "/api/v1/notifications/domestic-abuse" if form == "da_notification" else "/api/v1/cases"
    tally: Counter[int] = Counter()

    @examples(8)
    @given(data=st.one_of(answers(fields_of(form)), st.dictionaries(st.text(max_size=10), junk(), max_size=5)))
    def attempt(data: dict) -> None:
        body = data if form == "da_notification" else {"flow": "initial_contact", "data": data}
        before = record_counts()
        answer = client.post(url, body)
        tally[answer.status] += 1
        assert answer.status in (200, 201, 400, 403, 422), (answer.status, answer.text[:2000])
        if answer.status in (400, 403, 422):
            assert record_counts() == before

    attempt()
    print(f"\n{form} through the API: {sum(tally.values())} bodies, answered {dict(tally)}")
