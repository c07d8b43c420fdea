"""JSON Schema forms: reading a post, validating it, "add another", and the GOV.UK fields drawn."""

import copy
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask, render_template_string
from werkzeug.datastructures import MultiDict

from app.schemaforms import (
    FieldError,
    apply_action,
    build_view,
    check_form_schema,
    parse_submission,
    posted_action,
    read_submission,
    register,
    validate,
)

CONTACT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Record a contact",
    "type": "object",
    "properties": {
        "case_reference": {"type": "string", "title": "Case reference", "readOnly": True},
        "referrer": {
            "type": "object",
            "title": "About the referrer",
            "properties": {
                "name": {"type": "string", "title": "Referrer's name"},
                "role": {
                    "type": "string",
                    "title": "Role",
                    "description": "For example, class teacher or health visitor",
                },
                "agency": {"type": "string", "title": "Agency"},
                "works_with_family": {
                    "type": "boolean",
                    "title": "Does the referrer work with the family?",
                    "x-error-messages": {"required": "Select yes if the referrer works with the family"},
                },
            },
            "required": ["name", "works_with_family"],
        },
        "children": {
            "type": "array",
            "title": "Children",
            "minItems": 1,
            "items": {
                "type": "object",
                "title": "Child",
                "properties": {
                    "name": {"type": "string", "title": "Child's full name"},
                    "date_of_birth": {
                        "type": "string",
                        "format": "date",
                        "x-widget": "date",
                        "title": "Date of birth",
                        "description": "For example, 27 3 2019",
                    },
                    "sex": {
                        "type": "string",
                        "title": "Sex",
                        "x-widget": "radios",
                        "oneOf": [
                            {"const": "female", "title": "Female"},
                            {"const": "male", "title": "Male"},
                            {"const": "not_known", "title": "Not known"},
                        ],
                    },
                },
                "required": ["name"],
            },
        },
        "concern": {
            "type": "string",
            "title": "Details of the concern",
            "description": "What happened, when, and what the child said",
            "x-widget": "textarea",
            "minLength": 10,
            "maxLength": 2000,
        },
        "referrer_view": {
            "type": "string",
            "title": "Referrer's view of the level of need",
            "x-widget": "select",
            "enum": ["Universal services", "Early help", "Child in need", "Child protection"],
        },
        "consent": {
            "type": "string",
            "title": "Consent to share information",
            "x-widget": "radios",
            "oneOf": [
                {"const": "given", "title": "Consent given"},
                {"const": "refused", "title": "Consent refused"},
                {"const": "not_sought", "title": "Consent not sought"},
            ],
        },
        "consent_reason": {
            "type": "string",
            "title": "Reason for going ahead without consent",
            "x-widget": "textarea",
            "x-error-messages": {"required": "Give the reason for your decision"},
        },
        "flags": {
            "type": "array",
            "title": "Known risks in the household",
            "x-widget": "checkboxes",
            "items": {
                "type": "string",
                "enum": ["Domestic abuse", "Parental substance misuse", "Parental mental health"],
            },
        },
        "child_count_guess": {
            "type": "integer",
            "title": "Number of children in the household",
            "minimum": 0,
        },
    },
    "required": ["case_reference", "referrer", "children", "concern", "consent"],
    "if": {"properties": {"consent": {"const": "refused"}}, "required": ["consent"]},
    "then": {"required": ["consent_reason"]},
}

EXISTING = {"case_reference": "CR-2024-000123"}

