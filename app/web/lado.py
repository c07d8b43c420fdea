"""Pages of LADO allegations: the LADO's register, and one allegation's record. Need-to-know: the LADO and
the service manager only (app.policy.can_see_lado)."""

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy
from app.services import lado
from app.services.errors import NotFound, ReasonNeeded

bp = Blueprint("lado", __name__, url_prefix="/lado")


@bp.route("")
@login_required
@policy.declare("can_see_lado")
def register() -> Any:
    if not policy.can_see_lado(current_user):
        abort(403, "Only the LADO and the service manager see allegations against people who work with children.")
    return render_template("lado/register.html", rows=lado.register(current_user.id))


# Named item_id, one of the placeholders tests/web/test_routes_declare_a_check.py fills in for every route.
@bp.route("/<int:item_id>")
@login_required
@policy.declare("can_see_lado")
def allegation(item_id: int) -> Any:
    if not policy.can_see_lado(current_user):
        abort(403, "Only the LADO and the service manager see allegations against people who work with children.")
    try:
        row = lado.allegation(item_id, current_user)
    except NotFound:
        abort(404)
    except ReasonNeeded as restricted:
        return redirect(url_for("cases.case", case_id=restricted.case_id, next=request.path))
    return render_template(
        "lado/allegation.html",
        row=row,
        case_visible=policy.can_see_case(current_user, row.case),
        labels=lado,
    )
