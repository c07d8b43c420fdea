"""Process owners' pages of a flow's versions: the history, a diff of two versions, and the running cases moved
to the live version (a preview, the move of one or all that can, its report, and undoing a move)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy
from app.services import case_migration
from app.services.case_migration import NothingToCompare
from app.services.errors import NotFound, NotSaved
from app.web.converters import whole_number

bp = Blueprint("versions", __name__, url_prefix="/processes")


def _allowed(flow: str | None = None) -> None:
    if not policy.can_edit_processes(current_user):
        abort(403, "The versions of a flow and the moving of running cases are for process owners.")
    if flow is not None and not case_migration.known_flow(flow):
        abort(404)


@bp.route("/<flow>/versions")
@login_required
@policy.declare("can_edit_processes")
def history(flow: str) -> Any:
    _allowed(flow)
    rows = case_migration.history(flow)
    numbers = [row.number for row in rows if row.number is not None]

    def items(selected: int | None) -> list[dict[str, Any]]:
        return [{"value": str(n), "text": f"Version {n}", "selected": n == selected} for n in numbers]

    return render_template(
        "versions/history.html",
        flow=flow,
        name=case_migration.flow_name(flow),
        rows=rows,
        from_items=items(numbers[1] if len(numbers) > 1 else None),
        to_items=items(numbers[0] if numbers else None),
    )


@bp.route("/<flow>/versions/diff")
@login_required
@policy.declare("can_edit_processes")
def diff(flow: str) -> Any:
    _allowed(flow)
    page: dict[str, Any] = {"flow": flow, "name": case_migration.flow_name(flow), "comparison": None}
    asked = {"from": request.args.get("from", ""), "to": request.args.get("to", "")}
    try:
        older = case_migration.version_number(request.args.get("from"), "first")
        newer = case_migration.version_number(request.args.get("to"), "second")
        page["comparison"] = case_migration.compare(flow, older, newer)
    except NotSaved as err:
        return render_template("versions/diff.html", **page, asked=asked, error=str(err)), 400
    except NotFound as err:
        return render_template("versions/diff.html", **page, asked=asked, error=str(err)), 404
    except NothingToCompare as err:
        return render_template("versions/diff.html", **page, asked=asked, nothing=str(err))
    return render_template("versions/diff.html", **page, asked=asked)


def _preview_page(flow: str, error: str | None = None, status: int = 200) -> Any:
    found = case_migration.preview(current_user, flow)
    page = render_template(
        "versions/migration.html",
        flow=flow,
        name=case_migration.flow_name(flow),
        preview=found,
        error=error,
        done=request.args.get("done"),
    )
    return page, status


@bp.route("/<flow>/migration")
@login_required
@policy.declare("can_edit_processes")
def migration(flow: str) -> Any:
    _allowed(flow)
    return _preview_page(flow)


@bp.route("/<flow>/migration", methods=["POST"])
@login_required
@policy.declare("can_edit_processes")
def migrate(flow: str) -> Any:
    _allowed(flow)
    which = request.form.get("instance_id", "").strip()
    # The live version the page showed; a post without one (an old page) is taken as showing none.
    shown = whole_number(request.form.get("to_version", ""), 9) or -1
    try:
        if request.form.get("all") == "yes":
            report = case_migration.migrate_all(current_user, flow, shown)
        elif which.isascii() and which.isdigit() and len(which) < 10:
            report = case_migration.migrate_one(current_user, flow, int(which), shown)
        else:
            return _preview_page(flow, "Choose a case to move, or move all that can", 400)
    except NotFound:
        return _preview_page(flow, "That case is not one of this flow's running cases", 400)
    except NotSaved as err:
        return _preview_page(flow, str(err), 400)
    return render_template("versions/report.html", flow=flow, name=case_migration.flow_name(flow), report=report)


@bp.route("/migrations/<int:migration_id>/undo", methods=["POST"])
@login_required
@policy.declare("can_edit_processes")
def undo(migration_id: int) -> Any:
    _allowed()
    try:
        flow = case_migration.migration_flow(migration_id)
    except NotFound:
        abort(404)
    try:
        case_migration.undo(current_user, migration_id)
    except NotSaved as err:
        return _preview_page(flow, f"The move could not be undone: {err}", 409)
    return redirect(url_for("versions.migration", flow=flow, done="The move was undone: the case is back as it was"))
