"""The steering-group figures (§4.11, §14) for a quarter or any range of dates: page, print view and CSV."""

import csv
import io
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask_login import current_user, login_required

from app import policy
from app.services import figures, periods

bp = Blueprint("figures", __name__, url_prefix="/figures")

PERIOD_FIELDS = ("from", "to", *(f"{end}-{part}" for end in ("from", "to") for part in ("day", "month", "year")))


def _allowed() -> None:
    if not policy.can_see_figures(current_user):
        abort(403, "The steering-group figures are for team and service managers.")


def _asked() -> dict[str, str]:
    return {name: request.args.get(name, "")[:20] for name in PERIOD_FIELDS}


def _figures_or_errors() -> tuple[figures.Figures | None, dict[str, str], dict[str, str]]:
    asked = _asked()
    try:
        period = figures.period_from(asked, periods.today_in_london())
    except periods.PeriodInvalid as refused:
        return None, refused.errors, asked
    # The boxes show the period worked out, so a quarter chosen by a link can be changed by hand.
    for end, day in (("from", period.first), ("to", period.last)):
        if not any(asked[f"{end}-{p}"] for p in ("day", "month", "year")):
            asked.update({f"{end}-day": str(day.day), f"{end}-month": str(day.month), f"{end}-year": str(day.year)})
    return figures.compute(period), {}, asked


@bp.route("")
@login_required
@policy.declare("can_see_figures")
def overview() -> Any:
    _allowed()
    found, errors, asked = _figures_or_errors()
    return render_template(
        "figures/overview.html",
        figures=found,
        errors=[{"text": text, "href": f"#{name}" if "-" in name else f"#{name}-day"} for name, text in errors.items()],
        error_for=errors,
        asked=asked,
        quarters=figures.recent_quarters(periods.today_in_london()),
        may_export_census=policy.can_export_census(current_user),
    ), (400 if errors else 200)


@bp.route("/print")
@login_required
@policy.declare("can_see_figures")
def printable() -> Any:
    _allowed()
    found, errors, _asked_values = _figures_or_errors()
    if found is None:
        abort(400, "; ".join(errors.values()))
    return render_template("figures/print.html", figures=found)


@bp.route("/export.csv")
@login_required
@policy.declare("can_see_figures")
def export() -> Any:
    _allowed()
    found, errors, _asked_values = _figures_or_errors()
    if found is None:
        abort(400, "; ".join(errors.values()))
    out = io.StringIO()
    csv.writer(out).writerows(figures.as_rows(found))
    period = found.period
    name = f"compass-figures-{period.first.isoformat()}-to-{period.last.isoformat()}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
