"""Turning a posted HTML form into JSON data, and the "add another" list actions."""

from __future__ import annotations

import copy
import datetime
import re
from typing import Any

from werkzeug.datastructures import MultiDict

from .model import Field, form_fields, same_value, walk

ACTION_FIELD = "_action"
DATE_PARTS = ("day", "month", "year")

_ABSENT = object()
# int() refuses a number thousands of digits long: one longer than any answer could be is kept as typed, so
# validation says it is not a whole number.
_WHOLE_NUMBER = re.compile(r"[+-]?\d{1,300}")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
# A list item's number as the pages write it: the digits 0 to 9 only (\d and isdigit() also take "٣" and "²"),
# and few of them, since int() refuses a number thousands of digits long and no list holds a million items.
_ITEM_NUMBER = "[0-9]{1,6}"


def posted_action(form: MultiDict) -> str | None:
    """The add/remove action a post asks for, or None when the post is a submit."""
    action = form.get(ACTION_FIELD, "")
    verb, _, target = action.partition(":")
    return action if verb in ("add", "remove") and target else None


def parse_submission(schema: dict, form: MultiDict, existing: dict | None = None) -> dict:
    """The JSON data a post describes.

    Answers that are not valid are kept as typed (integers as strings, dates as
    {"day", "month", "year"}) so validation can report them and the form can show them again.
    readOnly values come only from `existing`. On an add/remove post, blank list items are kept so
    that item numbers still match the ones on the page the user was looking at.
    """
    keep_blank_items = posted_action(form) is not None
    return _parse_object(form_fields(schema), form, "", existing or {}, keep_blank_items, in_list=False)


def _parse_object(
    fields: list[Field], form: MultiDict, prefix: str, existing: Any, keep_blank: bool, in_list: bool
) -> dict:
    existing = existing if isinstance(existing, dict) else {}
    result: dict[str, Any] = {}
    for f in walk(fields):
        if f.readonly:
            # Inside a list, items move when others are removed, so a stored value could land on the
            # wrong item; check_form_schema rejects readOnly there instead.
            if not in_list and f.name in existing:
                result[f.name] = copy.deepcopy(existing[f.name])
            continue
        value = _parse_field(f, form, prefix + f.name, existing.get(f.name), keep_blank)
        if value is not _ABSENT:
            result[f.name] = value
    for f in walk(fields):
        # An answer under an option that is no longer chosen was hidden from the user: drop it.
        if f.shown_when and not same_value(result.get(f.shown_when[0], _ABSENT), f.shown_when[1]):
            result.pop(f.name, None)
    return result


def _parse_field(f: Field, form: MultiDict, path: str, existing: Any, keep_blank: bool) -> Any:
    if f.kind == "object":
        inner = _parse_object(f.fields, form, path + ".", existing, keep_blank, in_list=False)
        return inner if inner or f.required else _ABSENT
    if f.kind == "list":
        return _parse_list(f, form, path, keep_blank)
    if f.kind == "checkboxes":
        picked = [_choice_value(f, raw) for raw in form.getlist(path) if raw != ""]
        return picked or _ABSENT
    if f.kind == "date":
        return _parse_date(form, path)
    raw = form.get(path)
    if raw is None or raw.strip() == "":
        return _ABSENT
    if f.kind in ("radios", "select", "boolean"):
        return _choice_value(f, raw)
    if f.kind == "integer":
        return int(raw.strip()) if _WHOLE_NUMBER.fullmatch(raw.strip()) else raw
    if f.kind == "number":
        text = raw.strip()
        if not _NUMBER.fullmatch(text):
            return raw
        return int(text) if _WHOLE_NUMBER.fullmatch(text) else float(text)
    # Browsers send textarea line breaks as CRLF.
    return raw.replace("\r\n", "\n").strip()


def _choice_value(f: Field, raw: str) -> Any:
    choice = f.choice_for_key(raw)
    # A value that is not one of the options is kept so validation can say so.
    return choice.value if choice else raw


def _parse_list(f: Field, form: MultiDict, path: str, keep_blank: bool) -> list[dict]:
    pattern = re.compile(re.escape(path) + rf"\.({_ITEM_NUMBER})\.")
    indexes = sorted({int(m.group(1)) for name in form if (m := pattern.match(name))})
    items = []
    for index in indexes:
        item = _parse_object(f.fields, form, f"{path}.{index}.", None, keep_blank, in_list=True)
        if keep_blank or _has_answer(item):
            items.append(item)
    return items


def _has_answer(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_answer(inner) for inner in value.values())
    if isinstance(value, list):
        return any(_has_answer(inner) for inner in value)
    return True


def _parse_date(form: MultiDict, path: str) -> Any:
    typed = {part: form.get(f"{path}-{part}", "") for part in DATE_PARTS}
    stripped = {part: text.strip() for part, text in typed.items()}
    if not any(stripped.values()):
        return _ABSENT
    if all(text.isdigit() for text in stripped.values()) and len(stripped["year"]) == 4:
        try:
            year, month, day = (int(stripped[part]) for part in ("year", "month", "day"))
            return datetime.date(year, month, day).isoformat()
        except ValueError:
            pass
    # Not a string, so validation reports it as not a real date; the view shows the parts again.
    return typed


def apply_action(schema: dict, data: dict, action: str) -> dict:
    """A copy of `data` with an "add another" action applied: `add:children` or `remove:children.1`.

    Actions name lists the schema defines; anything else (a forged or stale action) changes nothing.
    """
    result = copy.deepcopy(data)
    verb, _, target = action.partition(":")
    parts = target.split(".") if target else []
    index = None
    if verb == "remove":
        if len(parts) < 2 or not re.fullmatch(_ITEM_NUMBER, parts[-1]):
            return result
        parts, index = parts[:-1], int(parts[-1])
    elif verb != "add":
        return result
    found = _find_list(form_fields(schema), result, parts)
    if found is None:
        return result
    f, items = found
    if index is None:
        if f.max_items is None or len(items) < f.max_items:
            items.append({})
    elif 0 <= index < len(items):
        del items[index]
    return result


def _find_list(fields: list[Field], data: dict, parts: list[str]) -> tuple[Field, list] | None:
    """The list field a dotted path names and its items in `data`, creating empty containers on the way."""
    if not parts:
        return None
    name, rest = parts[0], parts[1:]
    f = next((candidate for candidate in walk(fields) if candidate.name == name), None)
    if f is None or f.readonly:
        return None
    if f.kind == "object":
        inner = data.setdefault(name, {})
        return _find_list(f.fields, inner, rest) if isinstance(inner, dict) else None
    if f.kind != "list":
        return None
    items = data.setdefault(name, [])
    if not isinstance(items, list):
        return None
    if not rest:
        return f, items
    if (
        not re.fullmatch(_ITEM_NUMBER, rest[0])
        or int(rest[0]) >= len(items)
        or not isinstance(items[int(rest[0])], dict)
    ):
        return None
    return _find_list(f.fields, items[int(rest[0])], rest[1:])
