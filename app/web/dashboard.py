"""The managers' dashboard: every open case by flow and step, overdue clocks first, workload by team and worker."""

from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask_login import current_user, login_required

from app import policy
from app.config import LONDON
from app.models.types import utcnow
from app.services import dashboard
from app.services.dashboard import FilterForm
from app.web.paging import page_number

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


def _allowed() -> None:
    if not policy.can_see_dashboard(current_user):
        abort(403, "The dashboard of every case in flight is for team managers and service managers.")


@bp.route("")
@login_required
@policy.declare("can_see_dashboard")
def overview() -> Any:
    _allowed()
    everything = dashboard.board(current_user)
    offered = dashboard.choices(current_user, everything)
    form = dashboard.read_filters(current_user, request.args, offered)
    return _page(form, offered, everything)


@bp.route("/export.csv")
@login_required
@policy.declare("can_see_dashboard")
def export() -> Any:
    _allowed()
    everything = dashboard.board(current_user)
    offered = dashboard.choices(current_user, everything)
    form = dashboard.read_filters(current_user, request.args, offered)
    if form.errors:
        return _page(form, offered, everything)  # the page says what to put right before the file is made
    now = utcnow()
    text = dashboard.export_csv(current_user, form.filters, now)
    name = f"open-work-{now.astimezone(LONDON).date().isoformat()}.csv"
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


def _page(form: FilterForm, offered: dashboard.Choices, everything: dashboard.Board) -> Any:
    now = everything.now
    filters = form.filters
    # The open work is counted once; every count on the page is of it.
    board = everything.narrowed(filters)
    work = dashboard.in_flight(current_user, filters, page_number(request.args.get("page")), now, board)
    page = render_template(
        "dashboard/overview.html",
        form=form,
        offered=offered,
        args=filters.args(),
        work=work,
        flows=dashboard.by_flow(current_user, filters, now, board),
        steps=dashboard.by_step(current_user, filters, now, board),
        load=dashboard.workload(current_user, filters, now, board),
        clock_tags=dashboard.CLOCK_TAGS,
        per_page=dashboard.PAGE_SIZE,
        may_retry=policy.can_retry_failed_steps(current_user),
        may_see_figures=policy.can_see_figures(current_user),
    )
    return (page, 400) if form.errors else page
