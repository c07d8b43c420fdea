"""Saving drafts as people type, and what a form page needs to offer its draft back.

The script (static_own/compass-drafts.js) posts the form's own fields here every few seconds and when the
page is left; the answers are JSON, since nobody sees them but the script. A form works without it.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, jsonify, redirect, request, url_for
from flask_login import current_user, login_required

from app import policy
from app.models import Case, Task, User
from app.services import drafts
from app.services.drafts import DraftClosed, DraftTooLarge, Target
from app.services.errors import Forbidden, NotFound, NotSaved, TaskConflict

bp = Blueprint("drafts", __name__)

LONDON = ZoneInfo("Europe/London")
# What the script sends in `_draft`: the form a draft belongs to.
_TASK = re.compile(r"task:([0-9a-fA-F-]{1,36})")
# The form's fields travel with some overhead (multipart boundaries, field names); beyond this, refuse unread.
_MAX_REQUEST = 2 * drafts.MAX_BYTES


@bp.route("/drafts", methods=["POST"])
@login_required
@policy.declare("can_act_on_task or can_record_contact")
def save() -> Any:
    if (request.content_length or 0) > _MAX_REQUEST:
        return _answer(413, str(DraftTooLarge()))
    try:
        target = _target(current_user)
        row = drafts.save(current_user, target, request.form, request.form.get("_draft_page") or None)
    except DraftTooLarge as err:
        return _answer(413, str(err))
    except (DraftClosed, TaskConflict, NotSaved) as err:
        return _answer(409, str(err))
    except Forbidden as err:
        return _answer(403, str(err))
    except (NotFound, ValueError):
        return _answer(404, "There is no form here to keep a draft of.")
    return jsonify(saved_at=row.saved_at.isoformat(), shown=row.saved_at.astimezone(LONDON).strftime("%H:%M"))


@bp.route("/drafts/discard", methods=["POST"])
@login_required
@policy.login_only
def discard() -> Any:
    """Throw away the user's own draft of a form and show the form as it was before the draft."""
    try:
        task_id, reopens = _named_form()
    except ValueError:
        return redirect(url_for("tasks.my_tasks"))
    if task_id is not None:
        drafts.discard(current_user, drafts.task_key(task_id))
        return redirect(url_for("tasks.task", task_id=task_id))
    drafts.discard(current_user, drafts.contact_key(reopens))
    return redirect(url_for("contacts.new_contact", reopen=reopens))


def restore_task(user: User, row: Task, schema: dict, current: dict) -> tuple[dict, datetime | None]:
    """The data to fill a task's form with (the user's draft, when there is one) and when it was saved."""
    return _restore(user, drafts.target_for_task(row, schema), current)


def restore_contact(user: User, reopens: Case | None, current: dict) -> tuple[dict, datetime | None]:
    """The same for the start form of a new contact."""
    return _restore(user, drafts.contact_target(user, reopens.id if reopens else None), current)


def context(target: str, restored_at: datetime | None) -> dict[str, Any]:
    """What the form templates need: where to save, which form this is, and this page's own id (which the
    form posts, so the draft of a page that has been sent is not brought back by a save still on its way)."""
    return {
        "url": url_for("drafts.save"),
        "target": target,
        "page_id": uuid.uuid4().hex,
        "restored_at": restored_at,
    }


def _restore(user: User, target: Target, current: dict) -> tuple[dict, datetime | None]:
    row = drafts.read(user, target)
    if row is None:
        return current, None
    return drafts.restored(target, row, current), row.saved_at


def _target(user: User) -> Target:
    task_id, reopens = _named_form()
    if task_id is not None:
        return drafts.task_target(user, task_id)
    return drafts.contact_target(user, reopens)


def _named_form() -> tuple[str | None, int | None]:
    """(task id, None) for a task's form; (None, the case re-opened or None) for a new contact's form."""
    named = request.form.get("_draft", "")
    if match := _TASK.fullmatch(named):
        return match.group(1), None
    if named != "contact":
        raise ValueError(named)
    reopen = request.form.get("reopen", "")
    if reopen and not reopen.isdigit():
        raise ValueError(reopen)
    return None, int(reopen) if reopen else None


def _answer(status: int, message: str) -> Any:
    return jsonify(message=message), status