FULL_POST = [
    ("csrf_token", "IjRmNTU2ZjE0"),
    ("referrer.name", "Sam Patel"),
    ("referrer.role", "Designated safeguarding lead"),
    ("referrer.agency", "Hillside Primary School"),
    ("referrer.works_with_family", "yes"),
    ("children.0._item", "1"),
    ("children.0.name", "Alex Smith"),
    ("children.0.date_of_birth-day", "5"),
    ("children.0.date_of_birth-month", "03"),
    ("children.0.date_of_birth-year", "2015"),
    ("children.0.sex", "female"),
    ("children.1._item", "1"),
    ("children.1.name", " Jo Smith "),
    ("children.1.date_of_birth-day", ""),
    ("children.1.date_of_birth-month", ""),
    ("children.1.date_of_birth-year", ""),
    # A blank item the user added and never filled in.
    ("children.2._item", "1"),
    ("children.2.name", ""),
    ("children.2.date_of_birth-day", ""),
    ("children.2.date_of_birth-month", ""),
    ("children.2.date_of_birth-year", ""),
    ("concern", "Alex said she is frightened to go home.\r\nShe has bruising on her arm."),
    ("referrer_view", "Child in need"),
    ("consent", "refused"),
    ("consent_reason", "Telling the parents could put Alex at greater risk."),
    ("flags", "Domestic abuse"),
    ("flags", "Parental mental health"),
    ("child_count_guess", "3"),
]

FULL_DATA: dict[str, Any] = {
    "case_reference": "CR-2024-000123",
    "referrer": {
        "name": "Sam Patel",
        "role": "Designated safeguarding lead",
        "agency": "Hillside Primary School",
        "works_with_family": True,
    },
    "children": [
        {"name": "Alex Smith", "date_of_birth": "2015-03-05", "sex": "female"},
        {"name": "Jo Smith"},
    ],
    "concern": "Alex said she is frightened to go home.\nShe has bruising on her arm.",
    "referrer_view": "Child in need",
    "consent": "refused",
    "consent_reason": "Telling the parents could put Alex at greater risk.",
    "flags": ["Domestic abuse", "Parental mental health"],
    "child_count_guess": 3,
}

PAGE = (
    '{% from "schemaforms/form_fields.html" import error_summary, form_fields %}'
    "{{ error_summary(errors) }}"
    '<form method="post" novalidate>{{ form_fields(fields) }}'
    '<button type="submit" class="govuk-button">Continue</button></form>'
)


def post(*pairs: tuple[str, str], **changes: str) -> MultiDict:
    """FULL_POST with some fields replaced (keyword names use __ for dots) and others added."""
    replaced = {name.replace("__", "."): value for name, value in changes.items()}
    fields = [(name, replaced.pop(name, value)) for name, value in FULL_POST]
    return MultiDict(fields + list(replaced.items()) + list(pairs))


def without(*names: str) -> MultiDict:
    return MultiDict([(name, value) for name, value in FULL_POST if name not in names])


class Page(HTMLParser):
    """Every element of a rendered page with its attributes and the ids of the elements around it."""

    VOID = frozenset({"input", "br", "img", "hr", "meta", "link"})

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[dict] = []
        self._open: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        around = [e["attrs"].get("id") for e in self._open if e["attrs"].get("id")]
        element = {"tag": tag, "attrs": dict(attrs), "around": around, "text": ""}
        self.elements.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_endtag(self, tag):
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index]["tag"] == tag:
                del self._open[index:]
                break

    def handle_data(self, data):
        for element in self._open:
            element["text"] += data

    def find(self, tag: str | None = None, **attrs: str) -> list[dict]:
        wanted = {name.rstrip("_").replace("_", "-"): value for name, value in attrs.items()}
        return [
            e
            for e in self.elements
            if (tag is None or e["tag"] == tag) and all(e["attrs"].get(k) == v for k, v in wanted.items())
        ]

    def by_id(self, element_id: str) -> dict:
        (element,) = [e for e in self.elements if e["attrs"].get("id") == element_id]
        return element

    def fields(self) -> list[dict]:
        return [
            e
            for e in self.elements
            if e["tag"] in ("input", "select", "textarea") and e["attrs"].get("type") != "hidden"
        ]


@pytest.fixture(scope="module")
def app() -> Flask:
    app = Flask(__name__)
    register(app)
    return app


def render(app: Flask, data: dict, errors: list[FieldError] | None = None) -> Page:
    with app.app_context():
        errors = errors or []
        html = render_template_string(PAGE, fields=build_view(CONTACT_SCHEMA, data, errors), errors=errors)
    return Page(html)


