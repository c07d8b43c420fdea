"""A process owner's edits to a flow's forms: questions added, changed and removed without writing JSON, the
JSON itself for anything else, and a preview drawn the way a worker's task page draws the form.

The forms edited are the flow's draft's; while the flow has no draft, the live version's are shown, and the
first save starts the draft (a copy of the live version) before storing the form. Every save goes through
process_versions.save_form with the draft version the page showed, so an owner who saved first is never
overwritten unseen. Nothing is stored until the whole form passes schemaforms.check_form_schema: a form that
would not render, or would not validate a worker's answers, never reaches a draft.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app import policy, schemaforms
from app.engine import specs
from app.extensions import db
from app.models import LiveBundle, User
from app.models.process_versions import ProcessDraft
from app.schemaforms import check
from app.schemaforms.model import Field, as_dict, choices_of, condition_blocks, object_fields, walk
from app.services import process_versions
from app.services.errors import Forbidden, NotFound

# The answer types a question can be given from the form; anything else is written in the JSON.
TYPES = {
    "text": "Short text",
    "textarea": "Long text",
    "yes_no": "Yes or no",
    "choice": "One of a list",
    "date": "Date",
    "number": "Number",
}
# How each kind of question the forms know is named on the page, the ones only the JSON can make included.
KIND_WORDS = {
    "text": "Short text",
    "textarea": "Long text",
    "boolean": "Yes or no",
    "radios": "One of a list",
    "select": "One of a list (drop-down)",
    "checkboxes": "Any of a list (checkboxes)",
    "date": "Date",
    "integer": "Whole number",
    "number": "Number",
    "object": "A group of questions",
    "list": "A list (add another)",
}
# The editor type each kind of question is changed as; kinds missing here are changed in the JSON.
_EDITED_AS = {
    "text": "text",
    "textarea": "textarea",
    "boolean": "yes_no",
    "radios": "choice",
    "select": "choice",
    "date": "date",
    "integer": "number",
    "number": "number",
}
# Keywords that belong to a type of answer: dropped when a question's type changes, so a date does not keep a
# text's length limits or a list's choices.
_TYPE_KEYWORDS = (
    "type",
    "x-widget",
    "format",
    "oneOf",
    "anyOf",
    "enum",
    "const",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "items",
    "minItems",
    "maxItems",
    "uniqueItems",
    "default",
    "examples",
)

NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
LONGEST_NAME = 60
LONGEST_TITLE = 500
LONGEST_HINT = 2000
LONGEST_CHOICE = 200
MOST_CHOICES = 100
# Far beyond the longest shipped form (about 20,000 characters), and short enough to check and draw at once.
LONGEST_JSON = 200_000
# A form nests an object in a list in an object at most; deeper JSON is a mistake or an attack on the parser.
DEEPEST_JSON = 40
# The longest shipped form asks 63 questions. Each question costs time to check and draw, and a list drawn with
# thousands of blank items would hold up the preview (and a worker's page): both are bounded well above need.
MOST_QUESTIONS = 300
MOST_ITEMS_SHOWN = check.MOST_ITEMS_SHOWN
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# --- Reading -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowForms:
    """The forms an owner edits for one flow: the draft's, or the live version's while there is no draft."""

    flow: str
    name: str  # the flow in words
    forms: dict[str, dict[str, Any]]
    steps: dict[str, list[str]]  # form id -> the names of the user tasks that show it
    version: int | None  # the draft's version, the one a save must match; None for the live version
    live_number: int | None  # the live version's number (1, 2, 3...)
    saved_at: datetime | None  # when the draft was last saved
    saved_by: str | None  # and by whom

    def title_of(self, form_id: str) -> str:
        title = as_dict(self.forms.get(form_id)).get("title")
        return title if isinstance(title, str) and title.strip() else form_id

    def heading_of(self, form_id: str) -> str:
        """What a worker reads as the task page's heading: the step's name, or the form's own title."""
        steps = self.steps.get(form_id)
        return steps[0] if steps else self.title_of(form_id)


