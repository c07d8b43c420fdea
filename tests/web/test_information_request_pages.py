"""The information-request pages: logging a request (bad input kept and nothing saved), the register of
requests and disclosures (listed, filtered, paged), and the request's subject never shown to a partner (§13)."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import func, select
from support import user

from app.extensions import db
from app.models import AuditEvent, Case, Task
from app.models.information_requests import InformationRequest
from app.services import bundles, information_requests, workflow

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
SCENARIOS = bundles.PROCESSES_DIR / "information_request" / "scenarios"


def scenario(stem: str) -> dict[str, Any]:
    return json.loads((SCENARIOS / f"{stem}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def posted(**changes: str) -> list[tuple[str, str]]:
    """A request as the browser posts it, with `changes` replacing or adding answers."""
    answers = {
        "agency": "cafcass",
        "requester_name": "Jo Asker",
        "requester_email": "jo.asker@cafcass.example.gov.uk",
        "subjects.0._item": "1",
        "subjects.0.name": "Zara Subject",
        "subjects.0.date_of_birth-day": "12",
        "subjects.0.date_of_birth-month": "4",
        "subjects.0.date_of_birth-year": "2016",
        "asked": "Any contacts about Zara since 2023.",
        "why": "A section 7 report ordered by the family court.",
        "ground": "court_order",
    }
    answers.update(changes)
    return [(k, v) for k, v in answers.items() if v is not None]


def count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def test_a_coordinator_logs_a_request_and_lands_on_its_case(web, clock) -> None:
    web.login("coordinator")
    response = web.post("/information-requests/new", posted(), expect=302)
    case = db.session.scalar(select(Case).where(Case.request_type == "information_request"))
    assert response.headers["Location"].startswith(f"/cases/{case.id}")
    assert [p.person.name for p in case.people] == ["Zara Subject"]
    task = db.session.scalar(select(Task).where(Task.case_id == case.id))
    assert (task.bpmn_id, task.lane) == ("routine_checks", "business_support")
    page = web.get(f"/cases/{case.id}")
    assert "Request for information logged" in page and "Zara Subject" in page


def test_bad_input_shows_the_error_summary_keeps_the_answers_and_saves_nothing(web, clock) -> None:
    web.login("business_support")
    response = web.post(
        "/information-requests/new",
        posted(requester_email="jo at cafcass", asked="", agency="other"),
        expect=400,
    )
    page = response.get_data(as_text=True)
    assert "govuk-error-summary" in page and "There is a problem" in page
    assert "Enter an e-mail address in the correct format" in page
    assert "Enter what information they ask for" in page
    assert "Enter the name of the agency or local authority" in page
    assert 'href="#requester_email"' in page
    # What the user typed is still there for them to correct.
    assert 'value="jo at cafcass"' in page and 'value="Zara Subject"' in page
    assert "A section 7 report ordered by the family court." in page
    assert (count(Case), count(InformationRequest), count(Task)) == (0, 0, 0)


def test_adding_a_person_redraws_the_form_without_errors(web, clock) -> None:
    web.login("ssw")
    response = web.post("/information-requests/new", posted(_action="add:subjects"), expect=200)
    page = response.get_data(as_text=True)
    assert "govuk-error-summary" not in page
    assert 'name="subjects.1.name"' in page and 'value="Zara Subject"' in page
    assert count(Case) == 0


@pytest.mark.parametrize("role", ["fpoc", "partner", "police", "health", "team_manager", "lado"])
def test_only_the_hub_s_loggers_may_log_a_request(web, clock, role: str) -> None:
    web.login(role)
    web.get("/information-requests/new", expect=403)


def _log(stem: str, role: str = "coordinator", **changes: Any) -> Case:
    return information_requests.log_request(user(role), {**scenario(stem)["start"], **changes})


def _finish(case: Case, stem: str) -> None:
    for step in scenario(stem)["steps"]:
        if "task" not in step:
            continue
        task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == step["task"]))
        workflow.complete_task(user(step["as"]), task.id, step["data"])


def test_the_register_lists_every_request_with_its_ground_decision_and_disclosure(web, clock) -> None:
    disclosed = _log("cafcass_court_order_disclosed_in_full")
    _finish(disclosed, "cafcass_court_order_disclosed_in_full")
    refused = _log("probation_legal_obligation_refused")
    _finish(refused, "probation_legal_obligation_refused")
    waiting = _log("other_la_safeguarding_two_people_disclosed")
    web.login("service_manager")
    page = web.get("/information-requests")
    for case in (disclosed, refused, waiting):
        assert f'href="/cases/{case.id}"' in page and case.reference in page
    assert "CAFCASS" in page and "Probation" in page and "Herefordshire Council" in page
    assert "Court order" in page and "Legal obligation" in page and "Safeguarding" in page
    assert "Disclosed" in page and "Refused" in page and "Routine checks" in page
    assert "Tuesday 24 November 2026" in page or "24 November 2026" in page
    assert "3 requests" in page


def test_the_register_filters_by_agency_and_decision(web, clock) -> None:
    disclosed = _log("cafcass_court_order_disclosed_in_full")
    _finish(disclosed, "cafcass_court_order_disclosed_in_full")
    refused = _log("probation_legal_obligation_refused")
    _finish(refused, "probation_legal_obligation_refused")
    waiting = _log("police_investigation_disclosed_in_part")
    web.login("ssw")
    by_agency = web.get("/information-requests?agency=probation")
    assert refused.reference in by_agency
    assert disclosed.reference not in by_agency and waiting.reference not in by_agency
    by_decision = web.get("/information-requests?decision=disclose_all")
    assert disclosed.reference in by_decision and refused.reference not in by_decision
    undecided = web.get("/information-requests?decision=undecided")
    assert waiting.reference in undecided and disclosed.reference not in undecided
    nothing = web.get("/information-requests?agency=cafcass&decision=refuse")
    assert "There are no requests for information that match these filters" in nothing
    # A filter value that is not one of the choices is ignored, never an error.
    everything = web.get("/information-requests?agency=nonsense&decision=<b>&page=x")
    assert all(c.reference in everything for c in (disclosed, refused, waiting))


def test_the_register_pages_with_govuk_pagination(web, clock) -> None:
    creator = user("coordinator")
    for n in range(information_requests.PAGE_SIZE + 3):
        case = Case(
            reference=f"CT-9{n:05d}", source="agency", request_type="information_request", created_by_id=creator.id
        )
        db.session.add(case)
        db.session.flush()
        db.session.add(
            InformationRequest(
                case_id=case.id,
                agency="fostering",
                requester_name="Ruth Assessor",
                requester_email="ruth@fostering.example.org",
                asked="History",
                why="Assessment",
                ground="consent",
                received_at=NOW - timedelta(minutes=n),
            )
        )
    db.session.commit()
    web.login("business_support")
    first = web.get("/information-requests?agency=fostering")
    assert "govuk-pagination" in first
    assert "CT-900000" in first and f"CT-9{information_requests.PAGE_SIZE:05d}" not in first
    assert 'href="/information-requests?agency=fostering&amp;page=2"' in first
    second = web.get("/information-requests?agency=fostering&page=2")
    assert f"CT-9{information_requests.PAGE_SIZE:05d}" in second and "CT-900000" not in second
    beyond = web.get("/information-requests?agency=fostering&page=99")  # the last page, not an error
    assert f"CT-9{information_requests.PAGE_SIZE + 2:05d}" in beyond


def test_a_request_in_full_shows_exactly_what_was_disclosed_and_why(web, clock) -> None:
    stem = "police_investigation_disclosed_in_part"
    case = _log(stem)
    _finish(case, stem)
    decision = scenario(stem)["steps"][1]["data"]
    web.login("team_manager")
    assert f'href="/information-requests/{case.id}"' in web.get("/information-requests")
    page = html.unescape(web.get(f"/information-requests/{case.id}"))
    assert "Liam Probe, born 30 January 1990" in page
    assert decision["disclosure"] in page and decision["rationale"] in page
    assert "Disclose part" in page and "Investigation that would be prejudiced" in page
    assert "Senior social worker" in page or user("ssw").name in page
    viewed = db.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.name == "CASE_VIEWED", AuditEvent.case_id == case.id)
    )
    assert viewed == 1
    web.get("/information-requests/999999", expect=404)


@pytest.mark.parametrize("role", ["ssw", "team_manager", "service_manager", "business_support", "coordinator"])
def test_the_register_is_open_to_the_hub_s_readers(web, clock, role: str) -> None:
    web.login(role)
    assert "Requests for information" in web.get("/information-requests")


def test_a_request_s_subject_is_never_shown_to_a_partner(web, clock) -> None:
    case = _log("police_investigation_disclosed_in_part")
    _finish(case, "police_investigation_disclosed_in_part")
    waiting = _log("cafcass_court_order_disclosed_in_full")
    subjects = ["Liam Probe", "Ava Court"]
    web.login("partner")
    web.get("/information-requests", expect=403)
    web.get("/information-requests/new", expect=403)
    for c in (case, waiting):
        assert not any(name in web.get(f"/information-requests/{c.id}", expect=403) for name in subjects)
        page = web.get(f"/cases/{c.id}", expect=403)
        assert not any(name in page for name in subjects)
    for url in ("/cases", "/tasks", "/tasks/team", "/people/search?q=Liam+Probe"):
        response = web.client.get(url)
        assert not any(name in response.get_data(as_text=True) for name in subjects), url


def test_a_request_is_kept_from_hub_staff_who_do_not_read_the_register(web, clock) -> None:
    """The call handler sees every contact, but not what another agency asked about a person."""
    case = _log("cafcass_court_order_disclosed_in_full")
    web.login("fpoc")
    assert case.reference not in web.get("/cases")
    assert "Ava Court" not in web.get(f"/cases/{case.id}", expect=403)
    page = web.another().login("ssw").get(f"/cases/{case.id}")
    assert case.reference in page and "Ava Court" in page and "The request is about them" in page