def classes(element: dict) -> list[str]:
    return element["attrs"].get("class", "").split()


# Reading a post


def test_a_full_post_becomes_the_exact_json():
    assert parse_submission(CONTACT_SCHEMA, post(), EXISTING) == FULL_DATA


def test_a_full_post_is_valid():
    assert validate(CONTACT_SCHEMA, parse_submission(CONTACT_SCHEMA, post(), EXISTING)) == []


def test_read_only_answers_come_from_the_server_never_the_post():
    forged = post(("case_reference", "CR-FORGED"))
    assert parse_submission(CONTACT_SCHEMA, forged, EXISTING)["case_reference"] == "CR-2024-000123"
    assert "case_reference" not in parse_submission(CONTACT_SCHEMA, forged, existing=None)


def test_empty_answers_are_left_out_so_required_catches_them():
    data = parse_submission(CONTACT_SCHEMA, post(concern="   ", child_count_guess="", referrer__role=""))
    assert "concern" not in data
    assert "child_count_guess" not in data
    assert "role" not in data["referrer"]


def test_answers_that_are_not_valid_are_kept_as_typed():
    data = parse_submission(
        CONTACT_SCHEMA,
        post(
            **{
                "children.0.date_of_birth-day": "31",
                "children.0.date_of_birth-month": "02",
                "children.0.date_of_birth-year": "2024",
                "child_count_guess": "about 3",
                "referrer.works_with_family": "maybe",
            }
        ),
    )
    assert data["children"][0]["date_of_birth"] == {"day": "31", "month": "02", "year": "2024"}
    assert data["child_count_guess"] == "about 3"
    assert data["referrer"]["works_with_family"] == "maybe"


def test_a_two_digit_year_is_not_a_real_date():
    data = parse_submission(CONTACT_SCHEMA, post(**{"children.0.date_of_birth-year": "15"}))
    assert data["children"][0]["date_of_birth"] == {"day": "5", "month": "03", "year": "15"}


def test_an_answer_hidden_under_an_option_not_chosen_is_dropped():
    data = parse_submission(CONTACT_SCHEMA, post(consent="given"))
    assert data["consent"] == "given"
    assert "consent_reason" not in data


# Validation


def errors_for(form: MultiDict) -> list[FieldError]:
    return validate(CONTACT_SCHEMA, parse_submission(CONTACT_SCHEMA, form, EXISTING))


def test_an_empty_post_gets_one_error_per_question_in_display_order():
    empty = MultiDict([("csrf_token", "x"), ("children.0._item", "1"), ("children.0.name", "")])
    assert errors_for(empty) == [
        FieldError("referrer.name", "referrer.name", "Enter referrer's name"),
        FieldError(
            "referrer.works_with_family",
            "referrer.works_with_family",
            "Select yes if the referrer works with the family",
        ),
        FieldError("children", "children.0.name", "Add at least 1 child"),
        FieldError("concern", "concern", "Enter details of the concern"),
        FieldError("consent", "consent", "Select consent to share information"),
    ]


