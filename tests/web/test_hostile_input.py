"""Hostile input: SQL injection, markup and template payloads typed into every form field and search box are
stored exactly as typed and shown as plain text, never run as markup, script, template or SQL."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask, render_template_string
from pdf_text import pdf_text
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.models import Case, CaseEvent, CasePerson, Consent, OutboxItem, Person, Task
from app.schemaforms import FieldError, build_view, read_submission, validate
from app.schemaforms.model import Field, object_fields, walk
from app.services import api_tokens

FORMS = sorted((Path(__file__).resolve().parents[2] / "forms").glob("*.json"))

SCRIPT = "<script>alert(1)</script>"
BROKEN_TAG = '"><img src=x onerror=alert(1)>'
DROP_TABLE = "'; DROP TABLE case_record; --"
ALWAYS_TRUE = "' OR '1'='1"
TEMPLATE = "{{ 7*7 }}"
SCRIPT_URL = "javascript:alert(1)"
# Accents, other scripts, right-to-left text, a combining mark and emoji joined by zero-width joiners.
LONG_UNICODE = (
    "Zoë Ångström-Łukasiewicz 李小龍 محمد عبد الله Σωκράτης Ярослава Ñandú e\u0301 👩\u200d👧\u200d👦 "
    "Þórunn Nguyễn Thị Minh Khai ქართული हिन्दी 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 Ærøskøbing Dvořák"
)
PAYLOADS = [SCRIPT, BROKEN_TAG, DROP_TABLE, ALWAYS_TRUE, TEMPLATE, SCRIPT_URL, LONG_UNICODE]
SQL_PAYLOADS = [
    DROP_TABLE,
    ALWAYS_TRUE,
    "1; DELETE FROM case_record",
    "1' UNION SELECT password_hash FROM user_account --",
]


# What a page must never contain, and what it must show


class Parsed(HTMLParser):
    """A page's tags with their attributes, its text and the contents of its script elements, entities decoded."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self.typed: dict[str, str] = {}  # what each input, textarea and span with an id holds, by id
        self._in_script = False
        self._capturing: str | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_startendtag(tag, attrs)
        self._in_script = tag == "script"
        element_id = dict(attrs).get("id")
        if tag in ("textarea", "span") and element_id:
            self._capturing = element_id
            self.typed[element_id] = ""

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag == "input" and found.get("id"):
            self.typed[found["id"] or ""] = found.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False
        if tag in ("textarea", "span"):
            self._capturing = None

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self.text).append(data)
        if self._capturing is not None:
            self.typed[self._capturing] += data

    def links(self) -> list[str]:
        return [attrs.get("href") or "" for tag, attrs in self.tags if tag == "a"]

    def shown(self) -> str:
        """Everything a reader can see or a field holds: the text, and every attribute value."""
        values = [value or "" for _tag, attrs in self.tags for value in attrs.values()]
        return "\n".join(["".join(self.text), *values])


def assert_inert(html: str, *expected: str) -> Parsed:
    """No payload became markup, script or a link to script; each expected one is on the page as typed."""
    assert SCRIPT not in html
    assert "<img" not in html.lower()  # no page of Compass has an image: any <img is a payload's
    assert "<script>alert" not in html.lower()
    page = Parsed(html)
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, value)
            if name in ("href", "src", "action", "formaction"):
                assert not (value or "").strip().lower().startswith("javascript:"), (tag, name, value)
    assert not [script for script in page.scripts if "alert" in script]
    shown = page.shown()
    for payload in expected:
        assert payload in shown, payload  # as typed: {{ 7*7 }} is there, never 49 in its place
    return page


# Every JSON Schema form in forms/, through the schemaforms parsing, validation and drawing

FORM_PAGE = (
    '{% from "schemaforms/form_fields.html" import error_summary, form_fields %}'
    "{{ error_summary(errors) }}"
    '<form method="post" novalidate>{{ form_fields(fields) }}</form>'
)


