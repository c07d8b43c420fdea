"""The case timeline: what each completed step recorded, in the words of its form."""

from typing import Any

from sqlalchemy import insert

from app.extensions import db
from app.models import Case, CaseEvent, User
from app.services import plain_sql


def summarize(schema: dict[str, Any] | None, data: dict[str, Any]) -> list[list[str]]:
    """[label, value] rows for the answers a form collected, in form order, choices by their titles."""
    if not schema:
        return []
    rows: list[list[str]] = []
    for name, prop in schema.get("properties", {}).items():
        if name not in data or prop.get("readOnly"):
            continue
        value = data[name]
        if prop.get("type") == "array" and isinstance(value, list) and prop.get("items", {}).get("type") == "object":
            item_title = prop["items"].get("title", "Item")
            names = [_item_name(v) for v in value if isinstance(v, dict)]
            summary = f"{len(value)} × {item_title.lower()}: " + ", ".join(names) if names else "None recorded"
            rows.append([prop.get("title", name), summary])
        elif isinstance(value, dict):
            rows.extend(summarize(prop, value))
        else:
            rows.append([prop.get("title", name), display(prop, value)])
    return rows


def _item_name(item: dict[str, Any]) -> str:
    """What names one item of a list: its name, or else its first answer in words (an agency, say)."""
    if item.get("name"):
        return str(item["name"])
    return next((str(v) for v in item.values() if isinstance(v, str) and v.strip()), "")


def display(prop: dict[str, Any], value: Any) -> str:
    choices = {c.get("const"): c.get("title") for c in prop.get("oneOf", []) if "const" in c}
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(display(prop.get("items", {}), v) for v in value)
    return str(choices.get(value, value))


TITLE_LENGTH = 200  # CaseEvent.title


def add(
    case_id: int,
    user_id: int | None,
    title: str,
    detail: list[list[str]] | None = None,
    note: str | None = None,
    flow: str | None = None,
) -> None:
    if len(title) > TITLE_LENGTH:
        # A task's title names every child it is about; a long list of names is cut, never refused.
        title = title[: TITLE_LENGTH - 1] + "…"
    # Written at once as a plain row, in the caller's transaction: nothing reads an entry back as an object
    # before the commit, and an entry is not worth a flush of everything else waiting to be written. Only a
    # case or user not yet written (whom the row names) is written first.
    if any(isinstance(row, Case | User) for row in db.session.new):
        db.session.flush()
    entry = dict(case_id=case_id, user_id=user_id, title=title, detail=detail or [], note=note, flow=flow)
    plain_sql.run(_ADD, entry)


_ADD = insert(CaseEvent.__table__)