def forms_of(flow: str) -> FlowForms:
    if flow not in process_versions.FLOWS:
        raise NotFound(flow)
    draft = process_versions.draft_of(flow)
    live = db.session.get(LiveBundle, flow)
    live_number = live.bundle.number if live is not None else None
    if draft is not None:
        files, forms = draft.files, draft.forms
    elif live is not None:
        files, forms = live.bundle.files, live.bundle.forms
    else:
        raise NotFound(flow)
    saved_by = None
    if draft is not None and draft.updated_by_id is not None:
        saved_by = db.session.scalar(select(User.name).where(User.id == draft.updated_by_id))
    return FlowForms(
        flow=flow,
        name=process_versions.FLOWS[flow],
        forms=dict(forms or {}),
        steps=_steps_showing(files or {}),
        version=draft.version if draft is not None else None,
        live_number=live_number,
        saved_at=draft.updated_at if draft is not None else None,
        saved_by=saved_by,
    )


def form_of(flow: str, form_id: str) -> tuple[FlowForms, dict[str, Any]]:
    found = forms_of(flow)
    schema = found.forms.get(form_id)
    if not isinstance(schema, dict):
        raise NotFound(form_id)
    return found, schema


def _steps_showing(files: dict[str, str]) -> dict[str, list[str]]:
    steps: dict[str, list[str]] = {}
    for name, text in sorted(files.items()):
        try:
            tree = specs.safe_xml(text, name)
        except specs.BundleRefused:
            continue  # a draft's diagram may be broken mid-edit; its forms still open, named by their ids
        for task in tree.iter(f"{{{specs.BPMN}}}userTask"):
            for prop in task.iter(f"{{{specs.SPIFF}}}property"):
                form_id = specs.form_id_of(prop.get("value")) if prop.get("name") == specs.FORM_PROPERTY else None
                if form_id:
                    steps.setdefault(form_id, []).append(task.get("name") or task.get("id") or form_id)
    return steps


# --- The questions -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuestionRow:
    """One question as the editor lists it."""

    name: str
    title: str
    kind: str  # in words
    required: str  # in words
    shown_when: str | None  # for a question revealed under another's answer, which answer
    hint: str | None
    choices: list[str]
    editable: bool  # False when only the JSON can change it (a group, a list, a read-only answer...)
    removable: bool


def questions(schema: dict[str, Any]) -> list[QuestionRow]:
    """Every question at the top of the form, in the order a worker meets them."""
    fields = object_fields(schema)
    titles = {f.name: f for f in walk(fields)}
    properties = as_dict(schema.get("properties"))
    asked_for = _conditionally_required(schema)
    rows = []
    for f in walk(fields):
        shown_when = None
        if f.shown_when is not None:
            trigger = titles.get(f.shown_when[0])
            if trigger is not None:
                label = next((c.label for c in trigger.choices if c.key == trigger.key_for(f.shown_when[1])), None)
                shown_when = f"“{trigger.title}” is answered “{label or f.shown_when[1]}”"
        if f.required:
            required = "Yes"
        elif f.name in asked_for:
            required = "Yes, when it is asked" if shown_when else "When another answer asks for it"
        else:
            required = "No"
        kind = KIND_WORDS.get(f.kind, f.kind)
        if f.readonly:
            kind += " (shown, not asked)"
        rows.append(
            QuestionRow(
                name=f.name,
                title=f.title,
                kind=kind,
                required=required,
                shown_when=shown_when,
                hint=f.hint,
                choices=[c.label for c in f.choices] if f.kind in ("radios", "select", "checkboxes") else [],
                editable=_editable(f, properties),
                removable=f.name in properties,
            )
        )
    return rows


def _editable(f: Field, properties: dict[str, Any]) -> bool:
    return f.name in properties and f.kind in _EDITED_AS and not f.readonly