def answers(fields: list[Field], payload: str, choice: int = 0) -> dict[str, Any]:
    """Every question answered: free text with the payload, the rest with a valid answer. Questions revealed
    under an option are answered too; `choice` picks which revealing option each question chooses."""
    data: dict[str, Any] = {}
    for f in walk(fields):
        data[f.name] = _answer(f, payload, choice)
    return data


def _answer(f: Field, payload: str, choice: int) -> Any:
    if f.kind in ("text", "textarea"):
        return payload
    if f.kind == "object":
        return answers(f.fields, payload, choice)
    if f.kind == "list":
        return [answers(f.fields, payload, choice) for _ in range(max(1, f.min_items))]
    if f.kind == "checkboxes":
        return [f.choices[0].value]
    if f.kind in ("radios", "select", "boolean"):
        revealing = [c for c in f.choices if f.reveals.get(c.key)]
        picked = revealing[choice % len(revealing)] if revealing else f.choices[0]
        return picked.value
    if f.kind == "date":
        return "2020-01-02"
    low = f.schema.get("minimum", f.schema.get("exclusiveMinimum", 0))
    return int(low) + 1


def choice_variants(fields: list[Field]) -> int:
    """How many posts it takes for each option that reveals questions to be chosen once."""
    counts = [sum(1 for c in f.choices if f.reveals.get(c.key)) for f in walk(fields)]
    for f in walk(fields):
        if f.kind in ("object", "list"):
            counts.append(choice_variants(f.fields))
    return max([1, *counts])


def as_post(fields: list[Field], data: dict[str, Any], prefix: str = "", hostile: str | None = None) -> list:
    """The form fields a browser posts for `data`. With `hostile`, the payload is typed into every box the
    browser lets one type in (numbers and dates too, and text past its longest length) and posted as the value
    of every option that reveals nothing."""
    pairs: list[tuple[str, str]] = []
    for f in walk(fields):
        path, value = prefix + f.name, data.get(f.name)
        if f.readonly or value is None:
            continue
        if f.kind == "object":
            pairs += as_post(f.fields, value, path + ".", hostile)
        elif f.kind == "list":
            for index, item in enumerate(value):
                pairs.append((f"{path}.{index}._item", "1"))
                pairs += as_post(f.fields, item, f"{path}.{index}.", hostile)
        elif f.kind == "date":
            day, month, year = (hostile,) * 3 if hostile else reversed(value.split("-"))
            pairs += [(f"{path}-day", day), (f"{path}-month", month), (f"{path}-year", year)]
        elif f.kind == "checkboxes":
            pairs += [(path, hostile or f.key_for(item) or "") for item in value]
        elif f.kind in ("radios", "select", "boolean"):
            # The first option is posted as the payload, so the choices that reveal questions still work.
            pairs.append((path, hostile if hostile and not f.reveals else f.key_for(value) or ""))
        elif hostile:
            pairs.append((path, too_long(f, hostile) if f.kind in ("text", "textarea") else hostile))
        else:
            pairs.append((path, str(value)))
    return pairs


