"""Work trays and task forms."""

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy, schemaforms
from app.models.types import utcnow
from app.services import case_view, claims, clocks, trays, workflow
from app.services.claims import ClaimConflict, NotEligible
from app.services.errors import Forbidden, FormInvalid, NotFound, NotSaved, ReasonNeeded, TaskConflict
from app.web import drafts as draft_forms

bp = Blueprint("tasks", __name__)


@bp.route("/")
@login_required
@policy.login_only
def home() -> Any:
    # A process owner's work is the flows themselves: no case's task ever comes to them.
    if policy.can_edit_processes(current_user):
        return redirect(url_for("processes.flows"))
    return redirect(url_for("tasks.my_tasks"))


@bp.route("/tasks")
@login_required
@policy.login_only
def my_tasks() -> Any:
    return _tray("mine")


@bp.route("/tasks/team")
@login_required
@policy.login_only
def team_tasks() -> Any:
    return _tray("team")


def _tray(which: str) -> Any:
    page = trays.tray(current_user, which, request.args)
    endpoint = "tasks.my_tasks" if which == "mine" else "tasks.team_tasks"
    return render_template(
        "tasks/tray.html",
        tray=which,
        page=page,
        counts=trays.counts(current_user),
        pagination=_pagination(endpoint, page.filters, page.page, page.pages),
        here=url_for(endpoint, **page.filters.args()),
        due_choices=trays.DUE_CHOICES,
        sorts=trays.SORTS,
        rag_labels=trays.RAG_LABELS,
    )


def _pagination(endpoint: str, filters: trays.Filters, page: int, pages: int) -> dict[str, Any] | None:
    """The GOV.UK pagination component's parameters: the first, last and neighbouring pages."""
    if pages <= 1:
        return None
    items: list[dict[str, Any]] = []
    for n in range(1, pages + 1):
        if n in (1, pages) or abs(n - page) <= 1:
            items.append({"number": n, "href": url_for(endpoint, **filters.args(page=n)), "current": n == page})
        elif items and not items[-1].get("ellipsis"):
            items.append({"ellipsis": True})
    params: dict[str, Any] = {"items": items, "landmarkLabel": "Pages of tasks"}
    if page > 1:
        params["previous"] = {"href": url_for(endpoint, **filters.args(page=page - 1))}
    if page < pages:
        params["next"] = {"href": url_for(endpoint, **filters.args(page=page + 1))}
    return params


@bp.post("/tasks/<task_id>/claim")
@login_required
@policy.declare("can_claim")
def claim(task_id: str) -> Any:
    try:
        words = claims.claim(current_user, task_id)
    except (ClaimConflict, TaskConflict) as conflict:
        return _refused(409, "Someone else has this task", str(conflict))
    except NotFound:
        abort(404)
    except Forbidden as err:
        abort(403, str(err))
    flash(f"You have claimed “{words}”.", "success")
    return redirect(_back(url_for("tasks.task", task_id=task_id)))


@bp.post("/tasks/<task_id>/release")
@login_required
@policy.declare("can_release")
def release(task_id: str) -> Any:
    try:
        words = claims.release(current_user, task_id)
    except (ClaimConflict, TaskConflict) as conflict:
        return _refused(409, "This task has changed hands", str(conflict))
    except NotFound:
        abort(404)
    except Forbidden as err:
        abort(403, str(err))
    flash(f"“{words}” is back with the team for anyone to claim.", "success")
    return redirect(_back(url_for("tasks.my_tasks")))


@bp.route("/tasks/<task_id>/reassign", methods=["GET", "POST"])
@login_required
@policy.declare("can_reassign")
def reassign(task_id: str) -> Any:
    try:
        row, held, people = claims.for_reassignment(current_user, task_id)
    except TaskConflict as conflict:
        return _refused(409, "This task is no longer waiting", str(conflict))
    except NotFound:
        abort(404)
    except Forbidden as err:
        abort(403, str(err))
    error, chosen = None, request.form.get("to", "")
    if request.method == "POST":
        try:
            words = claims.reassign(current_user, task_id, int(chosen) if chosen.isdigit() else 0)
        except NotEligible:
            error = "Choose someone in the team who holds this task's role"
        except (ClaimConflict, TaskConflict) as conflict:
            return _refused(409, "This task has changed hands", str(conflict))
        except Forbidden as err:
            abort(403, str(err))
        else:
            flash(f"“{words}” has been reassigned.", "success")
            return redirect(url_for("tasks.team_tasks"))
    page = render_template("tasks/reassign.html", task=row, held=held, people=people, error=error, chosen=chosen)
    return page, 400 if error else 200


