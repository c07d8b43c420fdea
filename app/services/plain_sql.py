"""Plain statements on tables, run in the session's transaction on its own connection.

For the writes every completion makes that need nothing of the ORM: no object is loaded or kept, and nothing
the session holds need be flushed first (the commit writes that). Run through the session instead, each
statement costs about twice as much, most of it the ORM's preparations for objects there are none of.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Executable
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from app.extensions import db

Rows = CursorResult[*tuple[Any, ...]]


def run(statement: Executable, params: Any = None, session: Session | None = None) -> Rows:
    return (session or db.session).connection().execute(statement, params)