def too_long(f: Field, payload: str) -> str:
    """The payload repeated past the answer's longest allowed length, when it has one."""
    longest = f.schema.get("maxLength")
    return payload * (longest // len(payload) + 1) if longest else payload


def text_paths(fields: list[Field], data: Any, prefix: str = "") -> dict[str, Field]:
    """The free-text answers in `data` by their dotted path (the id of their input)."""
    found: dict[str, Field] = {}
    if not isinstance(data, dict):
        return found
    for f in walk(fields):
        path = prefix + f.name
        if f.name not in data:
            continue
        if f.kind == "object" and not f.readonly:
            found |= text_paths(f.fields, data[f.name], path + ".")
        elif f.kind == "list" and not f.readonly:
            for index, item in enumerate(data[f.name]):
                found |= text_paths(f.fields, item, f"{path}.{index}.")
        elif f.kind in ("text", "textarea"):
            found[path] = f
    return found


def draw(app: Flask, schema: dict, data: dict, errors: list[FieldError]) -> str:
    with app.test_request_context():
        return render_template_string(FORM_PAGE, fields=build_view(schema, data, errors), errors=errors)


def assert_kept(page: Parsed, paths: dict[str, Field], payload: str) -> None:
    """Each free-text answer is back in its own box (or, read-only, in its summary row) exactly as typed."""
    assert paths, "the form has free text to type the payload into"
    for path in paths:
        assert page.typed.get(path) == payload, path


@pytest.mark.parametrize("form", FORMS, ids=[form.stem for form in FORMS])
def test_every_form_keeps_hostile_answers_as_text(app: Flask, form: Path) -> None:
    schema = json.loads(form.read_text(encoding="utf-8"))
    fields = object_fields(schema)
    for payload in PAYLOADS:
        # Every question answered at once, read-only answers and those under options not chosen included:
        # each is drawn, in its input, under its option, or in the summary of read-only answers.
        everything = answers(fields, payload)
        errors = validate(schema, everything)
        assert all(isinstance(error, FieldError) for error in errors)
        page = assert_inert(draw(app, schema, everything, errors), payload)
        assert_kept(page, text_paths(fields, everything), payload)

        # Posted as a browser posts it, once for each option that reveals questions, and shown again.
        existing = {f.name: everything[f.name] for f in fields if f.readonly}
        for choice in range(choice_variants(fields)):
            chosen = answers(fields, payload, choice)
            submission = read_submission(schema, MultiDict(as_post(fields, chosen)), existing=existing)
            kept = text_paths(fields, submission.data)
            assert kept and all(_at(submission.data, path) == payload for path in kept)
            page = assert_inert(draw(app, schema, submission.data, submission.errors), payload)
            assert_kept(page, kept, payload)

        # The payload typed into every box, too long for the text ones, and posted as an option: refused with
        # the answers shown back as typed.
        refused = read_submission(schema, MultiDict(as_post(fields, everything, hostile=payload)), existing=existing)
        assert refused.errors and not refused.complete
        assert_inert(draw(app, schema, refused.data, refused.errors), payload)


def _at(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


# A contact recorded through the web with a payload in every text box

TYPED = {
    "referrer.name": SCRIPT,
    "referrer.role": BROKEN_TAG,
    "referrer.agency": DROP_TABLE,
    "referrer.phone": ALWAYS_TRUE,
    "referrer.email": SCRIPT_URL,
    "referrer.address": TEMPLATE,
    "children.0.name": BROKEN_TAG,
    "children.0.also_known_as": SCRIPT,
    "children.0.address": LONG_UNICODE,
    "children.0.school": TEMPLATE,
    "children.0.disability": DROP_TABLE,
    "children.1.name": LONG_UNICODE,
    "children.1.also_known_as": ALWAYS_TRUE,
    "children.1.address": SCRIPT_URL,
    "children.1.school": SCRIPT,
    "children.1.disability": TEMPLATE,
    "parents.0.name": TEMPLATE,
    "parents.0.relationship": DROP_TABLE,
    "parents.0.address": SCRIPT,
    "parents.0.phone": BROKEN_TAG,
    "parents.0.email": SCRIPT_URL,
    "household.0.name": ALWAYS_TRUE,
    "household.0.relationship": SCRIPT,
    "alleged_perpetrator.name": SCRIPT_URL,
    "alleged_perpetrator.relationship": BROKEN_TAG,
    "concern": "\n".join(PAYLOADS),
    "concern_when": TEMPLATE,
    "concern_where": DROP_TABLE,
    "child_whereabouts": LONG_UNICODE,
    "consent_detail": ALWAYS_TRUE,
    "allegation_detail.name": SCRIPT,
    "allegation_detail.role": TEMPLATE,
    "allegation_detail.employer": DROP_TABLE,
}
CHOSEN = [
    ("how_received", "marf"),
    ("request_type", "concern"),
    ("referrer.kind", "professional"),
    ("referrer.works_with_family", "yes"),
    ("referrer.agrees_to_be_named", "no"),
    ("children.0._item", "1"),
    ("children.0.date_of_birth-day", "2"),
    ("children.0.date_of_birth-month", "4"),
    ("children.0.date_of_birth-year", "2016"),
    ("children.0.sex", "female"),
    ("children.0.postcode", "SY1 1AA"),
    ("children.1._item", "1"),
    ("children.1.date_of_birth-day", "30"),
    ("children.1.date_of_birth-month", "9"),
    ("children.1.date_of_birth-year", "2021"),
    ("children.1.sex", "male"),
    ("parents.0._item", "1"),
    ("parents.0.parental_responsibility", "yes"),
    ("parents.0.safe_to_write", "yes"),
    ("parents.0.postcode", "SY1 1AA"),
    ("household.0._item", "1"),
    ("alleged_perpetrator.lives_with_child", "no"),
    ("seen_or_heard", "first_hand"),
    ("immediate_protection", "no"),
    ("referrer_view", "3"),
    ("early_help_assessment", "no"),
    ("consent", "given"),
    ("marf_received", "yes"),
    ("disabled_childrens_team", "no"),
    ("allegation", "yes"),
    ("fire_risk", "no"),
    ("fire_setting", "no"),
]
HOSTILE_CONTACT = CHOSEN + list(TYPED.items())


def typed(prefix: str) -> dict[str, str]:
    """What was typed into the boxes of one person (or other part) of the contact, by the box's own name."""
    return {path.removeprefix(prefix): text for path, text in TYPED.items() if path.startswith(prefix)}


def record_hostile_contact(web) -> Case:
    web.login("fpoc")
    response = web.post("/contacts/new", HOSTILE_CONTACT, expect=302)
    case_id = int(re.search(r"/cases/(\d+)", response.headers["Location"]).group(1))
    web.client.post("/logout", data={"csrf_token": web.token("/tasks")})
    return db.session.get(Case, case_id)


def case_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Case)) or 0


