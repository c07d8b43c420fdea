"""/processes/<flow>/forms...: a process owner edits a flow's forms without writing JSON (add a question, change
its wording, make it required, add choices, remove it), or in the JSON for anything else, and sees the form
drawn as a worker's task page draws it. Every change lands in the flow's draft, never in the live version;
bad input is told with the typing kept and nothing saved; someone who saved first is never overwritten unseen."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from markupsafe import escape
from sqlalchemy import func, select
from support import user

from app.extensions import db
from app.models import AuditEvent, LiveBundle, ProcessDraft, Task
from app.roles import ROLES
from app.services import bundles, process_versions, scenarios, users

FLOW = "initial_contact"
EDITOR = f"/processes/{FLOW}/forms/ssw_review"
PREVIEW = f"{EDITOR}/preview"


def shipped(form_id: str) -> dict[str, Any]:
    return json.loads((bundles.FORMS_DIR / f"{form_id}.json").read_text(encoding="utf-8"))


def draft_form(form_id: str = "ssw_review") -> dict[str, Any] | None:
    db.session.expire_all()
    draft = process_versions.draft_of(FLOW)
    return None if draft is None else draft.forms.get(form_id)


def live_form(form_id: str = "ssw_review") -> dict[str, Any]:
    db.session.expire_all()
    live = db.session.get(LiveBundle, FLOW)
    assert live is not None
    return live.bundle.forms[form_id]


def saves() -> int:
    return db.session.scalar(select(func.count()).where(AuditEvent.name == "PROCESS_DRAFT_SAVED")) or 0


def version_on(page: str) -> str:
    found = re.search(r'name="version" value="(\d*)"', page)
    assert found, page[-2000:]
    return found.group(1)


def preview_of(page: str) -> str:
    start = page.index('id="editor--preview"')
    return page[start : page.index("</section>", start)]


def question(**typed: str) -> dict[str, str]:
    return {"action": "add", "version": "", "type": "text", "required": "no", **typed}


# --- Adding, changing and removing questions -------------------------------------------------------------


def test_a_question_added_is_saved_in_the_draft_and_shown_in_the_preview(web) -> None:
    owner = web.login("process_owner")
    page = owner.get(EDITOR)
    assert "Preview: what a worker will see" in page and version_on(page) == ""  # no draft yet: the live form

    added = owner.post(
        EDITOR,
        question(
            name="school_name",
            title="Which school does the child go to?",
            hint="As the referrer gave it",
            required="yes",
        ),
        expect=302,
    )
    assert added.headers["Location"].endswith(EDITOR)

    form = draft_form()
    assert form is not None
    assert form["properties"]["school_name"] == {
        "title": "Which school does the child go to?",
        "description": "As the referrer gave it",
        "type": "string",
    }
    assert list(form["properties"]) == ["next_step", "ask_whom", "question", "school_name"]  # asked last
    assert form["required"] == ["next_step", "school_name"]
    assert "school_name" not in live_form()["properties"], "the live version is untouched"

    page = owner.get(EDITOR)
    assert "“Which school does the child go to?” was added to the draft." in page
    shown = preview_of(page)
    assert 'id="school_name" name="school_name" type="text"' in shown
    assert re.search(r'<label class="govuk-label govuk-label--s" for="school_name">\s*Which school', shown)
    assert "As the referrer gave it" in shown
    assert version_on(page) != ""


def test_a_question_with_choices_stores_each_choice_with_a_value_made_from_its_words(web) -> None:
    owner = web.login("process_owner")
    owner.post(
        EDITOR,
        question(
            name="contact_route",
            title="How did the family hear of us?",
            type="choice",
            choices="From school\n\n  A health visitor \nSomeone else",
        ),
        expect=302,
    )
    form = draft_form()
    assert form is not None
    assert form["properties"]["contact_route"] == {
        "title": "How did the family hear of us?",
        "type": "string",
        "x-widget": "radios",
        "oneOf": [
            {"const": "from_school", "title": "From school"},
            {"const": "a_health_visitor", "title": "A health visitor"},
            {"const": "someone_else", "title": "Someone else"},
        ],
    }
    assert "contact_route" not in form["required"]
    shown = preview_of(web.get(EDITOR))
    assert 'id="contact_route-2" name="contact_route" type="radio" value="a_health_visitor"' in shown


def test_changing_a_question_keeps_its_choices_values_and_its_own_error_messages(web) -> None:
    owner = web.login("process_owner")
    page = owner.get(f"{EDITOR}?change=next_step")
    assert "Change “What do you need?”" in page
    assert 'value="What do you need?"' in page  # the form is filled in with the question as it is
    # Each choice on a line of its own (the line break written as a character reference, so the page's indenting
    # of the revealed box adds no spaces to what the owner typed).
    assert ">I have enough to decide&#10;Ask for more information first</textarea>" in page

    owner.post(
        EDITOR,
        {
            "action": "change",
            "version": version_on(page),
            "name": "next_step",
            "title": "What do you need now?",
            "hint": "Choose one",
            "type": "choice",
            "required": "yes",
            "choices": "I have enough to decide\nAsk for more information first\nPass it to a manager",
        },
        expect=302,
    )
    form = draft_form()
    assert form is not None
    assert form["properties"]["next_step"] == {
        "title": "What do you need now?",
        "description": "Choose one",
        "x-widget": "radios",
        "oneOf": [
            {"const": "decide", "title": "I have enough to decide"},
            {"const": "more_information", "title": "Ask for more information first"},
            {"const": "pass_it_to_a_manager", "title": "Pass it to a manager"},
        ],
        "x-error-messages": {"required": "Select whether you can decide now"},
    }
    assert form["allOf"] == shipped("ssw_review")["allOf"], "the condition on it still matches"
    assert "What do you need now?" in preview_of(owner.get(EDITOR))


def test_changing_a_question_to_required_and_to_another_type(web) -> None:
    owner = web.login("process_owner")
    page = owner.get(f"{EDITOR}?change=question")
    owner.post(
        EDITOR,
        {
            "action": "change",
            "version": version_on(page),
            "name": "question",
            "title": "When is the answer needed by?",
            "type": "date",
            "required": "yes",
        },
        expect=302,
    )
    form = draft_form()
    assert form is not None
    # A date keeps no text's lengths, and of its error messages only the one for a missing answer.
    assert form["properties"]["question"] == {
        "title": "When is the answer needed by?",
        "type": "string",
        "format": "date",
        "x-widget": "date",
        "x-error-messages": {"required": "Say what you need to know"},
    }
    assert form["required"] == ["next_step", "question"]
    shown = preview_of(owner.get(EDITOR))
    assert 'id="question-day"' in shown and "When is the answer needed by?" in shown


def test_removing_a_question_asks_first_then_takes_it_out_of_the_conditions_too(web) -> None:
    owner = web.login("process_owner")
    page = owner.get(f"{EDITOR}?remove=question")
    assert "Remove “What do you need to know?”?" in page
    assert draft_form() is None, "asking is not removing"

    owner.post(EDITOR, {"action": "remove", "version": version_on(page), "name": "question"}, expect=302)
    form = draft_form()
    assert form is not None
    assert "question" not in form["properties"]
    assert form["allOf"][0]["then"] == {"required": ["ask_whom"]}
    page = owner.get(EDITOR)
    assert "“What do you need to know?” was removed from the draft." in page
    assert 'id="question"' not in preview_of(page)


def test_a_question_a_condition_tests_is_not_removed(web) -> None:
    owner = web.login("process_owner")
    page = owner.get(f"{EDITOR}?remove=next_step")
    refused = owner.post(EDITOR, {"action": "remove", "version": version_on(page), "name": "next_step"}, expect=400)
    body = refused.get_data(as_text=True)
    assert "decides whether other questions are asked, so it cannot be removed here" in body
    assert draft_form() is None and saves() == 0


def test_the_json_is_saved_and_the_preview_button_draws_it_without_saving(web) -> None:
    owner = web.login("process_owner")
    page = owner.get(EDITOR)
    schema = shipped("ssw_review")
    schema["properties"]["question"]["description"] = "Say exactly what is missing"
    text = json.dumps(schema, indent=2)

    previewed = owner.post(EDITOR, {"action": "preview", "version": "", "schema_json": text}, expect=200)
    body = previewed.get_data(as_text=True)
    assert "Say exactly what is missing" in preview_of(body)
    assert str(escape(text)) in body, "the typed JSON stays in the box"
    assert draft_form() is None and saves() == 0

    owner.post(EDITOR, {"action": "save_json", "version": version_on(page), "schema_json": text}, expect=302)
    assert draft_form() == schema
    assert "The form&#39;s JSON was saved to the draft." in owner.get(EDITOR)


# --- Bad input: told, typing kept, nothing saved -----------------------------------------------------------

BAD_QUESTIONS = [
    (
        {"name": "next_step", "title": "Is the child safe tonight?"},
        "editor--name",
        "This form already has a question called “next_step”",
    ),
    (
        {"name": "2nd_school", "title": "Second school"},
        "editor--name",
        "The field name must start with a letter and use only letters, digits and underscores",
    ),
    ({"name": "safe_tonight", "title": "   "}, "editor--text", "Enter the question text"),
    (
        {"name": "route", "title": "Which route?", "type": "choice", "choices": "Only one"},
        "editor--choices",
        "Enter at least 2 choices, one on each line",
    ),
    ({"name": "route", "title": "Which route?", "type": "colour"}, "editor--type", "Select the type of answer"),
]


@pytest.mark.parametrize(("typed", "field_id", "message"), BAD_QUESTIONS)
def test_a_bad_question_is_told_with_the_typing_kept_and_nothing_saved(web, typed, field_id, message) -> None:
    owner = web.login("process_owner")
    refused = owner.post(EDITOR, question(hint="Typed by the owner", **typed), expect=400)
    body = refused.get_data(as_text=True)
    assert "There is a problem" in body
    assert f'<a href="#{field_id}">{escape(message)}</a>' in body, "the summary links to the question's input"
    assert f'id="{field_id}-error"' in body, "and the input carries the message"
    assert f'value="{escape(typed["name"])}"' in body
    assert "Typed by the owner</textarea>" in body
    assert draft_form() is None and saves() == 0


BAD_JSON = [
    (
        '{\n  "type": "object",\n  "properties": {,}\n}',
        "The JSON is not valid at line 3, column 18: expected a name in double quotes (is there a comma too many?)",
    ),
    ('{"type": "object", "properties": {"n": {"title": "N", "maximum": NaN}}}', "The JSON holds NaN"),
    ('{"type": "object", "maxProperties": 1e400}', "The JSON holds the number 1e400, which is too large to keep"),
    ('{"maxProperties": ' + "9" * 5000 + "}", "The JSON holds a whole number hundreds of digits long"),
    ("[1, 2]", "The form must be a JSON object, starting with { and ending with }"),
    ('{"type": "object", "properties": {"school": {"type": "string"}}}', "Property &#39;school&#39; has no title"),
    (
        '{"type": "object", "properties": {"n": {"title": "N", "x-widget": "slider"}}}',
        "Property &#39;n&#39; has an unknown x-widget &#39;slider&#39;",
    ),
    ("[" * 5000 + "]" * 5000, "The JSON is nested more than 40 levels deep"),
    (
        json.dumps({"type": "object", "properties": {f"q{n}": {"title": f"Q{n}"} for n in range(301)}}),
        "A form may ask at most 300 questions; this one asks 301: split it",
    ),
    (
        json.dumps(
            {
                "type": "object",
                "properties": {
                    "people": {
                        "title": "People",
                        "type": "array",
                        "minItems": 100000,
                        "items": {"type": "object", "properties": {"name": {"title": "Name"}}},
                    }
                },
            }
        ),
        "A list may start with at most 50 items (minItems), not 100000",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_JSON)
def test_bad_json_is_told_with_the_typing_kept_and_nothing_saved(web, text, message) -> None:
    owner = web.login("process_owner")
    refused = owner.post(EDITOR, {"action": "save_json", "version": "", "schema_json": text}, expect=400)
    body = refused.get_data(as_text=True)
    assert '<a href="#editor--json">' in body and message in body
    assert f">{escape(text)}</textarea>" in body, "the JSON as typed stays in the box"
    assert draft_form() is None and saves() == 0
    # The preview says why it cannot be drawn, rather than drawing something else.
    assert "The preview cannot be drawn until the form is put right" in preview_of(body)


def test_bad_input_on_a_draft_leaves_the_draft_as_it_was(web) -> None:
    owner = web.login("process_owner")
    owner.post(EDITOR, question(name="school_name", title="Which school?"), expect=302)
    page = owner.get(EDITOR)
    before, saved = draft_form(), saves()
    owner.post(EDITOR, question(version=version_on(page), name="school_name", title="Again?"), expect=400)
    owner.post(EDITOR, {"action": "save_json", "version": version_on(page), "schema_json": "{"}, expect=400)
    assert draft_form() == before and saves() == saved


def test_an_empty_post_saves_nothing(web) -> None:
    owner = web.login("process_owner")
    refused = owner.post(EDITOR, {}, expect=400)
    assert "Choose what to do" in refused.get_data(as_text=True)
    assert draft_form() is None and saves() == 0


# --- Someone saved first ---------------------------------------------------------------------------------


def second_owner() -> None:
    users.create_user(
        "owner.two", "Robin Second-Owner", "second-owner-password", ["process_owner"], ROLES["process_owner"].team
    )
    db.session.commit()


def test_someone_who_saved_first_is_not_overwritten_and_the_typing_is_kept(web) -> None:
    second_owner()
    me = web.login("process_owner")
    other = web.another()
    other.post("/login", {"username": "owner.two", "password": "second-owner-password"}, expect=302)
    page = me.get(EDITOR)  # no draft yet

    other.post(EDITOR, question(name="their_question", title="Their question?"), expect=302)
    stale = me.post(EDITOR, question(version=version_on(page), name="my_question", title="My question?"), expect=409)
    body = stale.get_data(as_text=True)
    assert "Someone else saved first" in body
    assert "Someone else saved this flow&#39;s draft while you were editing" in body
    assert "last saved" in body and "by Robin Second-Owner" in body
    assert 'value="my_question"' in body and 'value="My question?"' in body, "what I typed is kept"
    assert "Their question?" in preview_of(body), "their version is shown"
    form = draft_form()
    assert form is not None and "their_question" in form["properties"] and "my_question" not in form["properties"]

    # Having seen their version, sending again saves mine beside theirs.
    me.post(EDITOR, question(version=version_on(body), name="my_question", title="My question?"), expect=302)
    form = draft_form()
    assert form is not None and {"their_question", "my_question"} <= set(form["properties"])


def test_a_stale_json_save_keeps_the_typed_json(web) -> None:
    me = web.login("process_owner")
    other = web.another().login("process_owner")
    me.post(EDITOR, question(name="first", title="First?"), expect=302)
    page = me.get(EDITOR)
    other.post(EDITOR, question(version=version_on(other.get(EDITOR)), name="second", title="Second?"), expect=302)

    schema = shipped("ssw_review")
    schema["title"] = "My own title"
    text = json.dumps(schema, indent=2)
    stale = me.post(EDITOR, {"action": "save_json", "version": version_on(page), "schema_json": text}, expect=409)
    body = stale.get_data(as_text=True)
    assert f">{escape(text)}</textarea>" in body
    form = draft_form()
    assert form is not None and form["title"] == "Review the contact" and "second" in form["properties"]


# --- What is found, and who may --------------------------------------------------------------------------


def test_the_forms_of_a_flow_link_to_their_editors(web) -> None:
    page = web.login("process_owner").get(f"/processes/{FLOW}/forms")
    assert "these are the forms of the live version" in page
    assert f'href="{EDITOR}">Review the contact' in page
    assert 'href="/processes/initial_contact/forms/ssw_decision"' in page


def test_unknown_flows_and_forms_are_not_found_and_a_form_no_step_shows_still_opens(web) -> None:
    owner = web.login("process_owner")
    owner.get("/processes/no_such_flow/forms", expect=404)
    owner.get(f"/processes/{FLOW}/forms/no_such_form", expect=404)
    owner.get(f"/processes/{FLOW}/forms/mat_police", expect=404)  # another flow's form
    owner.get(f"{EDITOR}?change=no_such_question", expect=404)

    draft = process_versions.start_draft(FLOW, user("process_owner"))
    spare = {"type": "object", "properties": {"note": {"title": "A note", "type": "string"}}}
    process_versions.save_form(FLOW, "spare_note", spare, draft.version, user("process_owner"))
    page = owner.get(f"/processes/{FLOW}/forms/spare_note")
    assert "No step of the diagram shows this form yet." in page
    assert 'for="note"' in preview_of(page)
    assert "No step of the diagram shows it" in owner.get(f"/processes/{FLOW}/forms")


OTHER_ROLES = [role for role in ROLES if role != "process_owner"]


@pytest.mark.parametrize("role", OTHER_ROLES)
def test_only_process_owners_edit_forms(web, role) -> None:
    someone = web.login(role)
    someone.get(f"/processes/{FLOW}/forms", expect=403)
    someone.get(EDITOR, expect=403)
    token = someone.token("/tasks")
    for url, data in (
        (EDITOR, question(name="sneaked_in", title="Sneaked in?")),
        (PREVIEW, {"schema_json": json.dumps(shipped("ssw_review"))}),
    ):
        response = someone.client.post(url, data={**data, "csrf_token": token})
        assert response.status_code == 403, (url, response.status_code)
    assert process_versions.draft_of(FLOW) is None and saves() == 0


# --- The preview is the task page's form -----------------------------------------------------------------


class Questions(HTMLParser):
    """The inputs' ids and the labels and legends of the questions in a piece of a page, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.labels: list[str] = []
        self._open: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("input", "select", "textarea") and found.get("type") != "hidden" and found.get("id"):
            self.ids.append(found["id"] or "")
        classes = found.get("class") or ""
        if tag in ("label", "legend") and ("govuk-label" in classes or "govuk-fieldset__legend" in classes):
            self._open = []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("label", "legend") and self._open is not None:
            self.labels.append(" ".join("".join(self._open).split()))
            self._open = None