def test_a_missing_answer_in_a_list_item_names_that_item():
    form = post(**{"children.1.name": "", "children.1.date_of_birth-year": "2016"})
    assert errors_for(form) == [
        FieldError("children.1.name", "children.1.name", "Enter child's full name"),
        FieldError(
            "children.1.date_of_birth",
            "children.1.date_of_birth-day",
            "Date of birth must be a real date",
        ),
    ]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"children.0.date_of_birth-day": "30", "children.0.date_of_birth-month": "2"},
            FieldError(
                "children.0.date_of_birth",
                "children.0.date_of_birth-day",
                "Date of birth must be a real date",
            ),
        ),
        (
            {"child_count_guess": "about 3"},
            FieldError(
                "child_count_guess",
                "child_count_guess",
                "Number of children in the household must be a whole number",
            ),
        ),
        (
            {"child_count_guess": "2.5"},
            FieldError(
                "child_count_guess",
                "child_count_guess",
                "Number of children in the household must be a whole number",
            ),
        ),
        (
            {"child_count_guess": "-1"},
            FieldError(
                "child_count_guess",
                "child_count_guess",
                "Number of children in the household must be 0 or more",
            ),
        ),
        (
            {"concern": "Bruises"},
            FieldError("concern", "concern", "Details of the concern must be at least 10 characters"),
        ),
        (
            {"concern": "x" * 2001},
            FieldError("concern", "concern", "Details of the concern must be 2000 characters or fewer"),
        ),
        (
            {"referrer_view": "Urgent"},
            FieldError(
                "referrer_view",
                "referrer_view",
                "Select one of the options for referrer's view of the level of need",
            ),
        ),
        (
            {"children.0.sex": "other"},
            FieldError("children.0.sex", "children.0.sex", "Select one of the options for sex"),
        ),
        (
            {"referrer.works_with_family": "maybe"},
            FieldError(
                "referrer.works_with_family",
                "referrer.works_with_family",
                'Select one of the options for "Does the referrer work with the family?"',
            ),
        ),
        (
            {"flags": "Fire risk"},
            FieldError("flags", "flags", "Select one of the options for known risks in the household"),
        ),
        (
            {"consent_reason": ""},
            FieldError("consent_reason", "consent_reason", "Give the reason for your decision"),
        ),
    ],
)
def test_each_broken_rule_gets_its_message_and_a_link_to_the_input(changes, expected):
    assert errors_for(post(**changes)) == [expected]


def test_without_consent_there_is_no_question_of_a_reason():
    assert errors_for(without("consent", "consent_reason")) == [
        FieldError("consent", "consent", "Select consent to share information")
    ]


def test_dates_are_checked_as_dates_even_when_they_arrive_as_text():
    data = copy.deepcopy(FULL_DATA)
    data["children"][0]["date_of_birth"] = "2023-02-30"
    (error,) = validate(CONTACT_SCHEMA, data)
    assert error == FieldError(
        "children.0.date_of_birth", "children.0.date_of_birth-day", "Date of birth must be a real date"
    )


def test_a_missing_read_only_answer_still_stops_the_submission():
    assert errors_for(post()) == []
    data = parse_submission(CONTACT_SCHEMA, post(), existing={})
    assert [error.path for error in validate(CONTACT_SCHEMA, data)] == ["case_reference"]


def test_a_title_that_is_a_question_is_quoted_rather_than_reworded():
    schema = {
        "type": "object",
        "properties": {
            "how_received": {
                "type": "string",
                "title": "How did the contact arrive?",
                "enum": ["Phone", "Email"],
            },
            "how_asked": {"type": "string", "title": "Who asked, and how?", "minLength": 5},
            "children_at_home": {"type": "integer", "title": "How many children live there?"},
        },
        "required": ["how_received", "how_asked"],
    }
    assert [error.message for error in validate(schema, {"children_at_home": "two"})] == [
        'Select an answer to "How did the contact arrive?"',
        'Enter an answer to "Who asked, and how?"',
        'The answer to "How many children live there?" must be a whole number',
    ]
    assert validate(schema, {"how_received": "Fax", "how_asked": "me"})[0].message == (
        'Select one of the options for "How did the contact arrive?"'
    )


def test_a_custom_message_replaces_the_default_for_that_rule_only():
    schema = copy.deepcopy(CONTACT_SCHEMA)
    schema["properties"]["concern"]["x-error-messages"] = {"minLength": "Describe the concern in more detail"}
    data = parse_submission(schema, post(concern="Bruises"), EXISTING)
    assert validate(schema, data) == [FieldError("concern", "concern", "Describe the concern in more detail")]
    data = parse_submission(schema, without("concern"), EXISTING)
    assert validate(schema, data) == [FieldError("concern", "concern", "Enter details of the concern")]


# Add another


def test_an_add_or_remove_post_is_told_apart_from_a_submit():
    assert posted_action(post()) is None
    assert posted_action(post(("_action", "add:children"))) == "add:children"
    assert posted_action(post(("_action", "remove:children.1"))) == "remove:children.1"
    assert posted_action(post(("_action", "save"))) is None