def test_a_contact_full_of_payloads_is_stored_as_typed(web) -> None:
    case = record_hostile_contact(web)
    assert case.concern == TYPED["concern"]
    people = {p.key: p for p in db.session.scalars(select(CasePerson).where(CasePerson.case_id == case.id))}
    for key, prefix in [
        ("referrer", "referrer."),
        ("child-1", "children.0."),
        ("child-2", "children.1."),
        ("parent-1", "parents.0."),
        ("household-1", "household.0."),
        ("alleged-perpetrator", "alleged_perpetrator."),
    ]:
        answers_typed = typed(prefix)
        assert people[key].person.name == answers_typed.pop("name"), key
        assert {k: people[key].details.get(k) for k in answers_typed} == answers_typed, key
    assert people["child-1"].person.address == TYPED["children.0.address"]
    consents = db.session.scalars(select(Consent).where(Consent.case_id == case.id)).all()
    assert consents and {c.note for c in consents} == {TYPED["consent_detail"]}
    # The answers the contact recorded are on the timeline word for word.
    (recorded,) = db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.title.like("Record the contact%"))
    ).all()
    values = [row[1] for row in recorded.detail]
    for path in ("referrer.role", "concern", "concern_when", "consent_detail"):
        assert TYPED[path] in values, path


def test_a_contact_full_of_payloads_is_shown_as_text_on_every_page(web) -> None:
    case = record_hostile_contact(web)
    ssw = web.another().login("ssw")
    assert_inert(ssw.get(f"/cases/{case.id}"), *PAYLOADS)
    assert_inert(ssw.get("/cases"), TYPED["children.0.name"], TYPED["children.1.name"])
    assert_inert(ssw.get("/tasks"), TYPED["children.0.name"], TYPED["children.1.name"])
    reviews = db.session.scalars(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "ssw_review")).all()
    assert len(reviews) == 2
    for review in reviews:
        assert_inert(ssw.get(f"/tasks/{review.id}"), *PAYLOADS)

    # Claimed: the confirmation names the task and the child as typed.
    first = next(review for review in reviews if review.subject == TYPED["children.0.name"])
    ssw.post(f"/tasks/{first.id}/claim", {"next": "/tasks"}, expect=302)
    assert "You have claimed" in assert_inert(ssw.get("/tasks"), TYPED["children.0.name"]).shown()

    # Found by the names as typed, shown back in the search box and in the results.
    for name in (TYPED["children.0.name"], TYPED["children.1.name"]):
        child = db.session.scalar(select(Person).where(Person.name == name))
        page = assert_inert(ssw.get(f"/people/search?{urlencode({'name': name, 'search': '1'})}"), name)
        assert f"/people/{child.id}" in page.links()
        assert_inert(ssw.get(f"/people/{child.id}"), name)
    child = db.session.scalar(select(Person).where(Person.name == TYPED["children.0.name"]))
    assert_inert(ssw.get(f"/people/{child.id}"), TYPED["children.0.address"])

    # A decision refused for a missing answer shows the rationale typed; then each child is decided.
    rationale = "\n".join(PAYLOADS)
    for review in reviews:
        ssw.post(f"/tasks/{review.id}", [("next_step", "decide")], expect=302)
    decisions = db.session.scalars(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "ssw_decision")).all()
    assert len(decisions) == 2
    refused = ssw.post(f"/tasks/{decisions[0].id}", [("rationale", rationale)], expect=400).get_data(as_text=True)
    assert "There is a problem" in refused
    assert Parsed(refused).typed["rationale"] == rationale
    assert_inert(refused, *PAYLOADS)
    for decision in decisions:
        answers_given = [("threshold", "below_early_help"), ("outcome", "no_further_action"), ("rationale", rationale)]
        ssw.post(f"/tasks/{decision.id}", answers_given, expect=302)

    assert_inert(ssw.get(f"/cases/{case.id}"), *PAYLOADS)
    # The letters the decisions sent: the parent's and the referrer's, named and addressed as typed.
    letters = {
        letter.recipient_role: letter
        for letter in db.session.scalars(select(OutboxItem).where(OutboxItem.case_id == case.id))
    }
    assert {role: (letter.recipient_name, letter.address) for role, letter in letters.items()} == {
        "parent": (TYPED["parents.0.name"], TYPED["parents.0.address"]),
        "referrer": (TYPED["referrer.name"], TYPED["referrer.address"]),
    }
    children = (TYPED["children.0.name"], TYPED["children.1.name"])
    for role, letter in letters.items():
        page = assert_inert(
            ssw.get(f"/cases/{case.id}/letters/{letter.id}"), letter.recipient_name, letter.address, *children
        )
        assert letter.subject in page.shown(), role
    # Printed, the names and address are the words typed; a tag in them fetches nothing.
    pdf = ssw.client.get(f"/cases/{case.id}/letters/{letters['referrer'].id}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    printed = pdf_text(pdf.data)
    assert TYPED["referrer.name"] in printed and TYPED["referrer.address"] in printed


def test_an_allegation_full_of_payloads_is_shown_as_text_to_the_lado(web) -> None:
    from app.models.lado import LadoAllegation

    case = record_hostile_contact(web)
    (allegation,) = db.session.scalars(select(LadoAllegation).where(LadoAllegation.case_id == case.id)).all()
    assert (allegation.subject_name, allegation.subject_role, allegation.subject_employer) == (
        TYPED["allegation_detail.name"],
        TYPED["allegation_detail.role"],
        TYPED["allegation_detail.employer"],
    )
    lado = web.another().login("lado")
    expected = [TYPED["allegation_detail.name"], TYPED["allegation_detail.role"], TYPED["allegation_detail.employer"]]
    assert_inert(lado.get("/lado"), *expected)
    assert_inert(lado.get(f"/lado/{allegation.id}"), *expected)

    task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "initial_consideration"))
    assert_inert(lado.get(f"/tasks/{task.id}"), TYPED["children.0.name"])
    rationale = "\n".join(PAYLOADS)
    contact = f"{TEMPLATE} {BROKEN_TAG}"  # the name the LADO's letter is addressed to and opens with
    considered = [
        ("initial_decision", "advice"),
        ("consideration_rationale", rationale),
        ("employer_contact_name", contact),
        ("employer_contact_email", "head@school.example"),
    ]
    lado.post(f"/tasks/{task.id}", considered, expect=302)
    db.session.refresh(allegation)
    assert (allegation.initial_rationale, allegation.employer_contact_name) == (rationale, contact)
    assert_inert(lado.get(f"/lado/{allegation.id}"), *PAYLOADS, contact)
    letters = db.session.scalars(select(OutboxItem).where(OutboxItem.case_id == case.id)).all()
    (advice,) = [letter for letter in letters if letter.template == "lado_advice"]
    assert advice.recipient_name == contact and f"To {contact}," in advice.body
    page = assert_inert(lado.get(f"/cases/{case.id}/letters/{advice.id}"), contact)
    assert f"To {contact}," in "".join(page.text)


