"""The front-door part of the Children in Need census: checked, shown to the manager, then downloaded."""

from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask_login import current_user, login_required

from app import policy
from app.services import census, periods
from app.web.paging import page_number

bp = Blueprint("census", __name__, url_prefix="/census")

REFUSED = "The census return names every referred child: only the service manager exports it."
FIELDS = ("from", "to", *(f"{n}-{p}" for n in ("from", "to") for p in ("day", "month", "year")))
FINDINGS_PER_PAGE = 50


def _allowed() -> None:
    if not policy.can_export_census(current_user):
        abort(403, REFUSED)


def _asked() -> dict[str, str]:
    return {k: request.args.get(k, "")[:20] for k in FIELDS}


def _boxes(period: census.Period) -> dict[str, str]:
    """The form's day, month and year boxes filled with a period."""
    form: dict[str, str] = {}
    for name, day in (("from", period.first), ("to", period.last)):
        form |= {f"{name}-day": str(day.day), f"{name}-month": str(day.month), f"{name}-year": str(day.year)}
    return form


@bp.route("")
@login_required
@policy.declare("can_export_census")
def check() -> Any:
    _allowed()
    asked = _asked()
    today = periods.today_in_london()
    if not any(asked.values()):
        form = _boxes(census.census_year_of(today))
        return render_template("census/check.html", form=form, errors={}, result=None)
    try:
        period = census.period_from(asked, today)
    except periods.PeriodInvalid as err:
        return render_template("census/check.html", form=asked, errors=err.errors, result=None), 400
    result = census.export(period)
    checked = census.check_return(result)
    # A page past the end shows the last one, as the dashboard does.
    last_page = max(1, -(-len(checked.findings) // FINDINGS_PER_PAGE))
    page = min(page_number(request.args.get("page")), last_page)
    shown = checked.findings[(page - 1) * FINDINGS_PER_PAGE : page * FINDINGS_PER_PAGE]
    return render_template(
        "census/check.html",
        form=_boxes(period),
        errors={},
        result=result,
        checked=checked,
        shown=shown,
        page=page,
        per_page=FINDINGS_PER_PAGE,
        not_known=census.NOT_KNOWN_HERE,
        own_check=census.OWN_CHECK,
    )


@bp.route("/download")
@login_required
@policy.declare("can_export_census")
def download() -> Any:
    _allowed()
    try:
        period = census.period_from(_asked(), periods.today_in_london())
    except periods.PeriodInvalid as err:
        abort(400, f"The census return could not be made for these dates. {err}.")
    result = census.export(period)
    census.record_export(current_user, result)
    return Response(
        result.xml,
        mimetype="application/xml",
        headers={
            "Content-Disposition": f'attachment; filename="{period.filename()}"',
            # It names children's dates of birth: no shared or browser cache keeps a copy.
            "Cache-Control": "no-store",
        },
    )