def questions_in(html: str) -> Questions:
    parser = Questions()
    parser.feed(html)
    return parser


@pytest.mark.parametrize(("steps", "form_id"), [(0, "ssw_review"), (1, "ssw_decision")])
def test_the_preview_of_a_shipped_form_has_the_task_pages_ids_and_labels(web, clock, steps, form_id) -> None:
    scenario = json.loads((bundles.PROCESSES_DIR / FLOW / "scenarios" / "below_threshold_advice.json").read_text())
    scenario["steps"], scenario["expect"] = scenario["steps"][:steps], {}
    case_id = scenarios.run(scenario).case_id
    task = db.session.scalar(select(Task).where(Task.case_id == case_id, Task.form_id == form_id))
    assert task is not None

    task_page = web.login("ssw").get(f"/tasks/{task.id}")
    start = task_page.index('<form method="post" novalidate')
    worker_sees = questions_in(task_page[start : task_page.index("</form>", start)])
    assert worker_sees.ids and worker_sees.labels

    owner = web.another().login("process_owner")
    text = json.dumps(shipped(form_id))
    fragment = owner.post(f"/processes/{FLOW}/forms/{form_id}/preview", {"schema_json": text}, expect=200)
    owner_sees = questions_in(fragment.get_data(as_text=True))
    assert owner_sees.ids == worker_sees.ids
    assert owner_sees.labels == worker_sees.labels
    # And the editor page draws the same preview of the form it holds.
    on_the_page = questions_in(preview_of(owner.get(f"/processes/{FLOW}/forms/{form_id}")))
    assert (on_the_page.ids, on_the_page.labels) == (worker_sees.ids, worker_sees.labels)


