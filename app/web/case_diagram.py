"""A case on its diagrams: each flow it went through, with its steps marked done, waiting, overdue or failed."""

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy
from app.services import case_diagram
from app.services.errors import Forbidden, NotFound, ReasonNeeded

bp = Blueprint("case_diagram", __name__, url_prefix="/cases")

# The diagram viewer (bpmn-js) positions and sizes what it draws through the style properties of its elements
# (CSSOM), which the Content-Security-Policy allows; it writes no inline <script> or style attribute, so this
# page needs no relaxation of the policy (tests/browser/test_case_diagram_in_browser.py fails on any refusal).


@bp.route("/<int:case_id>/diagram")
@login_required
@policy.declare("can_see_case_diagram")
def diagram(case_id: int) -> Any:
    try:
        view = case_diagram.for_user(current_user, case_id)
    except NotFound:
        abort(404)
    except ReasonNeeded:
        # The case page asks for the reason (showing nothing but the reference) and comes back here.
        return redirect(url_for("cases.case", case_id=case_id, next=request.path))
    except Forbidden as err:
        abort(403, str(err))
    return render_template("case_diagram/diagram.html", view=view, states=case_diagram.STATE_WORDS)