def test_add_appends_a_blank_item_without_validating():
    submission = read_submission(CONTACT_SCHEMA, post(("_action", "add:children"), concern=""), EXISTING)
    assert submission.action == "add:children"
    assert submission.errors == []
    assert not submission.complete
    # The blank third item the user already had is kept, so the new one is the fourth.
    assert submission.data["children"] == [FULL_DATA["children"][0], FULL_DATA["children"][1], {}, {}]


def test_remove_takes_out_the_item_the_user_pressed_remove_on():
    form = MultiDict(
        [
            ("children.0._item", "1"),
            ("children.0.name", ""),
            ("children.1._item", "1"),
            ("children.1.name", "Jo Smith"),
            ("children.2._item", "1"),
            ("children.2.name", "Alex Smith"),
            ("_action", "remove:children.0"),
        ]
    )
    submission = read_submission(CONTACT_SCHEMA, form, EXISTING)
    assert submission.data["children"] == [{"name": "Jo Smith"}, {"name": "Alex Smith"}]
    assert submission.errors == []


def test_apply_action_leaves_the_data_it_was_given_alone():
    data = {"children": [{"name": "Alex Smith"}, {"name": "Jo Smith"}]}
    assert apply_action(CONTACT_SCHEMA, data, "remove:children.1") == {"children": [{"name": "Alex Smith"}]}
    assert apply_action(CONTACT_SCHEMA, data, "add:children")["children"][-1] == {}
    assert apply_action(CONTACT_SCHEMA, {}, "add:children") == {"children": [{}]}
    assert data == {"children": [{"name": "Alex Smith"}, {"name": "Jo Smith"}]}


@pytest.mark.parametrize(
    "action", ["add:concern", "remove:children.9", "remove:children", "add:nothing", "drop:children"]
)
def test_actions_on_things_that_are_not_lists_change_nothing(action):
    data = {"concern": "Some concern here", "children": [{"name": "Alex Smith"}]}
    assert apply_action(CONTACT_SCHEMA, data, action) == data


def test_a_submit_validates_and_is_complete_when_valid():
    submission = read_submission(CONTACT_SCHEMA, post(), EXISTING)
    assert submission.action is None
    assert submission.complete
    assert submission.data == FULL_DATA


# Rendering


def test_the_error_summary_links_to_each_field_and_the_fields_show_their_errors(app):
    form = post(
        **{
            "referrer.name": "",
            "children.0.date_of_birth-day": "31",
            "children.0.date_of_birth-month": "02",
            "children.0.date_of_birth-year": "2024",
            "concern": "Bruises",
            "referrer_view": "Urgent",
            "child_count_guess": "about 3",
            "consent_reason": "",
        }
    )
    data = parse_submission(CONTACT_SCHEMA, form, EXISTING)
    errors = validate(CONTACT_SCHEMA, data)
    page = render(app, data, errors)

    links = [a["attrs"]["href"] for a in page.find("a") if a["attrs"].get("href", "").startswith("#")]
    summary = page.find("div", class_="govuk-error-summary")
    assert summary
    assert links == [
        "#referrer.name",
        "#children.0.date_of_birth-day",
        "#concern",
        "#referrer_view",
        "#consent_reason",
        "#child_count_guess",
    ]
    for error in errors:
        assert page.by_id(error.field_id)["tag"] in ("input", "select", "textarea")
        assert error.message in summary[0]["text"]
    assert "govuk-input--error" in classes(page.by_id("referrer.name"))
    assert "govuk-input--error" in classes(page.by_id("child_count_guess"))
    for part in ("day", "month", "year"):
        assert "govuk-input--error" in classes(page.by_id(f"children.0.date_of_birth-{part}"))
    assert "govuk-textarea--error" in classes(page.by_id("concern"))
    assert "govuk-select--error" in classes(page.by_id("referrer_view"))
    assert "govuk-input--error" not in classes(page.by_id("referrer.role"))
    assert "Enter referrer's name" in page.by_id("referrer.name-error")["text"]


