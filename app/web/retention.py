"""Pages of retention: the records past their time, and a service manager's decision on each."""

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy
from app.services import retention
from app.services.errors import NotFound, NotSaved
from app.web.paging import page_number

bp = Blueprint("retention", __name__, url_prefix="/retention")


def _allowed() -> None:
    if not policy.can_review_retention(current_user):
        abort(403, "Records past their retention time are reviewed by service managers.")


@bp.route("")
@login_required
@policy.declare("can_review_retention")
def due() -> Any:
    _allowed()
    number = page_number(request.args.get("page"))
    rows, total = retention.due_for_review(page=number)
    return render_template(
        "retention/due.html",
        rows=rows,
        total=total,
        page=number,
        reviews=retention.reviews(),
        done=request.args.get("done"),
    )


@bp.route("/<int:case_id>", methods=["GET", "POST"])
@login_required
@policy.declare("can_review_retention")
def review(case_id: int) -> Any:
    _allowed()
    try:
        case = retention.case_for_review(case_id)
    except NotFound:
        abort(404)
    except NotSaved as err:
        abort(409, str(err))
    form = {k: request.form.get(k, "") for k in ("decision", "reason", "keep_until", "confirm")}
    if request.method == "GET":
        return render_template("retention/review.html", case=case, form=form, error=None)
    try:
        if form["decision"] == "keep":
            retention.keep(current_user, case_id, retention.parse_day(form["keep_until"]), form["reason"])
            done = f"{case.case.reference} kept until {form['keep_until']}"
        elif form["decision"] == "delete":
            reference = case.case.reference
            retention.delete_case(current_user, case_id, form["reason"], form["confirm"])
            done = f"{reference} deleted"
        else:
            raise NotSaved("Choose whether to keep the record for longer or delete it")
    except NotSaved as err:
        page = render_template("retention/review.html", case=case, form=form, error=str(err))
        return page, 400
    return redirect(url_for("retention.due", done=done))
