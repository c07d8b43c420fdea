"""Steps whose handler failed: listed with their error for a manager, who can run them again."""

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy
from app.services import failed_steps
from app.services.errors import Forbidden, NotFound, NotSaved
from app.web.converters import whole_number

bp = Blueprint("failed_steps", __name__, url_prefix="/failed-steps")


def _allowed() -> None:
    if not policy.can_retry_failed_steps(current_user):
        abort(403, "Failed steps are seen and run again by team managers and service managers.")


@bp.route("")
@login_required
@policy.declare("can_retry_failed_steps")
def failed() -> Any:
    _allowed()
    return render_template("failed_steps/list.html", steps=failed_steps.for_user(current_user))


@bp.post("/<int:instance_id>/retry")
@login_required
@policy.declare("can_retry_failed_steps")
def retry(instance_id: int) -> Any:
    _allowed()
    version = request.form.get("version", "")
    try:
        done = failed_steps.retry(current_user, instance_id, whole_number(version, 9))
    except NotFound:
        abort(404)
    except Forbidden as err:
        abort(403, str(err))
    except NotSaved as err:
        flash(str(err), "error")
        return redirect(url_for("failed_steps.failed"))
    if done.error is None:
        flash(f"“{done.step}” on case {done.reference} ran again and the case has moved on.", "success")
    elif done.failed_step == done.step:
        flash(
            f"“{done.step}” on case {done.reference} failed again: {done.error}. It stays on this list; nothing "
            "recorded before it was lost. Put the cause right, then run it again.",
            "error",
        )
    else:
        flash(
            f"“{done.step}” on case {done.reference} ran, but the next step, “{done.failed_step}”, failed: "
            f"{done.error}. It is on this list now; nothing recorded before it was lost.",
            "error",
        )
    return redirect(url_for("failed_steps.failed"))