def test_what_the_user_typed_is_shown_again_exactly(app):
    form = post(
        **{
            "children.0.date_of_birth-day": "31",
            "children.0.date_of_birth-month": "02",
            "children.0.date_of_birth-year": "2024",
            "child_count_guess": "about 3",
            "referrer_view": "Early help",
        }
    )
    data = parse_submission(CONTACT_SCHEMA, form, EXISTING)
    page = render(app, data, validate(CONTACT_SCHEMA, data))
    assert page.by_id("children.0.date_of_birth-day")["attrs"]["value"] == "31"
    assert page.by_id("children.0.date_of_birth-month")["attrs"]["value"] == "02"
    assert page.by_id("children.0.date_of_birth-year")["attrs"]["value"] == "2024"
    assert page.by_id("child_count_guess")["attrs"]["value"] == "about 3"
    assert page.by_id("child_count_guess")["attrs"]["inputmode"] == "numeric"
    assert page.by_id("children.1.name")["attrs"]["value"] == "Jo Smith"
    assert page.by_id("concern")["text"] == FULL_DATA["concern"]
    assert "checked" in page.by_id("referrer.works_with_family")["attrs"]
    assert "checked" not in page.by_id("referrer.works_with_family-2")["attrs"]
    (chosen,) = [o for o in page.find("option") if "selected" in o["attrs"]]
    assert chosen["attrs"]["value"] == "Early help"
    ticked = [e["attrs"]["value"] for e in page.find("input", name="flags") if "checked" in e["attrs"]]
    assert ticked == ["Domestic abuse", "Parental mental health"]


def test_every_field_has_a_label_and_every_label_names_a_field(app):
    page = render(app, FULL_DATA)
    ids = {e["attrs"].get("id") for e in page.fields()}
    labelled = {label["attrs"].get("for") for label in page.find("label")}
    assert None not in ids
    assert labelled == ids
    for label in page.find("label"):
        assert label["text"].strip()


def test_hints_come_from_descriptions_and_describe_their_field(app):
    page = render(app, FULL_DATA)
    assert page.by_id("referrer.role-hint")["text"].strip() == "For example, class teacher or health visitor"
    assert page.by_id("referrer.role")["attrs"]["aria-describedby"] == "referrer.role-hint"
    assert page.by_id("children.0.date_of_birth-hint")["text"].strip() == "For example, 27 3 2019"


def test_the_reason_is_revealed_under_the_refused_option_only(app):
    page = render(app, FULL_DATA)
    refused = page.find("input", name="consent", value="refused")[0]
    reveal_id = refused["attrs"]["data-aria-controls"]
    assert "govuk-radios__conditional--hidden" not in classes(page.by_id(reveal_id))
    assert page.by_id("consent_reason")["around"][-1] == reveal_id
    assert page.by_id("consent_reason")["tag"] == "textarea"
    for other in ("given", "not_sought"):
        assert "data-aria-controls" not in page.find("input", name="consent", value=other)[0]["attrs"]

    hidden = render(app, {**FULL_DATA, "consent": "given"})
    assert "govuk-radios__conditional--hidden" in classes(hidden.by_id(reveal_id))


REVEALS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "police_involved": {"type": "boolean", "title": "Are the police involved?"},
        "level": {"type": "string", "title": "Level of need", "x-widget": "select", "enum": ["Low", "High"]},
        "notes": {"type": "string", "title": "Notes"},
    },
    "allOf": [
        {
            "if": {"properties": {"police_involved": {"const": True}}, "required": ["police_involved"]},
            "then": {
                "properties": {"crime_number": {"type": "string", "title": "Crime reference number"}},
                "required": ["crime_number"],
            },
        },
        {
            "if": {"properties": {"level": {"const": "High"}}, "required": ["level"]},
            "then": {
                "properties": {"manager": {"type": "string", "title": "Manager consulted"}},
                "required": ["manager"],
            },
        },
    ],
}


