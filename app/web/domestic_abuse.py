"""Pages of domestic-abuse notifications: entering one by hand, and uploading the day's file."""

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy, schemaforms
from app.services import csv_files, da_notifications
from app.services.errors import Forbidden, FormInvalid, NotSaved

bp = Blueprint("domestic_abuse", __name__, url_prefix="/domestic-abuse")

MAX_UPLOAD_BYTES = 5 * 1024 * 1024


def _allowed() -> None:
    if not policy.can_receive_da_notification(current_user):
        abort(403, "Only coordinators, senior social workers and the police record domestic abuse notifications.")


@bp.route("/new", methods=["GET", "POST"])
@login_required
@policy.declare("can_receive_da_notification")
def new_notification() -> Any:
    _allowed()
    schema = da_notifications.schema()
    if request.method == "GET":
        return _render_new(schema, {}, [])
    submission = schemaforms.read_submission(schema, request.form)
    if not submission.complete:
        return _render_new(schema, submission.data, submission.errors, 400 if submission.errors else 200)
    try:
        case, created = da_notifications.receive(submission.data, "hand", current_user)
    except FormInvalid as invalid:
        return _render_new(schema, submission.data, invalid.errors, 400)
    except NotSaved as err:
        return _render_new(schema, submission.data, [], 409, problem=str(err))
    except Forbidden as err:
        abort(403, str(err))
    done = "Notification recorded" if created else "This notification was already received: nothing new was recorded"
    return redirect(url_for("cases.case", case_id=case.id, done=done))


def _render_new(schema: dict, data: dict, errors: list, status: int = 200, problem: str | None = None) -> Any:
    return render_template(
        "domestic_abuse/new.html",
        schema=schema,
        fields=schemaforms.build_view(schema, data, errors),
        errors=errors,
        problem=problem,
    ), status


@bp.route("/upload", methods=["GET", "POST"])
@login_required
@policy.declare("can_receive_da_notification")
def upload() -> Any:
    _allowed()
    if request.method == "GET":
        return _render_upload()
    posted = request.files.get("file")
    if posted is None or not posted.filename:
        return _render_upload("Choose the day's CSV file of notifications", 400)
    data = posted.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        return _render_upload("The file must be smaller than 5 MB: split the day's notifications into two files", 400)
    try:
        report = da_notifications.upload(data, current_user)
    except csv_files.FileRefused as refused:
        return _render_upload(str(refused), 400)
    except Forbidden as err:
        abort(403, str(err))
    return render_template("domestic_abuse/upload_report.html", report=report, filename=posted.filename)


def _render_upload(error: str | None = None, status: int = 200) -> Any:
    return render_template(
        "domestic_abuse/upload.html",
        error=error,
        errors=[error] if error else [],
        columns=da_notifications.CSV_COLUMNS,
        required=da_notifications.CSV_REQUIRED,
        max_children=da_notifications.MAX_CHILDREN_IN_CSV,
    ), status
