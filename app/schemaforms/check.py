"""Finding problems in a form schema before it is deployed, rather than when someone opens the form."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from .model import WIDGETS, as_dict, choices_of, condition_blocks, json_type, kind_of

_DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
# A list's form draws `minItems` empty items at once: more than this and the task page could not be drawn.
MOST_ITEMS_SHOWN = 50


def check_form_schema(schema: Any) -> list[str]:
    """Problems with a form schema, in plain English; an empty list means it can be deployed."""
    if not isinstance(schema, dict):
        return ["The form must be a JSON Schema object"]
    problems = []
    declared = schema.get("$schema")
    if declared is not None and str(declared).rstrip("#") != _DRAFT_2020_12:
        problems.append(
            f'The form says it uses {declared}, but forms must use JSON Schema 2020-12 ("{_DRAFT_2020_12}")'
        )
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    for error in sorted(meta.iter_errors(schema), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(part) for part in error.absolute_path) or "the top level"
        problems.append(f"The form is not valid JSON Schema 2020-12 at {where}: {error.message}")
    if json_type(schema) != "object" or not as_dict(schema.get("properties")):
        problems.append('The form must be an object with "type": "object" and some "properties"')
        return problems
    _check_object(schema, "", problems, in_list=False)
    return problems


def _check_object(schema: dict, prefix: str, problems: list[str], in_list: bool) -> None:
    properties = as_dict(schema.get("properties"))
    for name, sub in properties.items():
        _check_property(prefix + name, sub, problems, in_list)
    known = set(properties)
    needed = list(schema.get("required") or [])
    for block in condition_blocks(schema):
        then = as_dict(block.get("then"))
        then_properties = as_dict(then.get("properties"))
        for name, sub in then_properties.items():
            if name not in known:
                known.add(name)
                _check_property(prefix + name, sub, problems, in_list)
        needed.extend(then.get("required") or [])
        condition = block["if"]
        tested = as_dict(condition.get("properties"))
        for name in tested:
            if name not in (condition.get("required") or []):
                problems.append(
                    f"The condition on '{prefix}{name}' must also list it in the \"if\" schema's "
                    '"required"; otherwise the condition is met when the question has no answer'
                )
    for name in dict.fromkeys(needed):
        if name not in known:
            problems.append(f"'{prefix}{name}' is required but there is no property for it")


def _check_property(path: str, schema: Any, problems: list[str], in_list: bool) -> None:
    if not isinstance(schema, dict):
        problems.append(f"Property '{path}' must be a schema object with a title")
        return
    if not schema.get("title"):
        problems.append(f"Property '{path}' has no title")
    declared = json_type(schema)
    widget = schema.get("x-widget")
    if widget is not None:
        _check_widget(path, widget, schema, declared, problems)
    messages = schema.get("x-error-messages")
    if messages is not None and not (
        isinstance(messages, dict) and all(isinstance(text, str) for text in messages.values())
    ):
        problems.append(f"Property '{path}' has x-error-messages that is not an object of keyword to message")
    if schema.get("readOnly") is True:
        if in_list:
            problems.append(
                f"Property '{path}' is readOnly inside a list; items can be added and removed, "
                "so a stored value could end up on the wrong item"
            )
        return
    kind = kind_of(schema)
    if kind == "object":
        _check_object(schema, path + ".", problems, in_list)
    elif kind == "list":
        shown = schema.get("minItems")
        if isinstance(shown, int) and shown > MOST_ITEMS_SHOWN:
            problems.append(
                f"The list '{path}' may start with at most {MOST_ITEMS_SHOWN} items (minItems), not {shown}"
            )
        _check_object(schema["items"], path + ".", problems, in_list=True)
    elif kind == "checkboxes" and widget != "checkboxes" and not choices_of(schema.get("items")):
        problems.append(f"Property '{path}' is a list that is neither a list of objects nor a set of choices")


def _check_widget(path: str, widget: Any, schema: dict, declared: str | None, problems: list[str]) -> None:
    if widget not in WIDGETS:
        known = ", ".join(WIDGETS)
        problems.append(f"Property '{path}' has an unknown x-widget '{widget}'; use one of: {known}")
    elif widget == "checkboxes":
        items = schema.get("items")
        item_values = [choice.value for choice in choices_of(items)]
        if declared != "array" or not item_values or not all(isinstance(v, str) for v in item_values):
            problems.append(
                f"Property '{path}' uses x-widget 'checkboxes', which needs an array whose items are a list "
                "of text choices (enum, or oneOf with const)"
            )
    elif widget == "date" and declared != "string":
        problems.append(f"Property '{path}' uses x-widget 'date', which needs \"type\": \"string\"")
    elif widget == "textarea" and declared != "string":
        problems.append(f"Property '{path}' uses x-widget 'textarea', which needs \"type\": \"string\"")
    elif widget in ("radios", "select") and declared != "boolean" and not choices_of(schema):
        problems.append(f"Property '{path}' uses x-widget '{widget}', which needs choices (enum, or oneOf)")
    elif widget == "select" and declared == "boolean":
        problems.append(
            f"Property '{path}' uses x-widget 'select' on a boolean, which is always shown as Yes/No radios"
        )
