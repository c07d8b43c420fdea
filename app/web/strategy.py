"""Pages of strategy discussions (§6): the list, arranged and held, with each decision and the date the
initial child protection conference is due; and one page per discussion showing its record."""

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy
from app.roles import STRATEGY_CHAIRS, STRATEGY_CONTRIBUTED, STRATEGY_DECISIONS, STRATEGY_HOW_HELD
from app.services import strategy_discussions
from app.services.errors import ReasonNeeded

bp = Blueprint("strategy", __name__, url_prefix="/strategy-discussions")


def _allowed() -> None:
    if not policy.can_see_strategy_discussions(current_user):
        abort(403, "Strategy discussions are seen by the hub, the police and health.")


def _labels() -> dict[str, Any]:
    return {
        "decisions": STRATEGY_DECISIONS,
        "how_held": STRATEGY_HOW_HELD,
        "contributed": STRATEGY_CONTRIBUTED,
        "chairs": STRATEGY_CHAIRS,
        # Invitees' names, addresses and why they were asked can point to the referrer (§13).
        "show_people": policy.can_see_referrer(current_user),
    }


@bp.route("")
@login_required
@policy.declare("can_see_strategy_discussions")
def discussions() -> Any:
    _allowed()
    return render_template("strategy/list.html", rows=strategy_discussions.listing(), **_labels())


@bp.route("/<int:item_id>")
@login_required
@policy.declare("can_see_strategy_discussions")
def discussion(item_id: int) -> Any:
    _allowed()
    try:
        row = strategy_discussions.one(item_id, current_user)
    except ReasonNeeded as restricted:
        return redirect(url_for("cases.case", case_id=restricted.case_id, next=request.path))
    if row is None:
        abort(404)
    return render_template(
        "strategy/discussion.html",
        row=row,
        handover=strategy_discussions.handover_of(row),
        may_see_case=policy.can_see_case(current_user, row.case),
        **_labels(),
    )
