"""Pages of Multi Agency Triage: the day's triage list (§5)."""

from typing import Any

from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required

from app import policy
from app.services import mat

bp = Blueprint("mat", __name__, url_prefix="/mat")


@bp.route("")
@login_required
@policy.declare("can_see_mat_list")
def triage_list() -> Any:
    if not policy.can_see_mat_list(current_user):
        abort(403, "The triage list is for the hub and the agencies at the meeting.")
    return render_template("mat/list.html", days=mat.triage_list(current_user))