def test_the_preview_fragment_says_why_a_form_cannot_be_drawn_and_saves_nothing(web) -> None:
    owner = web.login("process_owner")
    text = '{\n  "type": "object",\n  "properties": {\n    "n": {"title": "N"}\n  },\n}'
    fragment = owner.post(PREVIEW, {"schema_json": text}, expect=200).get_data(as_text=True)
    assert "The preview cannot be drawn until the form is put right" in fragment
    assert "line 6, column 1" in fragment
    assert "<form" not in fragment and "action=" not in fragment
    assert process_versions.draft_of(FLOW) is None and saves() == 0
    assert db.session.scalar(select(func.count()).select_from(ProcessDraft)) == 0


def test_changing_a_question_already_removed_is_told_and_saves_nothing(web) -> None:
    owner = web.login("process_owner")
    page = owner.get(f"{EDITOR}?change=question")
    owner.post(EDITOR, {"action": "remove", "version": version_on(page), "name": "question"}, expect=302)
    page = owner.get(EDITOR)
    before, saved = draft_form(), saves()
    changed = {"action": "change", "version": version_on(page), "name": "question", "title": "What is missing?"}
    refused = owner.post(EDITOR, {**changed, "type": "textarea", "required": "no"}, expect=400)
    assert "That question is not in this form now" in refused.get_data(as_text=True)
    assert draft_form() == before and saves() == saved


def test_what_the_owner_types_is_shown_as_text_never_as_markup(web) -> None:
    owner = web.login("process_owner")
    typed = '<script>alert("x")</script>'
    owner.post(EDITOR, question(name="odd", title=typed, hint=typed, type="choice", choices=f"{typed}\nB"), expect=302)
    page = owner.get(EDITOR)
    assert typed not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in preview_of(page)


def test_a_version_that_is_not_a_number_is_a_stale_page_not_an_error(web) -> None:
    owner = web.login("process_owner")
    owner.post(EDITOR, question(name="school_name", title="Which school?"), expect=302)
    # "²" is a digit to Python, but not one int() can read: the save is refused as from an old page.
    answer = owner.post(EDITOR, question(name="club_name", title="Which club?", version="²"))
    assert answer.status_code == 409, answer.status_code
    assert "club_name" not in (draft_form() or {}).get("properties", {})