def test_questions_only_in_a_then_are_revealed_under_yes_or_else_follow_their_trigger(app):
    assert check_form_schema(REVEALS_SCHEMA) == []
    with app.app_context():
        html = render_template_string(PAGE, fields=build_view(REVEALS_SCHEMA, {}, []), errors=[])
    page = Page(html)
    assert page.by_id("crime_number")["around"][-1] == "conditional-police_involved"
    assert page.find("input", name="police_involved", value="yes")[0]["attrs"]["data-aria-controls"] == (
        "conditional-police_involved"
    )
    assert page.by_id("manager")["around"] == []
    assert [e["attrs"]["id"] for e in page.fields()] == [
        "police_involved",
        "crime_number",
        "police_involved-2",
        "level",
        "manager",
        "notes",
    ]
    form = MultiDict([("police_involved", "yes"), ("crime_number", ""), ("level", "High"), ("manager", "")])
    data = parse_submission(REVEALS_SCHEMA, form)
    assert data == {"police_involved": True, "level": "High"}
    assert validate(REVEALS_SCHEMA, data) == [
        FieldError("crime_number", "crime_number", "Enter crime reference number"),
        FieldError("manager", "manager", "Enter manager consulted"),
    ]


def test_a_list_that_is_too_short_shows_its_error_above_the_items(app):
    empty = MultiDict([("children.0._item", "1"), ("children.0.name", "")])
    data = parse_submission(CONTACT_SCHEMA, empty, EXISTING)
    errors = validate(CONTACT_SCHEMA, data)
    page = render(app, data, errors)
    assert "Add at least 1 child" in page.by_id("children-error")["text"]
    assert page.by_id("children.0.name")["tag"] == "input"
    assert page.find("a", href="#children.0.name")


def test_what_the_user_typed_cannot_add_markup_to_the_page(app):
    hostile = '"><script>alert(1)</script>'
    form = post(**{"children.0.name": hostile, "child_count_guess": hostile})
    data = parse_submission(CONTACT_SCHEMA, form)
    page = render(app, data, validate(CONTACT_SCHEMA, data))
    assert not page.find("script")
    assert page.by_id("children.0.name")["attrs"]["value"] == hostile


def test_read_only_answers_are_shown_as_text_not_inputs(app):
    page = render(app, FULL_DATA)
    assert not [e for e in page.elements if e["attrs"].get("name") == "case_reference"]
    (row,) = page.find("div", class_="govuk-summary-list__row")
    assert "Case reference" in row["text"]
    assert "CR-2024-000123" in row["text"]
    assert page.by_id("case_reference")["text"] == "CR-2024-000123"


def test_each_list_item_is_a_fieldset_with_a_remove_button_then_add_another(app):
    page = render(app, FULL_DATA)
    legends = [legend["text"].strip() for legend in page.find("legend")]
    assert "Child 1" in legends
    assert "Child 2" in legends
    actions = [button["attrs"]["value"] for button in page.find("button", name="_action")]
    removes = [action for action in actions if action.startswith("remove:")]
    assert removes == ["remove:children.0", "remove:children.1"]
    (add,) = page.find("button", name="_action", value="add:children")
    assert add["text"].strip() == "Add another child"
    assert "govuk-button--secondary" in classes(add)


def test_an_empty_list_shows_its_minimum_of_blank_items_without_remove(app):
    page = render(app, {"children": []})
    assert page.by_id("children.0.name")["attrs"].get("value") is None
    assert not [b for b in page.find("button", name="_action") if b["attrs"]["value"].startswith("remove:")]
    assert page.find("button", name="_action", value="add:children")


def test_pressing_enter_submits_rather_than_removing_the_first_child(app):
    page = render(app, FULL_DATA)
    first_button = next(e for e in page.elements if e["tag"] == "button")
    assert first_button["attrs"].get("type") == "submit"
    assert "name" not in first_button["attrs"]


# Checking a form before it is deployed


def test_the_contact_form_has_no_problems():
    assert check_form_schema(CONTACT_SCHEMA) == []


def broken(change) -> dict:
    schema = copy.deepcopy(CONTACT_SCHEMA)
    change(schema)
    return schema