def test_the_contact_form_shows_every_payload_back_in_its_box_after_an_error(web) -> None:
    web.login("fpoc")
    incomplete = [(name, value) for name, value in HOSTILE_CONTACT if name != "how_received"]
    html = web.post("/contacts/new", incomplete, expect=400).get_data(as_text=True)
    assert "There is a problem" in html and "Select how the contact arrived" in html
    page = assert_inert(html, *PAYLOADS)
    kept = {path: page.typed.get(path) for path in TYPED}
    assert kept == TYPED
    assert case_count() == 0


def test_further_information_and_a_void_reason_full_of_payloads_are_shown_as_text(web) -> None:
    case = record_hostile_contact(web)
    ssw = web.another().login("ssw")
    said = {"caller_name": SCRIPT, "caller_role": TEMPLATE, "phone": ALWAYS_TRUE, "information": "\n".join(PAYLOADS)}
    html = ssw.post(f"/cases/{case.id}/further-information", said, expect=400).get_data(as_text=True)
    assert "Enter a phone number" in html
    page = assert_inert(html, *PAYLOADS)
    assert {name: page.typed.get(name) for name in said} == said
    ssw.post(f"/cases/{case.id}/further-information", {**said, "phone": "01743 123456"}, expect=302)
    assert_inert(ssw.get(f"/cases/{case.id}"), *PAYLOADS)

    reason = f"{DROP_TABLE} {BROKEN_TAG} {TEMPLATE}"
    ssw.post(f"/cases/{case.id}/void", {"reason": reason}, expect=302)
    assert db.session.get(Case, case.id).void_reason == reason
    assert_inert(ssw.get(f"/cases/{case.id}"), reason)


