"""Pages where a process owner edits a flow's forms: the questions, the JSON, and a preview drawn with the
very macros and view-models of a worker's task page (app/schemaforms, templates/schemaforms/form_fields.html)."""

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy
from app.schemaforms.view import unindented
from app.services import form_editor
from app.services.errors import Forbidden, NotFound
from app.services.form_editor import FlowForms, Problem, Question, QuestionRefused, SavedFirst
from app.web.converters import whole_number

bp = Blueprint("form_editor", __name__, url_prefix="/processes")

ACTIONS = ("add", "change", "remove", "save_json", "preview")
SAVED_FIRST = (
    "Someone else saved this flow's draft while you were editing, so your change was not saved. The questions "
    "and the preview show their version now; what you typed is kept. Check it, then send it again."
)


def _allowed() -> None:
    if not policy.can_edit_processes(current_user):
        abort(403, "Forms are edited by process owners.")


def _found(flow: str, form_id: str | None = None) -> Any:
    try:
        return form_editor.forms_of(flow) if form_id is None else form_editor.form_of(flow, form_id)
    except NotFound:
        abort(404)


@bp.route("/<flow>/forms")
@login_required
@policy.declare("can_edit_processes")
def forms(flow: str) -> Any:
    _allowed()
    found = _found(flow)
    return render_template("form_editor/forms.html", found=found)


@bp.route("/<flow>/forms/<form_id>", methods=["GET", "POST"])
@login_required
@policy.declare("can_edit_processes")
def editor(flow: str, form_id: str) -> Any:
    _allowed()
    found, schema = _found(flow, form_id)
    if request.method == "GET":
        changing = request.args.get("change") or None
        removing = request.args.get("remove") or None
        question = Question()
        if changing is not None:
            try:
                question = form_editor.question_of(schema, changing)
            except NotFound:
                abort(404)
        if removing is not None and not any(row.name == removing and row.removable for row in _rows(schema)):
            abort(404)
        return _page(found, form_id, schema, question=question, changing=changing, removing=removing)

    action = request.form.get("action", "")
    version = _version(request.form.get("version", ""))
    question = form_editor.Question.from_form(request.form)
    changing = request.form.get("name") if action == "change" else None
    removing = request.form.get("name") if action == "remove" else None
    typed_json = request.form.get("schema_json") if action in ("save_json", "preview") else None
    keep: dict[str, Any] = {"question": question, "changing": changing, "removing": removing, "schema_text": typed_json}
    if action not in ACTIONS:
        problem = Problem("editor--name", "Choose what to do: add a question, change or remove one, or save the JSON")
        return _page(found, form_id, schema, errors=[problem], status=400, **keep)
    if action == "preview":
        # Without JavaScript the "Preview" button lands here: the typed JSON drawn, nothing saved.
        return _page(found, form_id, schema, preview_text=typed_json or "", **keep)
    try:
        if action == "add":
            new_schema = form_editor.with_question(schema, question)
        elif action == "change":
            new_schema = form_editor.with_question(schema, question, changing=changing or "")
        elif action == "remove":
            new_schema = form_editor.without_question(schema, removing or "")
        else:
            new_schema = form_editor.parse_json(typed_json or "")
        form_editor.save(current_user, flow, form_id, new_schema, version)
    except NotFound:
        # The question asked for is not (or no longer) in the form: show the form as it is.
        problem = Problem("editor--text", "That question is not in this form now; it may have been removed")
        keep.update(changing=None, removing=None)
        return _page(found, form_id, schema, errors=[problem], status=400, **keep)
    except QuestionRefused as refused:
        problems = refused.problems
        if action in ("add", "change"):
            # A whole-form problem after adding a question belongs with the question typed.
            first = "editor--name" if action == "add" else "editor--text"
            problems = [Problem(first, p.message) if p.field_id == "editor--json" else p for p in problems]
        preview_text = typed_json if action == "save_json" else None
        return _page(found, form_id, schema, errors=problems, status=400, preview_text=preview_text, **keep)
    except SavedFirst:
        found, schema = _found(flow, form_id)
        target = {"add": "editor--name", "change": "editor--text", "remove": "editor--json"}.get(action, "editor--json")
        if removing is not None and not any(row.name == removing and row.removable for row in _rows(schema)):
            keep["removing"] = None
        if changing is not None and not any(row.name == changing and row.editable for row in _rows(schema)):
            keep["changing"] = None
        return _page(
            found, form_id, schema, errors=[Problem(target, SAVED_FIRST)], status=409, saved_first=True, **keep
        )
    except Forbidden as err:
        abort(403, str(err))
    flash(_done(action, question, changing, removing, schema), "success")
    return redirect(url_for("form_editor.editor", flow=flow, form_id=form_id))


@bp.post("/<flow>/forms/<form_id>/preview")
@login_required
@policy.declare("can_edit_processes")
def preview(flow: str, form_id: str) -> Any:
    """The preview alone, for the editor's script to put in place as the JSON is typed; nothing is saved. A
    form that cannot be drawn is answered 200 too: the fragment then lists why, which is the preview to show."""
    _allowed()
    found, _schema = _found(flow, form_id)
    drawn = form_editor.preview_of_text(request.form.get("schema_json", ""))
    return render_template("form_editor/_preview.html", preview=drawn, heading=found.heading_of(form_id))


def _version(text: str) -> int | None:
    # A version that is not a number is treated as a page drawn from the live version: a stale save, refused.
    return whole_number(text, 9)


def _rows(schema: dict[str, Any]) -> list[form_editor.QuestionRow]:
    return form_editor.questions(schema)


def _done(action: str, question: Question, changing: str | None, removing: str | None, schema: dict) -> str:
    if action == "add":
        return f"“{question.title.strip()}” was added to the draft."
    if action == "change":
        return f"“{question.title.strip()}” was changed in the draft."
    if action == "remove":
        title = next((row.title for row in _rows(schema) if row.name == removing), removing)
        return f"“{title}” was removed from the draft."
    return "The form's JSON was saved to the draft."


def _page(
    found: FlowForms,
    form_id: str,
    schema: dict[str, Any],
    *,
    question: Question | None = None,
    changing: str | None = None,
    removing: str | None = None,
    schema_text: str | None = None,
    preview_text: str | None = None,
    errors: list[Problem] | None = None,
    saved_first: bool = False,
    status: int = 200,
) -> Any:
    errors = errors or []
    drawn = form_editor.preview(schema) if preview_text is None else form_editor.preview_of_text(preview_text)
    rows = _rows(schema)
    page = render_template(
        "form_editor/editor.html",
        found=found,
        form_id=form_id,
        schema=schema,
        rows=rows,
        removing=next((row for row in rows if row.name == removing), None) if removing else None,
        changing=changing,
        question=question or Question(),
        choices_value=unindented((question or Question()).choices),
        schema_text=schema_text if schema_text is not None else form_editor.as_text(schema),
        preview=drawn,
        heading=found.heading_of(form_id),
        errors=errors,
        error_at={problem.field_id: problem.message for problem in reversed(errors)},
        saved_first=saved_first,
        types=form_editor.TYPES,
    )
    return page, status