def _conditionally_required(schema: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for block in condition_blocks(schema):
        names.update(n for n in as_dict(block.get("then")).get("required") or [] if isinstance(n, str))
    return names


def names_in(schema: dict[str, Any]) -> set[str]:
    """Every answer name the form already uses at its top level, those only a condition adds included."""
    names = set(as_dict(schema.get("properties")))
    for block in condition_blocks(schema):
        then = as_dict(block.get("then"))
        names.update(as_dict(then.get("properties")))
        names.update(n for n in then.get("required") or [] if isinstance(n, str))
    return names


@dataclass
class Question:
    """A question as the owner typed it in the editor's form (every value as typed, so it can be shown again)."""

    name: str = ""
    title: str = ""
    hint: str = ""
    type: str = ""
    required: str = ""
    choices: str = ""  # one per line

    @classmethod
    def from_form(cls, form: Any) -> Question:
        return cls(**{key: str(form.get(key, "")) for key in ("name", "title", "hint", "type", "required", "choices")})

    def choice_lines(self) -> list[str]:
        return [line.strip() for line in self.choices.splitlines() if line.strip()]


def question_of(schema: dict[str, Any], name: str) -> Question:
    """The question called `name`, as the editor's form shows it to be changed."""
    properties = as_dict(schema.get("properties"))
    f = next((f for f in walk(object_fields(schema)) if f.name == name), None)
    if f is None or not _editable(f, properties):
        raise NotFound(name)
    return Question(
        name=name,
        title=f.title,
        hint=f.hint or "",
        type=_EDITED_AS[f.kind],
        required="yes" if f.required else "no",
        choices="\n".join(c.label for c in f.choices) if f.kind in ("radios", "select") else "",
    )


@dataclass(frozen=True)
class Problem:
    field_id: str  # the input the error summary links to
    message: str


class QuestionRefused(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def problems_with(question: Question, schema: dict[str, Any], changing: str | None = None) -> list[Problem]:
    """What is wrong with a question typed in the editor, each linked to its input; none means it can be saved."""
    found = []
    if changing is None:
        name = question.name.strip()
        if not name:
            found.append(Problem("editor--name", "Enter a field name"))
        elif len(name) > LONGEST_NAME:
            found.append(Problem("editor--name", f"The field name must be {LONGEST_NAME} characters or fewer"))
        elif not NAME_PATTERN.fullmatch(name):
            found.append(
                Problem(
                    "editor--name",
                    "The field name must start with a letter and use only letters, digits and underscores",
                )
            )
        elif name in names_in(schema):
            found.append(Problem("editor--name", f"This form already has a question called “{name}”"))
    title = question.title.strip()
    if not title:
        found.append(Problem("editor--text", "Enter the question text"))
    elif len(title) > LONGEST_TITLE:
        found.append(Problem("editor--text", f"The question text must be {LONGEST_TITLE} characters or fewer"))
    elif _CONTROL.search(title) or "\n" in title or "\r" in title:
        found.append(Problem("editor--text", "The question text must be one line of ordinary characters"))
    if len(question.hint) > LONGEST_HINT:
        found.append(Problem("editor--hint", f"The hint must be {LONGEST_HINT} characters or fewer"))
    elif _CONTROL.search(question.hint):
        found.append(Problem("editor--hint", "The hint must be ordinary characters"))
    if question.type not in TYPES:
        found.append(Problem("editor--type", "Select the type of answer"))
    elif question.type == "choice":
        found += _choice_problems(question)
    if question.required not in ("yes", "no"):
        found.append(Problem("editor--required", "Select whether an answer is required"))
    if any(_has_lone_surrogate(text) for text in (question.name, question.title, question.hint, question.choices)):
        found.append(Problem("editor--text", "The question holds characters that cannot be stored"))
    return found


def _choice_problems(question: Question) -> list[Problem]:
    lines = question.choice_lines()
    if len(lines) < 2:
        return [Problem("editor--choices", "Enter at least 2 choices, one on each line")]
    if len(lines) > MOST_CHOICES:
        return [Problem("editor--choices", f"Enter no more than {MOST_CHOICES} choices")]
    long = next((line for line in lines if len(line) > LONGEST_CHOICE), None)
    if long is not None:
        return [Problem("editor--choices", f"Each choice must be {LONGEST_CHOICE} characters or fewer")]
    if any(_CONTROL.search(line) for line in lines):
        return [Problem("editor--choices", "The choices must be ordinary characters")]
    seen: set[str] = set()
    for line in lines:
        if line.casefold() in seen:
            return [Problem("editor--choices", f"Each choice must be different: “{line}” is there twice")]
        seen.add(line.casefold())
    return []


def with_question(schema: dict[str, Any], question: Question, changing: str | None = None) -> dict[str, Any]:
    """A new form: `schema` with the question added at the end, or put in place of the one called `changing`."""
    problems = problems_with(question, schema, changing)
    if problems:
        raise QuestionRefused(problems)
    result = copy.deepcopy(schema)
    properties = result.setdefault("properties", {})
    name = changing if changing is not None else question.name.strip()
    if changing is None:
        properties[name] = _new_property(question, {})
    else:
        current = as_dict(properties.get(name))
        f = next((f for f in walk(object_fields(schema)) if f.name == name), None)
        if f is None or not _editable(f, as_dict(schema.get("properties"))):
            raise NotFound(name)
        if _EDITED_AS[f.kind] == question.type:
            properties[name] = _changed_property(current, question)
        else:
            properties[name] = _new_property(question, current)
    required = [n for n in result.get("required") or [] if n != name]
    if question.required == "yes":
        required.append(name)
    if required:
        result["required"] = required
    else:
        result.pop("required", None)
    return result


def _new_property(question: Question, before: dict[str, Any]) -> dict[str, Any]:
    made: dict[str, Any] = {"title": question.title.strip()}
    if question.hint.strip():
        made["description"] = question.hint.strip()
    kind = question.type
    if kind in ("text", "textarea", "choice", "date"):
        made["type"] = "string"
    if kind == "textarea":
        made["x-widget"] = "textarea"
    elif kind == "yes_no":
        made["type"] = "boolean"
    elif kind == "choice":
        made["x-widget"] = "radios"
        made["oneOf"] = _choices(question, [])
    elif kind == "date":
        made["format"] = "date"
        made["x-widget"] = "date"
    elif kind == "number":
        made["type"] = "number"
    # What the old question said beyond its type (its own error messages, say) is kept, except what only fitted
    # the old type of answer.
    for key, value in before.items():
        if key not in made and key not in _TYPE_KEYWORDS and key not in ("title", "description"):
            made[key] = copy.deepcopy(value)
    messages = made.get("x-error-messages")
    if isinstance(messages, dict):
        kept = {k: v for k, v in messages.items() if k == "required"}
        if kept:
            made["x-error-messages"] = kept
        else:
            made.pop("x-error-messages")
    return made


def _changed_property(current: dict[str, Any], question: Question) -> dict[str, Any]:
    changed = copy.deepcopy(current)
    changed["title"] = question.title.strip()
    if question.hint.strip():
        changed["description"] = question.hint.strip()
    else:
        changed.pop("description", None)
    if question.type == "choice":
        changed["oneOf"] = _choices(question, [(c.value, c.label) for c in choices_of(current)])
        changed.pop("enum", None)
        changed.pop("anyOf", None)
    return changed


def _choices(question: Question, before: list[tuple[Any, str]]) -> list[dict[str, Any]]:
    """The choices as typed, each keeping the value it had when its wording is unchanged, so answers already
    given and the diagram's conditions on them still match; a new choice's value is made from its words."""
    kept = {label.casefold(): value for value, label in before}
    used = {value for value, _ in before}
    made = []
    for line in question.choice_lines():
        if line.casefold() in kept:
            value = kept[line.casefold()]
        else:
            value = _unused(_value_from(line), used)
            used.add(value)
        made.append({"const": value, "title": line})
    return made


def _value_from(words: str) -> str:
    value = re.sub(r"[^a-z0-9]+", "_", words.casefold()).strip("_")[:40].strip("_")
    return value or "choice"


def _unused(value: str, used: set[Any]) -> str:
    if value not in used:
        return value
    n = 2
    while f"{value}_{n}" in used:
        n += 1
    return f"{value}_{n}"


def without_question(schema: dict[str, Any], name: str) -> dict[str, Any]:
    """A new form: `schema` without the question called `name`, nor any condition's demand for it."""
    if name not in as_dict(schema.get("properties")):
        raise NotFound(name)
    for block in condition_blocks(schema):
        if name in as_dict(as_dict(block.get("if")).get("properties")):
            raise QuestionRefused(
                [
                    Problem(
                        "editor--json",
                        f"“{name}” decides whether other questions are asked, so it cannot be removed here: "
                        "change or remove that condition in the JSON first",
                    )
                ]
            )
    result = copy.deepcopy(schema)
    del result["properties"][name]
    _drop_requirement(result, name)
    for block in condition_blocks(result):
        then = block.get("then")
        if isinstance(then, dict):
            as_dict(then.get("properties")).pop(name, None)
            _drop_requirement(then, name)
    return result


def _drop_requirement(schema: dict[str, Any], name: str) -> None:
    if isinstance(schema.get("required"), list):
        schema["required"] = [n for n in schema["required"] if n != name]
        if not schema["required"]:
            del schema["required"]


# --- The JSON ----------------------------------------------------------------------------------------------


def as_text(schema: dict[str, Any]) -> str:
    """A form as the owner reads and edits it: indented, keys in their own order (the questions' order)."""
    return json.dumps(schema, indent=2, ensure_ascii=False)


def parse_json(text: str) -> dict[str, Any]:
    """The form the owner typed; QuestionRefused saying where (line and column) when it is not JSON."""
    if not text.strip():
        raise QuestionRefused([Problem("editor--json", "Enter the form as JSON")])
    if len(text) > LONGEST_JSON:
        raise QuestionRefused(
            [
                Problem(
                    "editor--json",
                    f"The JSON must be {LONGEST_JSON:,} characters or fewer; a form this long is a mistake",
                )
            ]
        )
    try:
        schema = json.loads(text, parse_constant=_no_constant, parse_float=_finite, parse_int=_whole)
    except json.JSONDecodeError as err:
        message = f"The JSON is not valid at line {err.lineno}, column {err.colno}: {_plain_json_error(err.msg)}"
        raise QuestionRefused([Problem("editor--json", message)]) from None
    except _NotJson as err:
        raise QuestionRefused([Problem("editor--json", str(err))]) from None
    except RecursionError:
        raise QuestionRefused([Problem("editor--json", _TOO_DEEP)]) from None
    if not isinstance(schema, dict):
        raise QuestionRefused(
            [Problem("editor--json", "The form must be a JSON object, starting with { and ending with }")]
        )
    if _depth(schema) > DEEPEST_JSON:
        raise QuestionRefused([Problem("editor--json", _TOO_DEEP)])
    if _holds_lone_surrogate(schema):
        raise QuestionRefused(
            [Problem("editor--json", "The JSON holds a \\u escape that is half of a character; it cannot be stored")]
        )
    return schema


_TOO_DEEP = f"The JSON is nested more than {DEEPEST_JSON} levels deep; no form needs that"


class _NotJson(ValueError):
    pass


def _no_constant(name: str) -> Any:
    # Python reads NaN and Infinity, but they are not JSON and no database column would keep them.
    raise _NotJson(f"The JSON holds {name}, which is not a JSON value; write a number or a string")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NotJson(f"The JSON holds the number {text[:20]}, which is too large to keep")
    return value


def _whole(text: str) -> int:
    if len(text.lstrip("-")) > 300:
        # Python refuses to read a whole number thousands of digits long, and no form needs one of 300.
        raise _NotJson("The JSON holds a whole number hundreds of digits long, which no form needs")
    return int(text)


def _plain_json_error(message: str) -> str:
    plain = {
        "Expecting property name enclosed in double quotes": (
            "expected a name in double quotes (is there a comma too many?)"
        ),
        "Expecting ',' delimiter": "expected a comma",
        "Expecting ':' delimiter": "expected a colon after the name",
        "Expecting value": "expected a value",
        "Extra data": "there is more after the end of the form",
        "Unterminated string starting at": "a text in quotes is not closed",
        "Invalid control character at": "a line break or control character inside quotes (write it as \\n)",
    }
    return plain.get(message, message[:1].lower() + message[1:])


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > DEEPEST_JSON:
            break
        if isinstance(item, dict):
            stack.extend((inner, level + 1) for inner in item.values())
        elif isinstance(item, list):
            stack.extend((inner, level + 1) for inner in item)
    return deepest


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _holds_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and _has_lone_surrogate(item):
            return True
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def too_big(schema: dict[str, Any]) -> list[str]:
    """Why a form is too big to check and draw at once; none when it is not."""
    questions, stack = 0, [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("properties"), dict):
                questions += len(item["properties"])
            shown = item.get("minItems")
            if isinstance(shown, int) and shown > MOST_ITEMS_SHOWN:
                return [f"A list may start with at most {MOST_ITEMS_SHOWN} items (minItems), not {shown}"]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    if questions > MOST_QUESTIONS:
        return [f"A form may ask at most {MOST_QUESTIONS} questions; this one asks {questions}: split it"]
    return []


# --- The preview -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    """The form as a worker's task page draws it, or why it cannot be drawn."""

    schema: dict[str, Any] | None
    fields: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def preview(schema: dict[str, Any]) -> Preview:
    problems = too_big(schema) or schemaforms.check_form_schema(schema)
    if problems:
        return Preview(None, [], problems)
    # The very view-models a task page draws, with no answers yet.
    return Preview(schema, schemaforms.build_view(schema, {}, []))


def preview_of_text(text: str) -> Preview:
    try:
        schema = parse_json(text)
    except QuestionRefused as refused:
        return Preview(None, [], [p.message for p in refused.problems])
    return preview(schema)


# --- Saving ------------------------------------------------------------------------------------------------


class SavedFirst(Exception):
    """Someone saved the flow's draft after this page was drawn; nothing of this save was kept."""


def save(user: User, flow: str, form_id: str, schema: dict[str, Any], version: int | None) -> ProcessDraft:
    """Store the form in the flow's draft, starting the draft from the live version if there is none yet.

    `version` is the draft version the page showed (None: the page showed the live version). The form is
    checked before anything is written, so a refused form does not even start a draft.
    """
    if not policy.can_edit_processes(user):
        raise Forbidden("Forms are edited by process owners.")
    problems = too_big(schema) or schemaforms.check_form_schema(schema)
    if problems:
        raise QuestionRefused([Problem("editor--json", message) for message in problems])
    draft = process_versions.draft_of(flow)
    if version is None:
        if draft is not None:
            raise SavedFirst(flow)  # someone started the draft, and perhaps changed this form, meanwhile
        draft = process_versions.start_draft(flow, user)
        version = draft.version
    elif draft is None:
        raise SavedFirst(flow)  # the draft the page showed was deployed or thrown away meanwhile
    try:
        return process_versions.save_form(flow, form_id, schema, version, user)
    except (process_versions.DraftChanged, process_versions.NoDraft):
        db.session.rollback()
        raise SavedFirst(flow) from None
    except process_versions.FormRefused as refused:
        db.session.rollback()
        raise QuestionRefused([Problem("editor--json", str(m)) for m in refused.messages]) from None
