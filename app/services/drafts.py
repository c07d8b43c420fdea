"""Drafts: each person's unsent answers to a form, saved as they type so a long call survives a time-out or a
closed tab (DESIGN.md rule 5).

A draft is read back into its form and nowhere else: the engine never reads one, nothing is validated on
the way in (half-typed answers are the point), and no audit event is written for a save, since a draft is a
working copy and the record is what the person finally sends. Its contents are never logged either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict

from app import policy, schemaforms
from app.extensions import db
from app.models import Draft, Task, User
from app.models.types import utcnow
from app.schemaforms.model import object_fields, walk
from app.services.errors import Forbidden, NotSaved, ServiceError

# A page of answers is a few kilobytes; a draft two orders of magnitude beyond that is not someone typing.
MAX_BYTES = 200 * 1024
# An older draft is not offered back: by then the call it came from has been dealt with some other way.
KEEP_FOR = timedelta(days=30)
NEW_CONTACT = "contact:new"


class DraftTooLarge(ServiceError):
    def __str__(self) -> str:
        return f"This draft is too large to save (over {MAX_BYTES // 1024} KB). Your answers are still on the page."


class DraftClosed(ServiceError):
    """The page saving the draft has already sent its form, so its answers are on the record, not a draft."""

    def __str__(self) -> str:
        return "This form has been sent, so its draft is no longer kept."


@dataclass(frozen=True)
class Target:
    """Which form a draft belongs to, with the schema that reads its fields."""

    kind: str  # task, contact
    key: str
    form_id: str
    schema: dict[str, Any]
    task_id: str | None = None


def task_target(user: User, task_id: str) -> Target:
    """A ready task's form, only for someone who may act on the task (raises as opening the task does)."""
    from app.services import workflow

    row, bundle = workflow.open_task(user, task_id)
    return target_for_task(row, bundle.form(row.form_id) or {"type": "object", "properties": {}})


def target_for_task(row: Task, schema: dict[str, Any]) -> Target:
    """The draft target of a task the caller has already opened (and so checked) with its form."""
    return Target("task", task_key(row.id), row.form_id or "", schema, task_id=row.id)


def contact_target(user: User, reopens: int | None = None) -> Target:
    """The start form of a new contact (or of one re-opening a closed contact), for those who record contacts."""
    from app.services import contacts, workflow

    if not policy.can_record_contact(user):
        raise Forbidden("Only call handlers, coordinators and senior social workers record contacts.")
    _row, bundle, schema = contacts.start_form()
    return Target("contact", contact_key(reopens), workflow.first_task(bundle).form_id or "", schema)


def save(user: User, target: Target, form: MultiDict, page_id: str | None = None) -> Draft:
    """Keep the form's fields as they stand, replacing the user's earlier draft of the same form."""
    data = schemaforms.parse_submission(target.schema, form)
    if len(json.dumps(data).encode("utf-8")) > MAX_BYTES:
        raise DraftTooLarge()
    now = utcnow()
    for _attempt in range(2):
        row = _row(user, target.key)
        if row is not None and row.data is None and page_id and row.page_id == page_id:
            raise DraftClosed()
        if row is None:
            row = Draft(user_id=user.id, key=target.key, kind=target.kind, task_id=target.task_id)
            db.session.add(row)
        row.form_id, row.data, row.page_id, row.saved_at = target.form_id, data, page_id, now
        _forget_old(user, now)
        try:
            db.session.commit()
            return row
        except IntegrityError:
            # The same person's other tab made the row a moment ago: replace it instead.
            db.session.rollback()
    raise NotSaved("Your draft could not be saved just now; it will be tried again.")


def read(user: User, target: Target) -> Draft | None:
    """The user's own draft of this form, when there is one worth offering back."""
    row = _row(user, target.key)
    if row is None or row.data is None or row.form_id != target.form_id:
        return None
    return row if row.saved_at >= utcnow() - KEEP_FOR else None


def restored(target: Target, draft: Draft, current: dict[str, Any]) -> dict[str, Any]:
    """The data to fill the form with: the draft's answers, with the read-only ones (never posted, so never in
    a draft) taken from the data the task holds now."""
    assert draft.data is not None
    data = dict(draft.data)
    for f in walk(object_fields(target.schema)):
        if f.readonly and f.name in current:
            data[f.name] = current[f.name]
    return data


def discard(user: User, key: str, page_id: str | None = None) -> None:
    """Drop the user's draft of a form. Given the page that sent the form, remember that page instead, so a
    save it had already started cannot bring the sent answers back as a draft."""
    row = _row(user, key)
    if page_id:
        if row is None:
            row = Draft(user_id=user.id, key=key, kind=key.partition(":")[0], form_id="")
            db.session.add(row)
        row.data, row.page_id, row.saved_at = None, page_id, utcnow()
    elif row is not None:
        db.session.delete(row)
    else:
        return  # nothing to drop: no second commit on the way back from completing a task
    try:
        db.session.commit()
    except IntegrityError:
        # Made by the user's other tab at the same moment; the sent form is on the record either way.
        db.session.rollback()


def task_key(task_id: str) -> str:
    return f"task:{task_id}"


def contact_key(reopens: int | None) -> str:
    return NEW_CONTACT if reopens is None else f"contact:reopen:{reopens}"


def _row(user: User, key: str) -> Draft | None:
    return db.session.scalar(select(Draft).where(Draft.user_id == user.id, Draft.key == key))


def _forget_old(user: User, now: datetime) -> None:
    """Drop the user's drafts nobody will be offered again: too old, or of a task no longer waiting."""
    gone_tasks = Draft.task_id.is_not(None) & Draft.task_id.not_in(select(Task.id))
    db.session.execute(
        delete(Draft)
        .where(Draft.user_id == user.id, (Draft.saved_at < now - KEEP_FOR) | gone_tasks)
        .execution_options(synchronize_session=False)
    )
