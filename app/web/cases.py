"""The case page: the children and people, the contact, the timeline, open tasks, outcomes and letters."""

from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy
from app.models import OutboxItem
from app.services import case_actions, case_view, letters_render, restricted
from app.services.errors import Forbidden, NotFound, NotSaved, ReasonNeeded
from app.web.paging import page_number

bp = Blueprint("cases", __name__)


@bp.route("/cases/<int:case_id>")
@login_required
@policy.declare("can_see_case")
def case(case_id: int) -> Any:
    try:
        view = case_view.for_user(current_user, case_id)
    except NotFound:
        abort(404)
    except ReasonNeeded:
        return _reason_page(case_id, "", None)
    except Forbidden as err:
        abort(403, str(err))
    page = render_template(
        "cases/case.html",
        view=view,
        done=request.args.get("done"),
        may_see_case_diagram=policy.can_see_case_diagram(current_user, view.case),
    )
    case_view.record_case_view(current_user, case_id)
    return page


def _reason_page(case_id: int, reason: str, error: str | None) -> Any:
    # Only the reference is shown: nothing of the record is seen before the reason is given.
    case = case_view.reference_of(case_id)
    page = render_template(
        "cases/reason_needed.html", case=case, reason=reason, error=error, next=_safe_next(request.values.get("next"))
    )
    return page, 400 if error else 403


# Pages that may send someone to give a reason and be sent back: a case's, a task's, a flow's own record.
RETURN_PAGES = ("/cases/", "/tasks/", "/strategy-discussions/", "/lado/", "/information-requests/")


def _safe_next(target: str | None) -> str | None:
    # Back to one of our own case or task pages only, never another site.
    if target and target.startswith(RETURN_PAGES) and "//" not in target and "\\" not in target:
        return target
    return None


@bp.post("/cases/<int:case_id>/open")
@login_required
@policy.declare("may_open_restricted")
def open_restricted(case_id: int) -> Any:
    reason = request.form.get("reason", "")
    try:
        restricted.open_with_reason(current_user, case_id, reason)
    except NotFound:
        abort(404)
    except restricted.ReasonRefused as refused:
        return _reason_page(case_id, reason, str(refused))
    except Forbidden as err:
        abort(403, str(err))
    return redirect(_safe_next(request.form.get("next")) or url_for("cases.case", case_id=case_id))


@bp.route("/cases/<int:case_id>/restriction", methods=["GET", "POST"])
@login_required
@policy.declare("can_restrict_case")
def restriction(case_id: int) -> Any:
    if not policy.can_restrict_case(current_user):
        abort(403, "Only team managers and service managers restrict a record.")
    try:
        # Only the reference is shown, so a manager lifts a restriction without opening the record.
        case = case_view.reference_of(case_id)
    except NotFound:
        abort(404)
    reason = request.form.get("reason", "")
    if request.method == "GET":
        return render_template("cases/restriction.html", case=case, reason="", error=None)
    change = restricted.lift if case.restricted else restricted.restrict
    try:
        change(current_user, case_id, reason)
    except restricted.ReasonRefused as refused:
        return render_template("cases/restriction.html", case=case, reason=reason, error=str(refused)), 400
    done = "Restriction lifted" if change is restricted.lift else "Record restricted"
    return redirect(url_for("cases.case", case_id=case_id, done=done))


@bp.route("/cases/<int:case_id>/access-log")
@login_required
@policy.declare("can_see_access_log")
def access_log(case_id: int) -> Any:
    number = page_number(request.args.get("page"))
    try:
        case, entries, total = restricted.access_log(current_user, case_id, number)
    except NotFound:
        abort(404)
    except Forbidden as err:
        abort(403, str(err))
    return render_template("cases/access_log.html", case=case, entries=entries, total=total, page=number)


@bp.route("/restricted-records")
@login_required
@policy.declare("can_see_access_log")
def restricted_records() -> Any:
    if not policy.can_see_access_log(current_user):
        abort(403, "Only team managers and service managers see who opened restricted records.")
    number = page_number(request.args.get("page"))
    openings, total = restricted.openings(number)
    return render_template(
        "cases/restricted_records.html",
        records=restricted.restricted_cases(),
        openings=openings,
        total=total,
        page=number,
    )


@bp.route("/cases/<int:case_id>/letters/<int:item_id>")
@login_required
@policy.declare("can_see_case")
def letter(case_id: int, item_id: int) -> Any:
    view, item = _letter(case_id, item_id)
    page = render_template("cases/letter.html", view=view, item=item)
    letters_render.record_view(current_user, item)  # once the page is made, before it is sent
    return page


def _letter(case_id: int, item_id: int) -> tuple[case_view.CaseView, OutboxItem]:
    """A letter of a case the user may see; a letter to the referrer is 404, not 403, for those who may not
    see the referrer, so they cannot even learn that one exists."""
    view = _view(case_id)
    item = next((i for i in view.letters if i.id == item_id), None)
    if item is None or (item.recipient_role == "referrer" and not policy.can_see_referrer(current_user)):
        abort(404)
    return view, item


def _view(case_id: int) -> case_view.CaseView:
    try:
        return case_view.for_user(current_user, case_id)
    except NotFound:
        abort(404)
    except ReasonNeeded:
        abort(redirect(url_for("cases.case", case_id=case_id, next=request.path)))
    except Forbidden as err:
        abort(403, str(err))


# The letter view (cases/letter.html) lays a letter out with the same template as its PDF.
bp.add_app_template_global(letters_render.html, "letter_html")


@bp.route("/cases/<int:case_id>/letters/<int:item_id>.pdf")
@login_required
@policy.declare("can_see_case")
def letter_pdf(case_id: int, item_id: int) -> Any:
    view, item = _letter(case_id, item_id)
    body = letters_render.pdf(item)
    letters_render.record_download(current_user, item)
    return Response(
        body,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{letters_render.filename(view.case, item)}"',
            # Confidential: no shared or browser cache keeps a copy.
            "Cache-Control": "no-store",
        },
    )


@bp.route("/cases")
@login_required
@policy.declare("can_see_case")
def case_list() -> Any:
    return render_template("cases/list.html", rows=case_view.recent_for_user(current_user))


@bp.route("/cases/<int:case_id>/void", methods=["GET", "POST"])
@login_required
@policy.declare("can_void_case")
def void(case_id: int) -> Any:
    view = _view(case_id)
    if not policy.can_void_case(current_user):
        abort(403, "Only senior social workers and managers void a contact.")
    reason = request.form.get("reason", "")
    if request.method == "GET":
        return render_template("cases/void.html", view=view, reason="", error=None)
    try:
        case_actions.void(current_user, case_id, reason)
    except ValueError as err:
        return render_template("cases/void.html", view=view, reason=reason, error=str(err)), 400
    except NotSaved as err:
        return render_template("cases/void.html", view=view, reason=reason, error=str(err)), 409
    except Forbidden as err:
        abort(403, str(err))
    return redirect(url_for("cases.case", case_id=case_id, done="Contact voided"))
