"""Finding people already known to the front door, their history, and adding a second call to an open contact."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import policy
from app.extensions import db
from app.services import audit, further_information, people, person_records
from app.services.errors import Forbidden, NotFound, NotSaved
from app.services.involvement import KINDS
from app.web.converters import whole_number

bp = Blueprint("people", __name__)

NO_SEARCH = "Only the hub's own staff search for people. Partners see a case when it asks something of them."


@dataclass
class SearchError:
    text: str
    href: str


@bp.route("/people/search")
@login_required
@policy.declare("can_search_people")
def search() -> Any:
    if not policy.can_search_people(current_user):
        abort(403, NO_SEARCH)
    form = {k: request.args.get(k, "").strip() for k in ("name", "dob-day", "dob-month", "dob-year", "postcode")}
    searched = any(form.values()) or "search" in request.args
    if not searched:
        return render_template("people/search.html", form=form, errors=[], results=None)
    errors: list[SearchError] = []
    dob = _read_dob(form, errors)
    postcode = None
    if form["postcode"]:
        postcode = people.normalise_postcode(form["postcode"])
        if postcode is None:
            errors.append(SearchError("Enter a real postcode, like SY1 1AA", "#postcode"))
    if len(form["name"]) > 200:
        errors.append(SearchError("Name must be 200 characters or fewer", "#name"))
    elif form["name"] and not people.name_key(form["name"]):
        errors.append(SearchError("Name must include letters", "#name"))
    if not errors and not (form["name"] or dob or postcode):
        errors.append(SearchError("Enter a name, a date of birth or a postcode", "#name"))
    if errors:
        return render_template("people/search.html", form=form, errors=errors, results=None), 400
    results = people.match_children(form["name"], dob, postcode, limit=20)
    return render_template("people/search.html", form=form, errors=[], results=results)


def _read_dob(form: dict[str, str], errors: list[SearchError]) -> people.PartialDate | None:
    """A date of birth known to the day, the month or only the year; the GOV.UK messages when it is not one."""
    day, month, year = form["dob-day"], form["dob-month"], form["dob-year"]
    if not (day or month or year):
        return None
    if not year:
        errors.append(SearchError("Date of birth must include a year", "#dob-year"))
        return None
    if day and not month:
        errors.append(SearchError("Date of birth must include a month when it includes a day", "#dob-month"))
        return None
    if whole_number(year, 4) is None or len(year) != 4:
        errors.append(SearchError("Year must include 4 numbers", "#dob-year"))
        return None
    if int(year) < 1900:
        errors.append(SearchError("Year must be 1900 or later", "#dob-year"))
        return None
    if month and not 1 <= (whole_number(month, 2) or 0) <= 12:
        errors.append(SearchError("Month must be a number between 1 and 12", "#dob-month"))
        return None
    text = year + (f"-{int(month):02d}" if month else "")
    if day:
        text += f"-{whole_number(day, 2):02d}" if whole_number(day, 2) is not None else "-x"
    found = people.partial_date(text)
    if found is None:
        errors.append(SearchError("Date of birth must be a real date", "#dob-day"))
        return None
    if found.bounds()[0] > date.today():
        errors.append(SearchError("Date of birth must be in the past", "#dob-year"))
        return None
    return found


@bp.route("/people/<int:person_id>")
@login_required
@policy.declare("can_search_people")
def person(person_id: int) -> Any:
    if not policy.can_search_people(current_user):
        abort(403, NO_SEARCH)
    history = people.person_history(person_id)
    if history is None:
        abort(404)
    if history.person.merged_into_id:
        # The record lives on in the one it was merged into; its own page would show only half the history.
        return redirect(url_for("people.person", person_id=history.person.merged_into_id, merged=person_id))
    audit.record("PERSON_VIEWED", current_user.id, person_id=person_id)
    db.session.commit()
    return render_template(
        "people/person.html",
        history=history,
        kinds=KINDS,
        may_add=policy.can_record_contact(current_user),
        relationships=person_records.relationships(person_id),
        duplicates=person_records.possible_duplicates(history.person),
        merged=request.args.get("merged", type=int),
    )


@bp.route("/people/<int:person_id>/compare/<int:other_id>", methods=["GET", "POST"])
@login_required
@policy.declare("can_search_people")
def compare(person_id: int, other_id: int) -> Any:
    """Two records side by side, with the choice to merge the second into the first."""
    if not policy.can_search_people(current_user):
        abort(403, NO_SEARCH)
    try:
        comparison = person_records.compare(person_id, other_id)
    except NotFound:
        abort(404)
    except NotSaved as err:
        abort(409, str(err))
    if request.method == "POST":
        try:
            person_records.merge(current_user, person_id, other_id)
        except Forbidden as err:
            abort(403, str(err))
        except NotSaved as err:
            abort(409, str(err))
        return redirect(url_for("people.person", person_id=person_id, merged=other_id))
    for shown in (person_id, other_id):
        audit.record("PERSON_VIEWED", current_user.id, person_id=shown)
    db.session.commit()
    return render_template(
        "people/compare.html", comparison=comparison, kinds=KINDS, may_merge=policy.can_merge_people(current_user)
    )


@bp.route("/cases/<int:case_id>/further-information", methods=["GET", "POST"])
@login_required
@policy.declare("can_record_contact")
def further_info(case_id: int) -> Any:
    try:
        case = further_information.open_case_for(current_user, case_id)
    except NotFound:
        abort(404)
    except Forbidden as err:
        abort(403, str(err))
    except NotSaved as err:
        return render_template("people/not_open.html", message=str(err), case_id=case_id), 409
    if request.method == "GET":
        answers = dict.fromkeys(further_information.FIELDS, "")
        return render_template("people/further_information.html", case=case, answers=answers, errors=[])
    try:
        further_information.add(current_user, case_id, request.form.to_dict())
    except further_information.InvalidAnswers as invalid:
        return render_template(
            "people/further_information.html", case=case, answers=invalid.answers, errors=invalid.errors
        ), 400
    except NotSaved as err:
        return render_template("people/not_open.html", message=str(err), case_id=case_id), 409
    except Forbidden as err:
        abort(403, str(err))
    return redirect(url_for("cases.case", case_id=case_id, done="Further information added"))
