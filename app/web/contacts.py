"""Recording a new contact: the start form of the initial-contact flow."""

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy, schemaforms
from app.services import contacts
from app.services.errors import Forbidden, FormInvalid, NotSaved

bp = Blueprint("contacts", __name__)


@bp.route("/contacts/new", methods=["GET", "POST"])
@login_required
@policy.declare("can_record_contact")
def new_contact() -> Any:
    if not policy.can_record_contact(current_user):
        abort(403, "Only call handlers, coordinators and senior social workers record contacts.")
    _row, _bundle, schema = contacts.start_form()
    if request.method == "GET":
        return _render(schema, {}, [])
    submission = schemaforms.read_submission(schema, request.form)
    if not submission.complete:
        return _render(schema, submission.data, submission.errors, 400 if submission.errors else 200)
    try:
        case = contacts.record_contact(current_user, submission.data)
    except FormInvalid as invalid:
        return _render(schema, submission.data, invalid.errors, 400)
    except NotSaved as err:
        return _render(schema, submission.data, [], 409, problem=str(err))
    except Forbidden as err:
        abort(403, str(err))
    return redirect(url_for("cases.case", case_id=case.id, done="Contact recorded"))


def _render(schema: dict, data: dict, errors: list, status: int = 200, problem: str | None = None) -> Any:
    return render_template(
        "contacts/new.html",
        schema=schema,
        fields=schemaforms.build_view(schema, data, errors),
        errors=errors,
        problem=problem,
    ), status