def _back(default: str) -> str:
    """Back where the button was pressed (a tray with its filters, or the task page). Only our own task pages
    are followed: a posted address anywhere else would make this an open redirect."""
    target = request.form.get("next", "")
    parts = urlsplit(target)
    if not parts.scheme and not parts.netloc and parts.path.startswith("/tasks") and "\\" not in target:
        return target
    return default


def _refused(status: int, title: str, message: str) -> Any:
    return render_template("error.html", title=title, message=message), status


@bp.route("/tasks/<task_id>", methods=["GET", "POST"])
@login_required
@policy.declare("can_act_on_task")
def task(task_id: str) -> Any:
    try:
        row, bundle = workflow.open_task(current_user, task_id)
        schema = bundle.form(row.form_id) or {"type": "object", "properties": {}}
        if request.method == "GET":
            # The user's own draft, when there is one, fills the form in place of what the task holds.
            data, restored_at = draft_forms.restore_task(current_user, row, schema, workflow.task_data(row))
            page = _render(row, schema, data, [], restored_at=restored_at)
            case_view.record_task_view(current_user, row)  # once the page is made, before it is sent
            return page
        # The saved data is needed only to keep read-only answers; restoring it costs a whole workflow.
        existing = workflow.task_data(row) if schemaforms.has_read_only(schema) else {}
    except TaskConflict as conflict:
        return _conflict(task_id, conflict, workflow.form_of_completed(task_id))
    except NotFound:
        abort(404)
    except ReasonNeeded as restricted:
        # A restricted record: the case page asks for the reason, then comes back here.
        return redirect(url_for("cases.case", case_id=restricted.case_id, next=url_for("tasks.task", task_id=task_id)))
    except Forbidden as err:
        abort(403, claims.refusal(current_user, task_id, str(err)))
    # Checked once, by the service, before anything is saved: its FormInvalid shows the problems as here.
    submission = schemaforms.read_submission(schema, request.form, existing=existing, check=False)
    if not submission.complete:
        return _render(row, schema, submission.data, submission.errors, 400 if submission.errors else 200)
    try:
        done = workflow.complete_and_look(current_user, task_id, submission.data)
    except FormInvalid as invalid:
        return _render(row, schema, submission.data, invalid.errors, 400)
    except TaskConflict as conflict:
        return _conflict(task_id, conflict, schema)
    except NotSaved as err:
        return _render(row, schema, submission.data, [], 409, problem=str(err))
    except Forbidden as err:
        abort(403, str(err))
    if not done.case_visible:
        # A partner sees a case only while it holds work for them: back to their tray, told it was saved.
        flash(f"{row.name}: saved.", "success")
        return redirect(url_for("tasks.my_tasks"))
    return redirect(url_for("cases.case", case_id=done.case_id, done=row.name))


def _conflict(task_id: str, conflict: TaskConflict, schema: dict | None) -> Any:
    # Whatever the late submitter typed is shown back to them, so nothing they wrote is lost.
    fields = None
    if request.method == "POST" and schema:
        fields = schemaforms.build_view(schema, schemaforms.parse_submission(schema, request.form), [])
    return render_template("tasks/conflict.html", conflict=conflict, fields=fields), 409


def _render(
    row: Any,
    schema: dict,
    data: dict,
    errors: list,
    status: int = 200,
    problem: str | None = None,
    restored_at: datetime | None = None,
) -> Any:
    return render_template(
        "tasks/task.html",
        task=row,
        schema=schema,
        fields=schemaforms.build_view(schema, data, errors),
        errors=errors,
        context=trays.case_context(row.case_id, current_user),
        problem=problem,
        draft=draft_forms.context(f"task:{row.id}", restored_at),
        claim=claims.view_for(current_user, row),
        clock=clocks.open_clock(row.due_at, utcnow()) if row.due_at else None,
    ), status
