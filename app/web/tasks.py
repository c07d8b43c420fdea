"""Work trays and task forms."""

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy, schemaforms
from app.services import trays, workflow
from app.services.errors import Forbidden, FormInvalid, NotFound, NotSaved, TaskConflict

bp = Blueprint("tasks", __name__)


@bp.route("/")
@login_required
@policy.login_only
def home() -> Any:
    return redirect(url_for("tasks.my_tasks"))


@bp.route("/tasks")
@login_required
@policy.login_only
def my_tasks() -> Any:
    return render_template(
        "tasks/tray.html", tray="mine", rows=trays.my_tasks(current_user), counts=trays.counts(current_user)
    )


@bp.route("/tasks/team")
@login_required
@policy.login_only
def team_tasks() -> Any:
    return render_template(
        "tasks/tray.html", tray="team", rows=trays.team_tasks(current_user), counts=trays.counts(current_user)
    )


@bp.route("/tasks/<task_id>", methods=["GET", "POST"])
@login_required
@policy.declare("can_act_on_task")
def task(task_id: str) -> Any:
    try:
        row, bundle = workflow.open_task(current_user, task_id)
        schema = bundle.form(row.form_id) or {"type": "object", "properties": {}}
        if request.method == "GET":
            return _render(row, schema, workflow.task_data(row), [])
        # The saved data is needed only to keep read-only answers; restoring it costs a whole workflow.
        existing = workflow.task_data(row) if schemaforms.has_read_only(schema) else {}
    except TaskConflict as conflict:
        return _conflict(task_id, conflict, workflow.form_of_completed(task_id))
    except NotFound:
        abort(404)
    except Forbidden as err:
        abort(403, str(err))
    submission = schemaforms.read_submission(schema, request.form, existing=existing)
    if not submission.complete:
        return _render(row, schema, submission.data, submission.errors, 400 if submission.errors else 200)
    try:
        case_id = workflow.complete_task(current_user, task_id, submission.data)
    except FormInvalid as invalid:
        return _render(row, schema, submission.data, invalid.errors, 400)
    except TaskConflict as conflict:
        return _conflict(task_id, conflict, schema)
    except NotSaved as err:
        return _render(row, schema, submission.data, [], 409, problem=str(err))
    except Forbidden as err:
        abort(403, str(err))
    return redirect(url_for("cases.case", case_id=case_id, done=row.name))


def _conflict(task_id: str, conflict: TaskConflict, schema: dict | None) -> Any:
    # Whatever the late submitter typed is shown back to them, so nothing they wrote is lost.
    fields = None
    if request.method == "POST" and schema:
        fields = schemaforms.build_view(schema, schemaforms.parse_submission(schema, request.form), [])
    return render_template("tasks/conflict.html", conflict=conflict, fields=fields), 409


def _render(row: Any, schema: dict, data: dict, errors: list, status: int = 200, problem: str | None = None) -> Any:
    return render_template(
        "tasks/task.html",
        task=row,
        schema=schema,
        fields=schemaforms.build_view(schema, data, errors),
        errors=errors,
        context=trays.case_context(row.case_id),
        problem=problem,
    ), status
