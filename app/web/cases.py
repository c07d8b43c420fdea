"""The case page: the children and people, the contact, the timeline, open tasks, outcomes and letters."""

from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required

from app import policy
from app.services import case_view
from app.services.errors import Forbidden, NotFound

bp = Blueprint("cases", __name__)


@bp.route("/cases/<int:case_id>")
@login_required
@policy.declare("can_see_case")
def case(case_id: int) -> Any:
    try:
        view = case_view.for_user(current_user, case_id)
    except NotFound:
        abort(404)
    except Forbidden as err:
        abort(403, str(err))
    return render_template("cases/case.html", view=view, done=request.args.get("done"))


@bp.route("/cases/<int:case_id>/letters/<int:item_id>")
@login_required
@policy.declare("can_see_case")
def letter(case_id: int, item_id: int) -> Any:
    try:
        view = case_view.for_user(current_user, case_id, record_view=False)
    except NotFound:
        abort(404)
    except Forbidden as err:
        abort(403, str(err))
    item = next((i for i in view.letters if i.id == item_id), None)
    if item is None:
        abort(404)
    return render_template("cases/letter.html", view=view, item=item)


@bp.route("/cases")
@login_required
@policy.declare("can_see_case")
def case_list() -> Any:
    return render_template("cases/list.html", rows=case_view.recent_for_user(current_user))
