"""Pages of information requests: logging a request from an external agency, and the register of every
request and disclosure (§12.3). Both are for the hub only: what Compass holds is need-to-know (§13)."""

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy, schemaforms
from app.services import information_requests
from app.services.errors import Forbidden, FormInvalid, NotFound, NotSaved, ReasonNeeded
from app.web.paging import page_number

bp = Blueprint("information_requests", __name__, url_prefix="/information-requests")


@bp.route("/new", methods=["GET", "POST"])
@login_required
@policy.declare("can_log_information_request")
def new_request() -> Any:
    if not policy.can_log_information_request(current_user):
        abort(403, "Only coordinators, business support and senior social workers log information requests.")
    schema = information_requests.log_form()
    if request.method == "GET":
        return _render_new(schema, {}, [])
    # Adding or removing a person re-draws the form without judging the half-typed answers.
    submission = schemaforms.read_submission(schema, request.form)
    if not submission.complete:
        return _render_new(schema, submission.data, submission.errors, 400 if submission.errors else 200)
    try:
        case = information_requests.log_request(current_user, submission.data)
    except FormInvalid as invalid:
        return _render_new(schema, submission.data, invalid.errors, 400)
    except NotSaved as err:
        return _render_new(schema, submission.data, [], 409, problem=str(err))
    except Forbidden as err:
        abort(403, str(err))
    return redirect(url_for("cases.case", case_id=case.id, done="Request for information logged"))


def _render_new(schema: dict, data: dict, errors: list, status: int = 200, problem: str | None = None) -> Any:
    return render_template(
        "information_requests/new.html",
        schema=schema,
        fields=schemaforms.build_view(schema, data, errors),
        errors=errors,
        problem=problem,
    ), status


@bp.route("")
@login_required
@policy.declare("can_see_information_requests")
def register() -> Any:
    if not policy.can_see_information_requests(current_user):
        abort(403, "The register of information requests is for the hub's decision makers and managers.")
    filters = information_requests.RegisterFilters.from_args(request.args)
    page = information_requests.register_page(filters, page_number(request.args.get("page")))
    return render_template(
        "information_requests/register.html",
        page=page,
        pagination=_pagination(page),
        agencies=information_requests.AGENCIES,
        grounds=information_requests.GROUNDS,
        decisions=information_requests.DECISIONS,
        statuses=information_requests.STATUSES,
        may_log=policy.can_log_information_request(current_user),
    )


@bp.route("/<int:case_id>")
@login_required
@policy.declare("can_see_information_requests")
def request_record(case_id: int) -> Any:
    """One request in full: what was asked, on what ground, the decision and exactly what was disclosed."""
    try:
        view = information_requests.request_for_user(current_user, case_id)
    except NotFound:
        abort(404)
    except ReasonNeeded:
        return redirect(url_for("cases.case", case_id=case_id, next=request.path))
    except Forbidden as err:
        abort(403, str(err))
    return render_template(
        "information_requests/request.html",
        view=view,
        agencies=information_requests.AGENCIES,
        grounds=information_requests.GROUNDS,
        decisions=information_requests.DECISIONS,
        statuses=information_requests.STATUSES,
    )


def _pagination(page: information_requests.RegisterPage) -> dict[str, Any] | None:
    """The GOV.UK pagination component's parameters: the first, last and neighbouring pages."""
    if page.pages <= 1:
        return None

    def href(n: int) -> str:
        return url_for("information_requests.register", **page.filters.args(page=n))

    items: list[dict[str, Any]] = []
    for n in range(1, page.pages + 1):
        if n in (1, page.pages) or abs(n - page.page) <= 1:
            items.append({"number": n, "href": href(n), "current": n == page.page})
        elif items and not items[-1].get("ellipsis"):
            items.append({"ellipsis": True})
    params: dict[str, Any] = {"items": items, "landmarkLabel": "Pages of information requests"}
    if page.page > 1:
        params["previous"] = {"href": href(page.page - 1)}
    if page.page < page.pages:
        params["next"] = {"href": href(page.page + 1)}
    return params
