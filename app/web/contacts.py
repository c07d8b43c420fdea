"""Recording a new contact: the start form of the initial-contact flow."""

from datetime import datetime
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy, schemaforms
from app.models import Case
from app.services import case_actions, contacts, drafts, intake
from app.services.errors import Forbidden, FormInvalid, NotFound, NotSaved
from app.web import drafts as draft_forms

bp = Blueprint("contacts", __name__)


@bp.route("/contacts/new", methods=["GET", "POST"])
@login_required
@policy.declare("can_record_contact")
def new_contact() -> Any:
    if not policy.can_record_contact(current_user):
        abort(403, "Only call handlers, coordinators and senior social workers record contacts.")
    _row, _bundle, schema = contacts.start_form()
    reopens, earlier_answers = _reopening(request.values.get("reopen"))
    if request.method == "GET":
        # The user's own draft of this contact, when there is one, fills the form in place of a blank one.
        data, restored_at = draft_forms.restore_contact(current_user, reopens, earlier_answers)
        return _render(schema, data, [], reopens=reopens, restored_at=restored_at)
    if request.form.get("_action") == "check":
        # Look for the children already known without saving anything or judging the half-typed answers.
        data = schemaforms.parse_submission(schema, request.form)
        return _render(schema, data, [], reopens=reopens, matches=intake.known_children(data))
    submission = schemaforms.read_submission(schema, request.form)
    if not submission.complete:
        return _render(schema, submission.data, submission.errors, 400 if submission.errors else 200, reopens=reopens)
    try:
        case = contacts.record_contact(current_user, submission.data, reopens=reopens)
    except FormInvalid as invalid:
        return _render(schema, submission.data, invalid.errors, 400, reopens=reopens)
    except NotSaved as err:
        return _render(schema, submission.data, [], 409, problem=str(err), reopens=reopens)
    except Forbidden as err:
        abort(403, str(err))
    # Remembering the page that sent the form keeps a save it had already started from making a new draft.
    page_id = request.form.get("_draft_page") or None
    drafts.discard(current_user, drafts.contact_key(reopens.id if reopens else None), page_id=page_id)
    return redirect(url_for("cases.case", case_id=case.id, done="Contact recorded"))


def _reopening(case_id: str | None) -> tuple[Case | None, dict[str, Any]]:
    """The closed contact a new one re-opens, with its earlier answers to start from."""
    if not case_id:
        return None, {}
    if not (case_id.isascii() and case_id.isdigit()) or len(case_id) > 9:
        abort(404)  # not a case number: "²" passes isdigit() but not int(), and no case's id is ten digits long
    try:
        return case_actions.reopen_data(current_user, int(case_id))
    except NotFound:
        abort(404)
    except Forbidden as err:
        abort(403, str(err))
    except NotSaved as err:
        abort(409, str(err))


def _render(
    schema: dict,
    data: dict,
    errors: list,
    status: int = 200,
    problem: str | None = None,
    reopens: Case | None = None,
    matches: list[intake.ChildMatches] | None = None,
    restored_at: datetime | None = None,
) -> Any:
    return render_template(
        "contacts/new.html",
        schema=schema,
        fields=schemaforms.build_view(schema, data, errors),
        errors=errors,
        problem=problem,
        reopens=reopens,
        matches=matches,
        draft=draft_forms.context("contact", restored_at),
    ), status
