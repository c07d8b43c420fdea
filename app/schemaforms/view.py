"""View-models for templates/schemaforms/form_fields.html.

Each question becomes a dict with a `kind` saying which GOV.UK macro draws it and, for the simple
kinds, the exact `params` to pass that macro, so the template holds no form logic of its own.
"""

from __future__ import annotations

import datetime
from typing import Any

from markupsafe import Markup, escape

from .model import Choice, Field, form_fields, lower_first
from .submission import ACTION_FIELD, DATE_PARTS
from .validate import FieldError

_NOT_PROVIDED = "Not provided"


def build_view(schema: dict, data: dict | None, errors: list[FieldError] | None = None) -> list[dict]:
    """The questions of a form as view-models, filled in with `data` and marked with `errors`.

    Kinds: input, textarea, select, radios, checkboxes, date and summary carry `params` for the GOV.UK
    macro of that name (a radios item may carry `reveal`, the view-models shown under it); fieldset
    (a nested object) carries `legend`, `hint`, `error` and `fields`; list (add another) carries
    `legend`, `hint`, `error`, `entries` (each `legend`, `marker`, `fields`, `remove`) and `add`.
    """
    messages = {error.path: error.message for error in errors or []}
    return _views(form_fields(schema), data or {}, "", messages)


def _views(fields: list[Field], values: Any, prefix: str, messages: dict[str, str]) -> list[dict]:
    values = values if isinstance(values, dict) else {}
    views: list[dict] = []
    for f in fields:
        view = _view(f, values, prefix, messages)
        if view["kind"] == "summary" and views and views[-1]["kind"] == "summary":
            # Neighbouring read-only answers read better as one summary list.
            views[-1]["params"]["rows"].extend(view["params"]["rows"])
        else:
            views.append(view)
    return views


def _view(f: Field, values: dict, prefix: str, messages: dict[str, str]) -> dict:
    path = prefix + f.name
    value = values.get(f.name)
    error = messages.get(path)
    if f.readonly:
        # The id lets an error summary link land on the answer, though there is no input to fix.
        shown = Markup('<span id="{}">{}</span>').format(path, display_text(f, value))
        row = {"key": {"text": f.title}, "value": {"html": shown}}
        return {"kind": "summary", "path": path, "params": {"rows": [row]}}
    if f.kind == "object":
        return {
            "kind": "fieldset",
            "path": path,
            "legend": f.title,
            "hint": f.hint,
            "error": error,
            "fields": _views(f.fields, value, path + ".", messages),
        }
    if f.kind == "list":
        return _list_view(f, value, path, error, messages)

    params: dict[str, Any] = {}
    if f.hint:
        params["hint"] = {"text": f.hint}
    if error:
        params["errorMessage"] = {"text": error}

    if f.kind in ("radios", "boolean"):
        params.update(
            name=path,
            idPrefix=path,
            value=_chosen_key(f, value),
            fieldset={"legend": {"text": f.title, "classes": "govuk-fieldset__legend--s"}},
            items=[_radio_item(f, choice, values, prefix, messages) for choice in f.choices],
        )
        if f.kind == "boolean" and not f.reveals:
            params["classes"] = "govuk-radios--inline"
        return {"kind": "radios", "path": path, "params": params}
    if f.kind == "checkboxes":
        chosen = value if isinstance(value, list) else []
        params.update(
            name=path,
            idPrefix=path,
            values=[_chosen_key(f, item) for item in chosen],
            fieldset={"legend": {"text": f.title, "classes": "govuk-fieldset__legend--s"}},
            items=[_option(choice.key, choice.label, choice.hint) for choice in f.choices],
        )
        return {"kind": "checkboxes", "path": path, "params": params}
    if f.kind == "date":
        typed = _date_parts(value)
        error_class = " govuk-input--error" if error else ""
        params.update(
            id=path,
            namePrefix=path,
            fieldset={"legend": {"text": f.title, "classes": "govuk-fieldset__legend--s"}},
            items=[
                {"name": part, "value": typed[part], "classes": f"govuk-input--width-{width}{error_class}"}
                for part, width in zip(DATE_PARTS, (2, 2, 4), strict=True)
            ],
        )
        return {"kind": "date", "path": path, "params": params}

    params.update(id=path, name=path, label={"text": f.title, "classes": "govuk-label--s"})
    if f.kind == "select":
        params["value"] = _chosen_key(f, value) or ""
        params["items"] = [{"value": "", "text": "Select an option"}] + [
            {"value": choice.key, "text": choice.label} for choice in f.choices
        ]
        return {"kind": "select", "path": path, "params": params}
    params["value"] = _typed_text(value)
    if f.kind == "textarea":
        # The textarea macro prints its value as the element's content, even when it is None.
        params["value"] = unindented(params["value"] or "")
        params["rows"] = 5
        return {"kind": "textarea", "path": path, "params": params}
    params["autocomplete"] = "off"
    if f.kind in ("integer", "number"):
        params["inputmode"] = "numeric" if f.kind == "integer" else "decimal"
        params["spellcheck"] = False
        params["classes"] = "govuk-input--width-10"
    return {"kind": "input", "path": path, "params": params}


