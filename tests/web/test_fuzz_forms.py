"""Every form fuzzed with made-up answers (tests/fuzzing.py): good ones, wrong types, missing answers, text far
too long, odd Unicode, keys no question asks, list items numbered in ways no page numbers them.

Posted through the pages as a browser would (and a task's answers also through the API, the other way in), a form
never fails: it is accepted, or refused with the GOV.UK error summary (422 and its messages in the API) and
nothing written. The schemaforms functions under the pages answer anything with error messages, never an
exception. `make soak` runs the same tests with many more examples.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from fuzzing import (
    FORMS,
    START_PAGES,
    TASK_PLACES,
    answers,
    as_post,
    examples,
    fields_of,
    flow_variables,
    junk,
    ready_task,
    record_counts,
    tampered_pairs,
    text,
)
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.models import Task
from app.schemaforms import FieldError, apply_action, build_view, parse_submission, read_submission, validate
from app.schemaforms.model import Field
from app.services import api_tokens

ERROR_SUMMARY = 'class="govuk-error-summary"'


def test_every_form_is_fuzzed_where_it_is_used() -> None:
    assert set(START_PAGES) | set(TASK_PLACES) == set(FORMS)
    assert not set(START_PAGES) & set(TASK_PLACES)


# --- What a post is ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Post:
    pairs: list[tuple[str, str]]
    broken: bool  # a question the form requires is left out, so it must be refused
    tampered: bool  # pairs no page would post were added


def required_questions(fields: list[Field]) -> list[str]:
    """The questions whose absence alone refuses a post: required, typed in by the user, and not a group (a
    group of optional questions left blank is a valid answer)."""
    return [f.name for f in fields if f.required and not f.readonly and f.kind != "object"]


def posts(fields: list[Field]) -> st.SearchStrategy[Post]:
    anything = st.builds(
        lambda data, extra: Post(as_post(fields, data) + extra, broken=False, tampered=bool(extra)),
        answers(fields),
        st.one_of(st.just([]), tampered_pairs(fields)),
    )
    required = required_questions(fields)
    if not required:
        return anything
    broken = st.builds(
        lambda data, left_out: Post(
            as_post(fields, {k: v for k, v in data.items() if k != left_out}), broken=True, tampered=False
        ),
        answers(fields, sloppy=False),
        st.sampled_from(required),
    )
    return st.one_of(anything, broken)


def api_answers(fields: list[Field]) -> st.SearchStrategy[dict]:
    """Answers as a system sends them through the API: made up from the form, keys standing in for the flow's
    own variables among the extra ones, or any object at all."""
    anything = st.dictionaries(text(max_size=12), junk(finite=True), max_size=5)
    return st.one_of(answers(fields, extra_names=flow_variables()), answers(fields, sloppy=False), anything)


# --- Posting ---------------------------------------------------------------------------------------------


class Door:
    """One person at a form's page: signed in, with the page's CSRF token, posting as a browser does."""

    def __init__(self, web: Any, role: str, url: str):
        self.client = web.another().login(role).client
        self.go_to(url)

    def go_to(self, url: str) -> None:
        """Open the page (which must answer), taking the CSRF token its form carries."""
        self.url = url
        self.token = self._token()

    def _token(self) -> str:
        import re

        page = self.client.get(self.url)
        assert page.status_code == 200, (self.url, page.status_code, page.get_data(as_text=True)[:1000])
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
        assert found, self.url
        return found.group(1)

    def post(self, pairs: list[tuple[str, str]]) -> tuple[int, str]:
        response = self.client.post(self.url, data=MultiDict([*pairs, ("csrf_token", self.token)]))
        db.session.expire_all()
        return response.status_code, response.get_data(as_text=True)


def check_refusal_or_acceptance(status: int, html: str, post: Post, before: dict[str, int]) -> None:
    assert status < 500, (status, post, html[:3000])
    assert "Traceback" not in html
    if post.broken:
        assert status == 400, (status, post, html[:3000])
    if status == 400:
        assert ERROR_SUMMARY in html and "There is a problem" in html, html[:3000]
    if status in (200, 400):
        # Refused, or an add/remove/check that only draws the page again: nothing is written.
        assert record_counts() == before, post
    else:
        assert status == 302, (status, html[:3000])


# --- The start forms: a new contact, a domestic abuse notification, a request for information --------------


@pytest.mark.parametrize("form", sorted(START_PAGES))
def test_a_start_form_never_fails_whatever_is_posted(web, form: str) -> None:
    url, role = START_PAGES[form]
    fields = fields_of(form)
    door = Door(web, role, url)
    tally: Counter[int] = Counter()

    @examples(10)
    @given(post=posts(fields))
    def attempt(post: Post) -> None:
        before = record_counts()
        status, html = door.post(post.pairs)
        tally[status] += 1
        check_refusal_or_acceptance(status, html, post, before)
        if status == 302:
            assert record_counts()["case_record"] == before["case_record"] + 1

    attempt()
    print(f"\n{form}: {sum(tally.values())} posts, answered {dict(tally)}")
    assert tally[400] > 0, "some of the posts were refused"


# --- The task forms, through the page and through the API ---------------------------------------------------


@pytest.mark.parametrize("form", sorted(TASK_PLACES))
def test_a_task_form_never_fails_whatever_is_posted_or_sent(web, clock, form: str) -> None:
    fields = fields_of(form)
    waiting: dict[str, Any] = {}
    tally: Counter[str] = Counter()

    def next_task() -> None:
        task_id, role = ready_task(form, clock)
        waiting["task"] = task_id
        if "door" in waiting:
            # A new token too: the fake clock has moved on the way to the task, and a CSRF token lasts an hour.
            waiting["door"].go_to(f"/tasks/{task_id}")
        else:
            waiting["door"] = Door(web, role, f"/tasks/{task_id}")
            waiting["secret"] = api_tokens.create(f"demo.{role}", "fuzz", tuple(api_tokens.SCOPES)).secret

    next_task()

    @examples(4)
    @given(by_api=st.booleans(), post=posts(fields), sent=api_answers(fields))
    def attempt(by_api: bool, post: Post, sent: dict) -> None:
        before = record_counts()
        if by_api:
            response = web.app.test_client().post(
                f"/api/v1/tasks/{waiting['task']}/complete",
                json={"data": sent},
                headers={"Authorization": f"Bearer {waiting['secret']}"},
            )
            db.session.expire_all()
            status, body = response.status_code, response.get_json(silent=True)
            tally[f"api {status}"] += 1
            assert status in (200, 422), (status, sent, body)
            if status == 422:
                assert body["errors"] and all(isinstance(m, str) and m for m in body["errors"].values()), body
                assert record_counts() == before
        else:
            status, html = waiting["door"].post(post.pairs)
            tally[f"web {status}"] += 1
            check_refusal_or_acceptance(status, html, post, before)
        if status in (200, 302) and db.session.get(Task, waiting["task"]) is None:
            next_task()  # accepted: the task is done, and the next example needs one waiting

    attempt()
    print(f"\n{form}: {sum(tally.values())} tries, answered {dict(sorted(tally.items()))}")
    assert tally["web 400"] + tally["api 422"] > 0, "some of the answers were refused"


# --- The functions under the pages, called directly ---------------------------------------------------------


@pytest.mark.parametrize("form", sorted(FORMS))
def test_the_form_functions_answer_anything_with_messages_never_an_exception(app: Flask, form: str) -> None:
    schema = FORMS[form]
    fields = fields_of(form)
    any_object = st.dictionaries(text(max_size=12, surrogates=True), junk(surrogates=True), max_size=6)
    pairs = st.builds(lambda data, extra: as_post(fields, data) + extra, answers(fields), tampered_pairs(fields))
    refused = Counter[bool]()

    @examples(12)
    @given(
        data=st.one_of(answers(fields), any_object),
        posted=pairs,
        existing=st.one_of(answers(fields, sloppy=False), any_object),
        action=st.one_of(text(max_size=30), st.sampled_from(["add:", "remove:", "remove:x.-1", "add:a.b.c"])),
    )
    def attempt(data: dict, posted: list[tuple[str, str]], existing: dict, action: str) -> None:
        errors = validate(schema, data)
        refused[bool(errors)] += 1
        assert_messages(errors)
        build_view(schema, data, errors)
        apply_action(schema, data, action)
        parse_submission(schema, MultiDict(posted), existing)
        submission = read_submission(schema, MultiDict(posted), existing=existing)
        assert_messages(submission.errors)
        # What a refused page draws (the pages themselves are drawn by the tests above): the answers kept.
        build_view(schema, submission.data, submission.errors)

    attempt()
    assert refused[True] > 0


def assert_messages(errors: Any) -> None:
    assert isinstance(errors, list)
    for error in errors:
        assert isinstance(error, FieldError), error
        assert isinstance(error.message, str) and error.message.strip(), error
        assert isinstance(error.path, str) and isinstance(error.field_id, str), error


# --- What the fuzzing found: each of these was a 500 -------------------------------------------------------


def test_list_items_and_actions_numbered_in_ways_no_page_numbers_them_are_left_aside() -> None:
    schema = FORMS["information_request"]
    for number in ("9" * 5000, "²", "٣"):
        posted = MultiDict([("subjects.0._item", "1"), ("subjects.0.name", "Amy"), (f"subjects.{number}.name", "Ben")])
        assert read_submission(schema, posted).data["subjects"] == [{"name": "Amy"}]
        removing = MultiDict([*posted.items(multi=True), ("_action", f"remove:subjects.{number}")])
        assert read_submission(schema, removing).data["subjects"] == [{"name": "Amy"}]
        assert apply_action(schema, {"subjects": [{"name": "Amy"}]}, f"remove:subjects.{number}") == {
            "subjects": [{"name": "Amy"}]
        }


def test_a_whole_number_thousands_of_digits_long_is_refused_as_not_a_whole_number(web) -> None:
    door = Door(web, "coordinator", "/domestic-abuse/new")
    status, html = door.post([("dash_yes_count", "9" * 5000)])
    assert status == 400 and ERROR_SUMMARY in html
    assert "Enter the number of DASH questions answered yes as a whole number" in html


def test_text_holding_a_nul_is_refused_as_an_answer_and_kept_nowhere(web) -> None:
    # PostgreSQL cannot keep a NUL in a text column: the answer is refused before anything is saved.
    schema = FORMS["da_notification"]
    errors = validate(schema, {"summary": "Officers\x00 attended"})
    assert [e.message for e in errors if e.path == "summary"] == ["Enter a valid what happened"]
    door = Door(web, "coordinator", "/domestic-abuse/new")
    before = record_counts()
    status, html = door.post(
        [
            ("police_reference", "DA/2026/1"),
            ("incident_date-day", "20"),
            ("incident_date-month", "11"),
            ("incident_date-year", "2026"),
            ("dash_risk", "medium"),
            ("marac", "no"),
            ("repeat_incident", "no"),
            ("summary", "Officers attended"),
            ("victim.name", "Jo\x00 Victim"),
            ("victim.safe_to_write", "yes"),
            ("children.0._item", "1"),
            ("children.0.name", "Ruby Victim"),
        ]
    )
    assert status == 400 and ERROR_SUMMARY in html, html[:2000]
    assert record_counts() == before


def test_a_username_holding_a_nul_signs_nobody_in(web) -> None:
    response = web.post("/login", {"username": "demo.ssw\x00", "password": "compass-demo"})
    assert response.status_code == 400
    assert "The username or password is not right" in response.get_data(as_text=True)


def test_numbers_in_addresses_that_are_no_record_or_page_answer_plainly(web) -> None:
    from app.web.converters import LARGEST_RECORD_ID

    ssw = web.login("ssw")
    for number in (LARGEST_RECORD_ID + 1, 2**63, 10**30):
        for url in (f"/cases/{number}", f"/people/{number}", f"/information-requests/{number}"):
            ssw.get(url, expect=404)
        ssw.get(f"/contacts/new?reopen={number}", expect=404)
    for page in ("²", "٣", "9" * 5000, str(10**30)):
        for url in ("/tasks", "/tasks/team", "/cases", "/information-requests", "/mat"):
            ssw.get(f"{url}?page={page}", expect=200)
        ssw.get(f"/contacts/new?reopen={page}", expect=404)