def props(schema: dict) -> dict:
    return schema["properties"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda s: props(s)["child_count_guess"].update(type="strnig"),
            "The form is not valid JSON Schema 2020-12 at properties.child_count_guess.type",
        ),
        (lambda s: s.update(type="array"), 'The form must be an object with "type": "object"'),
        (lambda s: s.pop("properties"), 'The form must be an object with "type": "object"'),
        (lambda s: props(s)["concern"].pop("title"), "Property 'concern' has no title"),
        (
            lambda s: props(s)["referrer"]["properties"]["name"].pop("title"),
            "Property 'referrer.name' has no title",
        ),
        (
            lambda s: props(s)["children"]["items"]["properties"]["sex"].pop("title"),
            "Property 'children.sex' has no title",
        ),
        (
            lambda s: props(s)["concern"].update({"x-widget": "slider"}),
            "Property 'concern' has an unknown x-widget 'slider'",
        ),
        (
            lambda s: props(s)["concern"].update({"x-widget": "checkboxes"}),
            "Property 'concern' uses x-widget 'checkboxes', which needs an array",
        ),
        (
            lambda s: props(s)["flags"].update(items={"type": "string"}),
            "Property 'flags' uses x-widget 'checkboxes', which needs an array",
        ),
        (
            lambda s: props(s)["child_count_guess"].update({"x-widget": "date"}),
            "Property 'child_count_guess' uses x-widget 'date', which needs \"type\": \"string\"",
        ),
        (
            lambda s: props(s)["consent"].pop("oneOf"),
            "Property 'consent' uses x-widget 'radios', which needs choices",
        ),
        (
            lambda s: s["if"].pop("required"),
            "The condition on 'consent' must also list it",
        ),
        (
            lambda s: s["then"].update(required=["consent_reasons"]),
            "'consent_reasons' is required but there is no property",
        ),
        (
            lambda s: props(s)["children"]["items"]["properties"]["name"].update(readOnly=True),
            "Property 'children.name' is readOnly inside a list",
        ),
        (
            lambda s: s.update({"$schema": "http://json-schema.org/draft-07/schema#"}),
            "forms must use JSON Schema 2020-12",
        ),
        (
            lambda s: props(s)["children"].update(minItems=100000),
            "The list 'children' may start with at most 50 items (minItems), not 100000",
        ),
    ],
    ids=[
        "not-json-schema",
        "not-an-object",
        "no-properties",
        "no-title",
        "no-title-nested",
        "no-title-in-list",
        "unknown-widget",
        "checkboxes-on-text",
        "checkboxes-without-choices",
        "date-on-integer",
        "radios-without-choices",
        "condition-without-required",
        "required-unknown",
        "read-only-in-list",
        "other-draft",
        "too-many-items-drawn",
    ],
)
def test_check_form_schema_names_each_problem(change, expected):
    problems = check_form_schema(broken(change))
    assert len(problems) == 1, problems
    assert expected in problems[0], problems


def test_check_form_schema_does_not_fall_over_on_nonsense():
    assert check_form_schema([]) == ["The form must be a JSON Schema object"]
    assert check_form_schema({"type": "object", "properties": {"a": 5}})


def test_has_read_only_finds_a_read_only_question_at_any_depth() -> None:
    from app.schemaforms import has_read_only

    assert not has_read_only({"type": "object", "properties": {"a": {"type": "string", "title": "A"}}})
    nested = {"type": "object", "properties": {"o": {"type": "object", "properties": {"r": {"readOnly": True}}}}}
    assert has_read_only(nested)


def test_a_reason_of_several_lines_revealed_under_an_option_comes_back_exactly_as_typed(app):
    """The radios macro indents what it reveals, which once put spaces at the start of each line of a
    revealed textarea's answer: more on every error or restored draft."""
    reason = "Telling the parents could put Alex at greater risk.\nThe police agree.\n\nSee the strategy notes."
    page = render(app, {**FULL_DATA, "consent_reason": reason})
    assert page.by_id("consent_reason")["text"] == reason