def _radio_item(f: Field, choice: Choice, values: dict, prefix: str, messages: dict[str, str]) -> dict:
    item = _option(choice.key, choice.label, choice.hint)
    revealed = f.reveals.get(choice.key)
    if revealed:
        # The template renders these and passes them to govukRadios as the option's conditional html.
        item["reveal"] = _views(revealed, values, prefix, messages)
    return item


def _option(key: str, label: str, hint: str | None) -> dict:
    option: dict[str, Any] = {"value": key, "text": label}
    if hint:
        option["hint"] = {"text": hint}
    return option


def _list_view(f: Field, value: Any, path: str, error: str | None, messages: dict[str, str]) -> dict:
    items = value if isinstance(value, list) else []
    shown = max(len(items), f.min_items)
    item_title = f.item_title
    entries = []
    for index in range(shown):
        number = index + 1
        prefix = f"{path}.{index}."
        remove = None
        if shown > f.min_items:
            remove = {
                "html": Markup('Remove<span class="govuk-visually-hidden"> {}</span>').format(
                    f"{lower_first(item_title)} {number}"
                ),
                "name": ACTION_FIELD,
                "value": f"remove:{path}.{index}",
                "classes": "govuk-button--secondary",
            }
        entries.append(
            {
                "legend": f"{item_title} {number}",
                # Posted even when every answer in the item is blank, so the item is not lost on add/remove.
                "marker": f"{path}.{index}._item",
                "fields": _views(f.fields, items[index] if index < len(items) else {}, prefix, messages),
                "remove": remove,
            }
        )
    add = None
    if f.max_items is None or shown < f.max_items:
        add = {
            "text": f"Add another {lower_first(item_title)}",
            "name": ACTION_FIELD,
            "value": f"add:{path}",
            "id": f"{path}-add",
            "classes": "govuk-button--secondary",
        }
    return {
        "kind": "list",
        "path": path,
        "legend": f.title,
        "hint": f.hint,
        "error": error,
        "entries": entries,
        "add": add,
    }


def _chosen_key(f: Field, value: Any) -> str | None:
    if value is None:
        return None
    key = f.key_for(value)
    # An answer that is not one of the options stays as typed, so nothing shows as chosen.
    return key if key is not None else str(value)


def _typed_text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _date_parts(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {part: str(value.get(part) or "") for part in DATE_PARTS}
    if isinstance(value, str):
        try:
            parsed = datetime.date.fromisoformat(value)
        except ValueError:
            return dict.fromkeys(DATE_PARTS, "")
        return {"day": str(parsed.day), "month": str(parsed.month), "year": str(parsed.year)}
    return dict.fromkeys(DATE_PARTS, "")


def display_text(f: Field, value: Any) -> str:
    """An answer as words, for read-only questions."""
    if value is None or value == "" or value == []:
        return _NOT_PROVIDED
    if isinstance(value, list):
        return ", ".join(display_text(f, item) for item in value)
    if isinstance(value, dict):
        return ", ".join(str(inner) for inner in value.values() if inner not in (None, ""))
    choice = next((c for c in f.choices if c.key == f.key_for(value)), None) if f.choices else None
    if choice:
        return choice.label
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if f.kind == "date" and isinstance(value, str):
        try:
            parsed = datetime.date.fromisoformat(value)
        except ValueError:
            return value
        return f"{parsed.day} {parsed:%B %Y}"
    return str(value)


def unindented(text: str) -> Markup:
    """A textarea's answer as its element's content. The radios macro indents what it reveals, which would put
    spaces at the start of each line of an answer revealed under an option (more on every error or restored
    draft); line breaks written as character references are left alone by the indenting, and the browser reads
    them as line breaks."""
    return escape(text.replace("\r\n", "\n")).replace("\n", Markup("&#10;"))
