"""Checking form data against its schema, with GOV.UK style error messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

from .memo import PerSchema
from .model import Field, count_of, field_id, form_fields, lower_first, walk

# A NUL character is no part of any answer, and PostgreSQL cannot keep one in a text column: text holding it is
# not the text a question asks for, so it is refused as an answer of the wrong kind ("Enter a valid ...").
_Validator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine(
        "string", lambda _checker, instance: isinstance(instance, str) and "\x00" not in instance
    ),
)

# A form's validator is made once for its schema (making one costs more than checking a usual answer).
_validator = PerSchema(lambda schema: _Validator(schema, format_checker=FormatChecker()))

_CHOICE_KINDS = ("radios", "select", "boolean", "checkboxes")
_CHOICE_KEYWORDS = ("enum", "const", "oneOf", "anyOf")


@dataclass(frozen=True)
class FieldError:
    path: str  # dot path of the answer, e.g. "children.0.name"
    field_id: str  # id of the input the error summary links to
    message: str


def validate(schema: dict, data: dict) -> list[FieldError]:
    """Problems with `data`, one per question (the first found), in the order the questions are shown."""
    errors = list(_validator(schema).iter_errors(data))
    if not errors:
        return []  # the usual answer: the questions are worked out only to place and word a problem
    fields = form_fields(schema)
    found: dict[str, tuple[tuple[int, ...], FieldError]] = {}
    for error in errors:
        for parts in _instance_paths(error):
            f, consumed, order = _locate(fields, parts)
            path = ".".join(str(part) for part in consumed)
            if path in found:
                continue
            if f is None:
                first = fields[0] if fields else None
                target = field_id(first, first.name) if first else ""
                found[path] = (
                    (),
                    FieldError(path, target, f"There is a problem with the answers: {error.message}"),
                )
                continue
            found[path] = (
                tuple(order),
                FieldError(path, _link(f, path, data), _message(f, error, consumed, parts)),
            )
    return [error for _, error in sorted(found.values(), key=lambda pair: pair[0])]


def _instance_paths(error: ValidationError) -> list[list[Any]]:
    """Where in the data an error belongs; a missing property belongs to that property, not its parent."""
    parts = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        return [[*parts, name] for name in missing]
    return [parts]


def _locate(fields: list[Field], parts: list[Any]) -> tuple[Field | None, list[Any], list[int]]:
    """The deepest question a data path reaches, the part of the path naming it, and its display order."""
    current = fields
    found: Field | None = None
    consumed: list[Any] = []
    order: list[int] = []
    index = 0
    while index < len(parts) and isinstance(parts[index], str):
        ordered = list(walk(current))
        position = next((n for n, candidate in enumerate(ordered) if candidate.name == parts[index]), None)
        if position is None:
            break
        found = ordered[position]
        consumed.append(parts[index])
        order.append(position)
        index += 1
        if found.readonly or found.kind not in ("object", "list"):
            break
        if found.kind == "list":
            if index == len(parts) or not isinstance(parts[index], int):
                break
            consumed.append(parts[index])
            order.append(parts[index])
            index += 1
        current = found.fields
    if consumed and isinstance(consumed[-1], int):
        # A problem with a whole list item, or with something in it no question asks: show it on the list.
        consumed.pop()
        order.pop()
    return found, consumed, order


def _link(f: Field, path: str, data: dict) -> str:
    if f.kind == "list" and f.min_items == 0 and not _value_at(data, path):
        # No blank items are shown for such a list, so there is no first input to link to.
        return f"{path}-add"
    return field_id(f, path)


def _value_at(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _message(f: Field, error: ValidationError, consumed: list[Any], parts: list[Any]) -> str:
    keyword = str(error.validator)
    if len(parts) > len(consumed):
        # The problem is inside the answer (one checkbox value, say), which the user sees as a whole.
        keyword = "enum" if f.kind == "checkboxes" else "invalid"
    if f.kind == "date" and keyword in ("type", "format"):
        keyword = "format"
    custom = f.schema.get("x-error-messages")
    if isinstance(custom, dict) and isinstance(custom.get(keyword), str):
        return custom[keyword]
    return _default_message(f, keyword, error.validator_value)


def _default_message(f: Field, keyword: str, limit: Any) -> str:
    title = f.title
    if title.rstrip().endswith("?"):
        # "Select how did the contact arrive?" is not English; quote a question instead of rewording it.
        subject, what, named = f'The answer to "{title}"', f'an answer to "{title}"', f'"{title}"'
    else:
        subject, what, named = title, lower_first(title), lower_first(title)
    item = lower_first(f.item_title)
    is_choice = f.kind in _CHOICE_KINDS
    if keyword == "required":
        if f.kind == "list":
            return f"Add at least {count_of(max(f.min_items, 1), item)}"
        return f"Select {what}" if is_choice else f"Enter {what}"
    if keyword == "format" and f.kind == "date":
        return f"{subject} must be a real date"
    if keyword in _CHOICE_KEYWORDS or (keyword == "type" and is_choice):
        return f"Select one of the options for {named}"
    if keyword == "type" and f.kind == "integer":
        return f"{subject} must be a whole number"
    if keyword == "type" and f.kind == "number":
        return f"{subject} must be a number"
    if keyword == "minLength":
        return f"{subject} must be at least {limit} characters"
    if keyword == "maxLength":
        return f"{subject} must be {limit} characters or fewer"
    if keyword == "minItems" and f.kind == "list":
        return f"Add at least {count_of(limit, item)}"
    if keyword == "maxItems" and f.kind == "list":
        return f"You can add up to {count_of(limit, item)}"
    if keyword == "minItems":
        return f"Select {what}" if limit == 1 else f"Select at least {limit} options for {named}"
    if keyword == "maxItems":
        return f"Select no more than {limit} options for {named}"
    if keyword == "minimum":
        return f"{subject} must be {limit} or more"
    if keyword == "maximum":
        return f"{subject} must be {limit} or less"
    if keyword == "exclusiveMinimum":
        return f"{subject} must be more than {limit}"
    if keyword == "exclusiveMaximum":
        return f"{subject} must be less than {limit}"
    if keyword == "pattern":
        return f"Enter {what} in the correct format"
    if f.kind in ("object", "list"):
        return f"Check {named}"
    return f"Select one of the options for {named}" if is_choice else f"Enter a valid {what}"


def undeclared(schema: dict, data: dict) -> list[FieldError]:
    """Answers to questions the form does not ask. A page only ever sends the form's own questions, but a
    caller of the API could send anything, and an answer is written into the case's workflow data: an extra key
    could reset a loop's counter or set an outcome no one decided."""
    found: list[FieldError] = []

    def check(fields: list[Field], values: dict, prefix: str) -> None:
        known = {f.name: f for f in walk(fields)}
        for key, value in values.items():
            path = f"{prefix}{key}"
            asked = known.get(key) if isinstance(key, str) else None
            if asked is None:
                found.append(FieldError(path=path, field_id=path, message=f"The form has no question called {key!r}"))
            elif asked.kind == "object" and isinstance(value, dict):
                check(asked.fields, value, f"{path}.")
            elif asked.kind == "list" and isinstance(value, list):
                for n, item in enumerate(value):
                    if isinstance(item, dict):
                        check(asked.fields, item, f"{path}.{n}.")

    check(form_fields(schema), data, "")
    return found