# Every search box and filter, given SQL


def row_counts() -> dict[str, int]:
    from app.models import User

    return {
        model.__tablename__: db.session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Case, CasePerson, Person, Task, User)
    }


@pytest.mark.parametrize("payload", SQL_PAYLOADS, ids=["drop-table", "always-true", "delete", "union"])
def test_every_search_box_and_filter_takes_sql_as_plain_text(web, payload: str) -> None:
    case = record_hostile_contact(web)
    child = db.session.scalar(select(Person).where(Person.name == TYPED["children.0.name"]))
    before = row_counts()
    tray_filters = {name: payload for name in ("flow", "task", "team", "due", "sort", "page")}
    pages = {
        "ssw": [
            ("/people/search", {"name": payload, "search": "1"}),
            ("/people/search", {"name": "Amy", "postcode": payload, "search": "1"}),
            ("/people/search", {"name": "Amy", "dob-day": payload, "dob-month": payload, "dob-year": payload}),
            ("/tasks", tray_filters),
            ("/tasks/team", tray_filters),
            ("/cases", {"q": payload, "page": payload}),
            ("/mat", {"q": payload, "date": payload}),
            ("/strategy-discussions", {"q": payload, "status": payload}),
            ("/information-requests", {"agency": payload, "decision": payload, "page": payload}),
            (f"/cases/{case.id}", {"done": payload}),
            (f"/people/{child.id}", {"merged": payload}),
        ],
        "service_manager": [("/lado", {"q": payload, "status": payload}), ("/outbox", {"q": payload})],
        "business_support": [("/letters-to-post", {"q": payload})],
    }
    for role, urls in pages.items():
        client = web.another().login(role)
        for path, args in urls:
            response = client.client.get(f"{path}?{urlencode(args)}")
            html = response.get_data(as_text=True)
            assert response.status_code in (200, 400), (role, path, response.status_code)
            if response.status_code == 400:
                assert "There is a problem" in html and "Traceback" not in html, (role, path)
            assert_inert(html)
    # The words typed are shown back as typed where the page shows them at all: the search box, the banner.
    ssw = web.another().login("ssw")
    search = Parsed(ssw.get(f"/people/search?{urlencode({'name': payload, 'search': '1'})}", expect=200))
    assert search.typed["name"] == payload
    assert payload in assert_inert(ssw.get(f"/cases/{case.id}?{urlencode({'done': payload})}")).shown()
    # Nothing reached the database as SQL: every table is there, with the rows it had.
    assert row_counts() == before
    assert db.session.get(Case, case.id).concern == TYPED["concern"]


