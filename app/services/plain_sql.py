"""Plain statements on tables, run in the session's transaction on its own connection.

For the writes every completion makes that need nothing of the ORM: no object is loaded or kept, and nothing
the session holds need be flushed first (the commit writes that). Run through the session instead, each
statement costs about twice as much, most of it the ORM's preparations for objects there are none of.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Executable, Table, bindparam, inspect, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.extensions import db
from app.services import figures_days

Rows = CursorResult[*tuple[Any, ...]]


def run(statement: Executable, params: Any = None, session: Session | None = None) -> Rows:
    return (session or db.session).connection().execute(statement, params)


def update_row(row: Any, values: dict[str, Any]) -> None:
    """Set columns of a row the session holds, written at once by one UPDATE on its primary key rather than by
    the session's flush at the commit (which, for a row or two, costs several times the statement). The object
    then holds the values as written, with nothing left for the flush to write again; the figures are told of
    the change, as a flush would tell them. A row not yet written simply gets the values, for its insert."""
    state = inspect(row)
    if not state.persistent:
        for name, value in values.items():
            setattr(row, name, value)
        return
    mapper = state.mapper
    if mapper.version_id_col is not None:
        raise ValueError(f"{mapper.class_.__name__} is versioned: its rows are written by the session's flush")
    (key,) = state.identity
    before = {name: _committed(state, name) for name in values}
    params = {"row_key": key, **{f"new_{name}": value for name, value in values.items()}}
    run(_update_statement(mapper.local_table, tuple(values)), params)
    for name, value in values.items():
        set_committed_value(row, name, value)
    figures_days.note_written(db.session(), row, before)


def _committed(state: Any, name: str) -> Any:
    """The column's value as the database holds it (before any change not yet flushed)."""
    history = state.attrs[name].history
    held = history.deleted or history.unchanged
    return held[0] if held else None


_UPDATES: dict[tuple[Table, tuple[str, ...]], Executable] = {}


def _update_statement(table: Table, names: tuple[str, ...]) -> Executable:
    """Made once for each table and set of columns: building a statement costs about as much as running it."""
    statement = _UPDATES.get((table, names))
    if statement is None:
        (key,) = table.primary_key.columns
        statement = update(table).where(key == bindparam("row_key")).values({n: bindparam(f"new_{n}") for n in names})
        _UPDATES[(table, names)] = statement
    return statement
