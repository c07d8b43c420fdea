"""How a form schema maps onto the questions shown on a page.

Parsing, validation and rendering all need the same answers to "which questions are there, in what
order, of what kind, and which are revealed under a radio option", so they are worked out here once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .memo import PerSchema

WIDGETS = ("checkboxes", "date", "radios", "select", "textarea")

_IRREGULAR_PLURALS = {"child": "children", "person": "people"}


@dataclass(eq=False)
class Choice:
    value: Any
    label: str
    hint: str | None
    key: str  # the value attribute posted by the browser


@dataclass(eq=False)
class Field:
    name: str
    schema: dict
    kind: str  # text, textarea, integer, number, radios, select, checkboxes, date, boolean, object, list
    required: bool = False
    readonly: bool = False
    fields: list[Field] = field(default_factory=list)  # an object's questions, or a list item's
    choices: list[Choice] = field(default_factory=list)
    reveals: dict[str, list[Field]] = field(default_factory=dict)  # choice key -> questions revealed
    shown_when: tuple[str, Any] | None = None  # (sibling name, value) for a revealed question

    @property
    def title(self) -> str:
        return self.schema.get("title") or self.name

    @property
    def hint(self) -> str | None:
        return self.schema.get("description") or None

    @property
    def item_title(self) -> str:
        items = self.schema.get("items")
        return (items.get("title") if isinstance(items, dict) else None) or "Item"

    @property
    def min_items(self) -> int:
        return int(self.schema.get("minItems") or 0)

    @property
    def max_items(self) -> int | None:
        value = self.schema.get("maxItems")
        return None if value is None else int(value)

    def choice_for_key(self, key: str) -> Choice | None:
        return next((choice for choice in self.choices if choice.key == key), None)

    def key_for(self, value: Any) -> str | None:
        """The posted key for a stored value, or None when the value is not one of the choices."""
        return next((choice.key for choice in self.choices if same_value(choice.value, value)), None)


def as_dict(value: Any) -> dict:
    """`value` if it is an object, else an empty one: schemas and posts are checked, not trusted."""
    return value if isinstance(value, dict) else {}


def same_value(a: Any, b: Any) -> bool:
    # True == 1 in Python, but a "yes" answer must never match an integer choice of 1.
    return type(a) is type(b) and a == b


def json_type(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return None
    declared = schema.get("type")
    if isinstance(declared, list):
        declared = next((t for t in declared if t != "null"), None)
    if isinstance(declared, str):
        return declared
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    values = [choice.value for choice in choices_of(schema)]
    if values and all(isinstance(v, bool) for v in values):
        return "boolean"
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "integer"
    if values:
        return "string"
    return None


def choices_of(schema: Any) -> list[Choice]:
    """The labelled choices of a schema: `oneOf`/`anyOf` of `const`s, or a plain `enum`."""
    if not isinstance(schema, dict):
        return []
    for keyword in ("oneOf", "anyOf"):
        options = schema.get(keyword)
        labelled = isinstance(options, list) and all(isinstance(o, dict) and "const" in o for o in options)
        if options and labelled:
            return [
                Choice(o["const"], str(o.get("title") or o["const"]), o.get("description"), _key(o["const"]))
                for o in options
            ]
    enum = schema.get("enum")
    if isinstance(enum, list):
        return [Choice(value, str(value), None, _key(value)) for value in enum]
    return []


def _key(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def kind_of(schema: dict) -> str:
    widget = schema.get("x-widget")
    declared = json_type(schema)
    if declared == "object":
        return "object"
    if declared == "array":
        items = schema.get("items")
        if json_type(items) == "object" and isinstance(items, dict) and items.get("properties"):
            return "list"
        return "checkboxes"
    if declared == "boolean":
        return "boolean"
    has_choices = bool(choices_of(schema))
    if widget == "date" or (declared == "string" and schema.get("format") == "date" and widget is None):
        return "date"
    if widget == "textarea":
        return "textarea"
    if widget in ("radios", "select") and has_choices:
        return widget
    if has_choices:
        return "radios"
    if declared in ("integer", "number"):
        return declared
    return "text"


def make_field(name: str, schema: dict, required: bool = False) -> Field:
    kind = kind_of(schema)
    readonly = schema.get("readOnly") is True
    made = Field(name=name, schema=schema, kind=kind, required=required, readonly=readonly)
    if kind == "object":
        made.fields = object_fields(schema)
    elif kind == "list":
        made.fields = object_fields(schema["items"])
    elif kind == "checkboxes":
        made.choices = choices_of(schema.get("items"))
    elif kind == "boolean":
        made.choices = [Choice(True, "Yes", None, "yes"), Choice(False, "No", None, "no")]
    else:
        made.choices = choices_of(schema)
    return made


def condition_blocks(schema: dict) -> list[dict]:
    """The `if`/`then` pairs of an object schema: its own, and those in `allOf` (a schema has one `if`)."""
    blocks = [schema] if isinstance(schema.get("if"), dict) else []
    for sub in schema.get("allOf") or []:
        if isinstance(sub, dict) and isinstance(sub.get("if"), dict):
            blocks.append(sub)
    return blocks


def trigger_of(condition: dict) -> tuple[str, Any] | None:
    """The (property, value) an `if` tests, when it tests exactly one property for one value."""
    properties = condition.get("properties")
    if not isinstance(properties, dict) or len(properties) != 1:
        return None
    ((name, test),) = properties.items()
    if not isinstance(test, dict):
        return None
    if "const" in test:
        return name, test["const"]
    enum = test.get("enum")
    if isinstance(enum, list) and len(enum) == 1:
        return name, enum[0]
    return None


@dataclass
class _Conditional:
    trigger: tuple[str, Any] | None
    schema: dict
    ambiguous: bool = False


def _conditionals(schema: dict, always_required: set[str]) -> dict[str, _Conditional]:
    found: dict[str, _Conditional] = {}
    for block in condition_blocks(schema):
        then = as_dict(block.get("then"))
        then_properties = as_dict(then.get("properties"))
        names = [*(then.get("required") or []), *then_properties]
        trigger = trigger_of(block["if"])
        for name in dict.fromkeys(names):
            if name in always_required:
                continue
            extra = as_dict(then_properties.get(name))
            if name in found:
                # Needed by two conditions: there is no one option to reveal it under.
                found[name].ambiguous = True
                found[name].schema = {**extra, **found[name].schema}
            else:
                found[name] = _Conditional(trigger, extra)
    return found


def object_fields(schema: dict) -> list[Field]:
    """The questions of an object schema in display order; revealed questions move under their option."""
    properties = as_dict(schema.get("properties"))
    required = {name for name in schema.get("required") or [] if isinstance(name, str)}
    conditionals = _conditionals(schema, required)

    def build(name: str, base: Any) -> Field:
        extra = conditionals[name].schema if name in conditionals else {}
        return make_field(name, {**as_dict(base), **extra}, name in required)

    # Questions that exist only inside a `then` go straight after the question that triggers them.
    then_only: dict[str | None, list[str]] = {}
    for name, conditional in conditionals.items():
        if name not in properties:
            anchor = conditional.trigger[0] if conditional.trigger else None
            then_only.setdefault(anchor if anchor in properties else None, []).append(name)

    ordered: list[Field] = []
    for name, sub in properties.items():
        ordered.append(build(name, sub))
        ordered.extend(build(extra_name, {}) for extra_name in then_only.get(name, []))
    ordered.extend(build(extra_name, {}) for extra_name in then_only.get(None, []))

    by_name = {f.name: f for f in ordered}
    shown: list[Field] = []
    for f in ordered:
        known = conditionals.get(f.name)
        trigger = by_name.get(known.trigger[0]) if known and known.trigger else None
        if known and known.trigger and trigger and not known.ambiguous:
            key = trigger.key_for(known.trigger[1])
            # One level of reveals only (as GOV.UK advises), which also rules out a question revealed
            # under itself or two questions revealed under each other.
            one_level = trigger is not f and trigger.shown_when is None and not f.reveals
            revealable = trigger.kind in ("radios", "boolean") and not trigger.readonly
            if revealable and key is not None and one_level:
                trigger.reveals.setdefault(key, []).append(f)
                f.shown_when = known.trigger
                continue
        shown.append(f)
    return shown


def walk(fields: list[Field]) -> Iterator[Field]:
    """Every question at this level in display order, revealed questions straight after their radios."""
    for f in fields:
        yield f
        for choice in f.choices:
            yield from walk(f.reveals.get(choice.key, []))


def lower_first(text: str) -> str:
    # Leave acronyms alone: "GP name" must not become "gP name".
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def count_of(count: int, noun: str) -> str:
    if count == 1:
        return f"1 {noun}"
    head, _, last = noun.rpartition(" ")
    if last in _IRREGULAR_PLURALS:
        plural = _IRREGULAR_PLURALS[last]
    elif last.endswith("y") and last[-2:-1] not in ("a", "e", "i", "o", "u"):
        plural = last[:-1] + "ies"
    elif last.endswith(("s", "x", "ch", "sh")):
        plural = last + "es"
    else:
        plural = last + "s"
    return f"{count} {head + ' ' if head else ''}{plural}"


def field_id(f: Field, path: str) -> str:
    """The id of the first input of a question: where the error summary should take the user."""
    if f.kind == "date":
        return f"{path}-day"
    if f.kind == "object":
        first = next((inner for inner in f.fields if not inner.readonly), None)
        return field_id(first, f"{path}.{first.name}") if first else path
    if f.kind == "list" and not f.readonly:
        first = next((inner for inner in f.fields if not inner.readonly), None)
        return field_id(first, f"{path}.0.{first.name}") if first else f"{path}-add"
    return path


# The questions of a whole form, built once for its schema: every post of it parses, checks and may show them,
# and a Field is never changed once built.
form_fields: Callable[[dict], list[Field]] = PerSchema(object_fields)