def test_a_contact_that_is_not_a_case_number_and_a_link_to_script_after_sign_in_are_refused(web) -> None:
    web.login("fpoc")
    for payload in SQL_PAYLOADS:
        page = web.get(f"/contacts/new?{urlencode({'reopen': payload})}", expect=404)
        assert "Page not found" in page
    stranger = web.another()
    response = stranger.client.post(
        f"/login?{urlencode({'next': SCRIPT_URL})}",
        data={"username": "demo.ssw", "password": "compass-demo", "csrf_token": stranger.token("/login")},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"


# The API


def test_the_api_stores_payloads_as_typed_and_returns_them_as_json_strings(web) -> None:
    scenario = Path(__file__).resolve().parents[2] / "processes" / "initial_contact" / "scenarios"
    start = json.loads((scenario / "s17_consent_given.json").read_text(encoding="utf-8"))["start"]
    start["concern"] = "\n".join(PAYLOADS)
    start["referrer"] |= {"name": SCRIPT, "role": BROKEN_TAG, "agency": DROP_TABLE}
    start["children"][0] |= {"name": TEMPLATE + " " + ALWAYS_TRUE, "school": SCRIPT_URL}
    start["children"].append({"name": LONG_UNICODE, "date_of_birth": "2019-05-06"})
    secret = api_tokens.create("demo.coordinator", "hostile input").secret
    client = web.app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    response = client.post("/api/v1/cases", json={"flow": "initial_contact", "data": start}, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)[:2000]
    assert response.mimetype == "application/json"
    for body in (response.get_json(), client.get(response.headers["Location"], headers=headers).get_json()):
        assert body["concern"] == start["concern"]
        assert [child["name"] for child in body["children"]] == [TEMPLATE + " " + ALWAYS_TRUE, LONG_UNICODE]
        assert body["referrer"] == {"name": SCRIPT, "role": BROKEN_TAG, "agency": DROP_TABLE}
    case = db.session.get(Case, response.get_json()["id"])
    assert case.concern == start["concern"]
    people = {p.key: p for p in case.people}
    assert people["child-1"].person.name == TEMPLATE + " " + ALWAYS_TRUE
    assert people["child-1"].details["school"] == SCRIPT_URL
    assert people["referrer"].details["agency"] == DROP_TABLE


# The other ways in: an information request, a domestic-abuse notification typed in or uploaded


def test_an_information_request_full_of_payloads_is_shown_as_text_in_the_register(web) -> None:
    from app.models.information_requests import InformationRequest

    asked = "\n".join(PAYLOADS)
    logged = {
        "agency": "other",
        "agency_name": SCRIPT,
        "requester_name": BROKEN_TAG,
        "requester_email": "clerk@court.example",
        "subjects.0._item": "1",
        "subjects.0.name": LONG_UNICODE,
        "asked": asked,
        "why": f"{TEMPLATE} {ALWAYS_TRUE}",
        "ground": "safeguarding",
    }
    response = web.login("coordinator").post("/information-requests/new", logged, expect=302)
    case_id = int(re.search(r"/cases/(\d+)", response.headers["Location"]).group(1))
    row = db.session.scalar(select(InformationRequest).where(InformationRequest.case_id == case_id))
    assert (row.agency_name, row.requester_name, row.asked, row.why) == (
        SCRIPT,
        BROKEN_TAG,
        asked,
        logged["why"],
    )
    ssw = web.another().login("ssw")
    assert_inert(ssw.get("/information-requests"))
    assert_inert(ssw.get(f"/information-requests/{case_id}"), *PAYLOADS)
    assert_inert(ssw.get(f"/cases/{case_id}"), LONG_UNICODE)


DA_TYPED = {
    "summary": "\n".join(PAYLOADS),
    "victim.name": TEMPLATE,
    "victim.address": SCRIPT,
    "victim.phone": ALWAYS_TRUE,
    "perpetrator.name": BROKEN_TAG,
    "perpetrator.relationship": DROP_TABLE,
    "children.0.name": LONG_UNICODE,
    "children.0.school": SCRIPT_URL,
}


def test_a_domestic_abuse_notification_full_of_payloads_is_shown_as_text(web) -> None:
    from app.models.domestic_abuse import DaNotification

    typed_in = {
        "police_reference": "DA/2026/1",
        "incident_date-day": "20",
        "incident_date-month": "11",
        "incident_date-year": "2026",
        "dash_risk": "medium",
        "marac": "no",
        "repeat_incident": "no",
        "victim.safe_to_write": "yes",
        "children.0._item": "1",
        **DA_TYPED,
    }
    response = web.login("coordinator").post("/domestic-abuse/new", typed_in, expect=302)
    case_id = int(re.search(r"/cases/(\d+)", response.headers["Location"]).group(1))
    notification = db.session.scalar(select(DaNotification).where(DaNotification.case_id == case_id))
    assert (notification.summary, notification.victim_name, notification.victim_address) == (
        DA_TYPED["summary"],
        TEMPLATE,
        SCRIPT,
    )
    assert_inert(web.another().login("ssw").get(f"/cases/{case_id}"), *PAYLOADS)


def test_an_uploaded_file_of_payloads_is_reported_as_text(web) -> None:
    import csv
    import io

    from app.models.domestic_abuse import DaNotification
    from app.services import da_notifications

    def row(reference: str) -> dict[str, str]:
        values = dict.fromkeys(da_notifications.CSV_COLUMNS, "")
        values |= {
            "police_reference": reference,
            "incident_date": "2026-11-20",
            "dash_risk": "standard",
            "summary": "\n".join(PAYLOADS),
            "victim_name": BROKEN_TAG,
            "victim_address": SCRIPT,
            "child_1_name": TEMPLATE + " " + ALWAYS_TRUE,
            "child_1_school": DROP_TABLE,
        }
        return values

    written = io.StringIO()
    out = csv.DictWriter(written, fieldnames=da_notifications.CSV_COLUMNS)
    out.writeheader()
    out.writerow(row("DA/2026/2"))
    out.writerow(row(SCRIPT))  # not a police reference: refused, and named in the report
    upload = web.login("coordinator")
    response = upload.client.post(
        "/domestic-abuse/upload",
        data={
            "csrf_token": upload.token("/domestic-abuse/upload"),
            "file": (io.BytesIO(written.getvalue().encode()), f"{SCRIPT} {TEMPLATE}.csv"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    page = assert_inert(response.get_data(as_text=True), f"{SCRIPT} {TEMPLATE}.csv", SCRIPT)
    statuses = [attrs.get("data-status") for tag, attrs in page.tags if tag == "tr" and attrs.get("data-status")]
    assert statuses == ["accepted", "refused"]
    notification = db.session.scalar(select(DaNotification).where(DaNotification.police_reference == "DA/2026/2"))
    assert (notification.summary, notification.victim_name) == ("\n".join(PAYLOADS), BROKEN_TAG)
    assert_inert(upload.get(f"/cases/{notification.case_id}"), *PAYLOADS)


def test_a_draft_full_of_payloads_comes_back_in_the_boxes_as_text(web) -> None:
    web.login("fpoc")
    token = web.token("/contacts/new")
    saved = web.client.post("/drafts", data=MultiDict([("_draft", "contact"), ("csrf_token", token), *HOSTILE_CONTACT]))
    assert saved.status_code == 200, saved.get_data(as_text=True)
    page = assert_inert(web.get("/contacts/new"), *PAYLOADS)
    assert {path: page.typed.get(path) for path in TYPED} == TYPED
