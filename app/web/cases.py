"""The case page: the children and people, the contact, the timeline, open tasks, outcomes and letters."""

from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy
from app.models import OutboxItem
from app.services import case_actions, case_view, letters_render
from app.services.errors import Forbidden, NotFound, NotSaved

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
    view, item = _letter(case_id, item_id)
    return render_template("cases/letter.html", view=view, item=item)


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
        return case_view.for_user(current_user, case_id, record_view=False)
    except NotFound:
        abort(404)
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
