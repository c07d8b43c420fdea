"""A case on its diagrams: each flow it went through, in the order started, with every step marked completed,
active, overdue or failed, and the same marks in words. The expected marks are read off the diagrams by hand:
the path the scenario's answers take through processes/initial_contact.bpmn and processes/mat.bpmn."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select
from support import diagram_files, duration, user

import handlers
from app.engine import specs
from app.extensions import db
from app.models import AuditEvent, Case, ProcessBundle, Task
from app.services import bundles, case_diagram, scenarios, workflow
from app.services.errors import Forbidden, ReasonNeeded
from app.services.restricted import open_with_reason, restrict

# The initial contact of an anonymous NSPCC call about one child, decided s17 with no consent and a referrer who
# does not work with the family: every element on its path, in the per-child part (decide_child) too.
INITIAL_CONTACT_PATH = {
    "contact_received": "completed",
    "how_begun": "completed",  # a new contact, not a hand-over
    "record_contact": "completed",
    "find_history": "completed",
    "fire_gateway": "completed",  # no fire risk
    "fire_done": "completed",
    "allegation_gateway": "completed",  # no allegation
    "allegation_done": "completed",
    "route_gateway": "completed",  # a concern
    "decide_each_child": "completed",
    "child_to_decide": "completed",
    "decided_before": "completed",  # not decided at triage
    "open_case_gateway": "completed",  # not open to social care
    "start_review": "completed",
    "ssw_review": "completed",
    "more_information_gateway": "completed",  # decide now
    "ssw_decision": "completed",
    "threshold_gateway": "completed",  # s17
    "consent_gateway": "completed",  # not obtained
    "referrer_gateway": "completed",  # does not work with the family
    "to_mat": "completed",
    "handover_mat": "completed",
    "routes_done": "completed",
    "collect_outcomes": "completed",
    "write_letters": "completed",
    "any_handover": "completed",  # yes: the child went to MAT
    "awaiting_handover": "completed",
}
MAT_REACHED = {"handed_over": "completed", "join_meeting": "completed", "share_records": "completed"}
CHECKS = ("police_check", "health_check", "social_care_check")


def scenario_case(flow: str, stem: str, clock) -> Case:
    scenario = json.loads((bundles.PROCESSES_DIR / flow / "scenarios" / f"{stem}.json").read_text(encoding="utf-8"))
    result = scenarios.run(scenario, advance=lambda text: clock.shift(duration(text)))
    assert result.mismatches == [], result.mismatches
    case = db.session.get(Case, result.case_id)
    assert case is not None
    return case


def complete(case: Case, bpmn_id: str, role: str, data: dict) -> None:
    task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == bpmn_id))
    assert task is not None, bpmn_id
    workflow.complete_task(user(role), task.id, data)


def test_a_case_handed_from_the_initial_contact_to_mat_shows_both_flows_marked(fresh, clock) -> None:
    case = scenario_case("initial_contact", "s17_no_consent_referrer_not_with_family_goes_to_mat", clock)

    view = case_diagram.for_user(user("service_manager"), case.id)
    assert [(f.instance.flow, f.instance.status) for f in view.flows] == [
        ("initial_contact", "completed"),
        ("mat", "running"),
    ]
    contact, mat = view.flows
    assert contact.markers == INITIAL_CONTACT_PATH
    # Each of the three agencies' checks waits, none of them late yet (due at 10:00 the next working day).
    assert mat.markers == MAT_REACHED | dict.fromkeys(CHECKS, "active")
    assert '<bpmn:process id="mat"' in mat.diagrams[0] and len(mat.diagrams) == 1

    # In words: what is waiting first, then what was done in the order the flow reached it. Unnamed joins
    # are left out of the words (they are marked on the drawing).
    assert [(s.name, s.words) for s in mat.steps] == [
        ("Share what health records show", "Waiting"),
        ("Share what police records show", "Waiting"),
        ("Share what social care records show", "Waiting"),
        ("Handed over from the initial contact", "Done"),
        ("Put the child on the next meeting's list", "Done"),
        ("Each agency checks its own records", "Done"),
    ]
    words = [s.name for s in contact.steps]
    assert words[:4] == [
        "Contact received",
        "Handed over for a referral?",
        "Record the contact",
        "Find each child's history",
    ]
    assert (
        words.index("Decide for each child")
        < words.index("Review the contact")
        < words.index("Collect each child's outcome")
    )
    assert words[-1] == "Awaiting hand-over"
    assert len(words) == len(INITIAL_CONTACT_PATH) - 3  # fire_done, allegation_done and routes_done have no name
    assert contact.counts == {"failed": 0, "overdue": 0, "active": 0, "completed": 24}

    # The police share what they hold; two days on, health and social care have not: their checks are overdue.
    complete(case, "police_check", "police", _police())
    clock.shift(timedelta(days=2))
    _, mat = case_diagram.for_user(user("service_manager"), case.id).flows
    assert mat.markers == MAT_REACHED | {
        "police_check": "completed",
        "health_check": "overdue",
        "social_care_check": "overdue",
    }
    assert [(s.bpmn_id, s.words) for s in mat.steps][:2] == [
        ("health_check", "Overdue"),
        ("social_care_check", "Overdue"),
    ]


def _police() -> dict:
    """The police check's answers, as its scenario gives them."""
    scenario = json.loads(
        (bundles.PROCESSES_DIR / "mat" / "scenarios" / "further_checks_then_progress_to_referral.json").read_text()
    )
    return next(s["data"] for s in scenario["steps"] if s.get("task") == "police_check")


@handlers.handler("test_diagram_partner_down")
def _down(ctx: handlers.Context) -> handlers.Result:
    raise ConnectionError("the partner's system did not answer")


def test_a_failed_step_is_marked_failed_and_said_so_first(fresh) -> None:
    # The failed-steps test diagram, its partner step pointed at a handler that always fails.
    files, forms = diagram_files("flaky_partner")
    files = {name: text.replace("test_flaky_partner", "test_diagram_partner_down") for name, text in files.items()}
    broken = ProcessBundle(flow="flaky_partner", hash=specs.bundle_hash(files, forms), files=files, forms=forms)
    db.session.add(broken)
    case = Case(reference="T-diagram", source="phone", created_by_id=user("ssw").id)
    db.session.add(case)
    db.session.flush()
    workflow.start_instance(case, broken, user("ssw"), {"children": ["Ada"]})
    db.session.commit()
    complete(case, "note", "ssw", {"finding": "The note."})

    [flow] = case_diagram.for_user(user("team_manager"), case.id).flows
    assert flow.instance.status == "failed"
    assert flow.markers == {"start": "completed", "note": "completed", "notify_partner": "failed"}
    assert (flow.failed_step, flow.error) == ("notify_partner", "ConnectionError: the partner's system did not answer")
    assert [(s.name, s.words) for s in flow.steps] == [
        ("Notify the partner agency", "Failed"),
        ("Contact in", "Done"),
        ("Write the note", "Done"),
    ]


def test_the_lado_flow_is_only_for_those_who_may_see_it(fresh, clock) -> None:
    case = scenario_case("initial_contact", "allegation_against_a_teacher_goes_to_the_lado", clock)
    manager = case_diagram.for_user(user("service_manager"), case.id)
    assert [f.instance.flow for f in manager.flows] == ["initial_contact", "lado"]
    assert manager.flows[1].markers == {
        "allegation_received": "completed",
        "start_clock": "completed",
        "open_allegation": "completed",
        "initial_consideration": "active",
    }
    team = case_diagram.for_user(user("team_manager"), case.id)
    assert [f.instance.flow for f in team.flows] == ["initial_contact"]
    assert all(e.flow != "lado" for e in team.events)
    assert len(team.events) < len(manager.events)  # the LADO's own entries are left out


def test_who_may_see_a_case_on_its_diagrams(fresh, clock) -> None:
    case = scenario_case("initial_contact", "s17_no_consent_referrer_not_with_family_goes_to_mat", clock)
    for role in ("ssw", "fpoc", "police", "health", "process_owner", "admin", "lado"):
        with pytest.raises(Forbidden) as refused:
            case_diagram.for_user(user(role), case.id)
        assert not isinstance(refused.value, ReasonNeeded), role
    viewed = select(AuditEvent).where(AuditEvent.case_id == case.id, AuditEvent.name == "CASE_VIEWED")
    before = len(db.session.scalars(viewed).all())
    case_diagram.for_user(user("team_manager"), case.id)
    assert len(db.session.scalars(viewed).all()) == before + 1  # a look at the case, on the record

    restrict(user("service_manager"), case.id, "The family of a member of staff")
    db.session.commit()
    with pytest.raises(ReasonNeeded):
        case_diagram.for_user(user("team_manager"), case.id)
    with pytest.raises(Forbidden) as refused:
        case_diagram.for_user(user("ssw"), case.id)  # never asked for a reason it could not use
    assert not isinstance(refused.value, ReasonNeeded)
    open_with_reason(user("team_manager"), case.id, "Checking where the triage stands")
    db.session.commit()
    assert len(case_diagram.for_user(user("team_manager"), case.id).flows) == 2


def test_split_failure() -> None:
    assert case_diagram.split_failure("notify: ConnectionError: down") == ("notify", "ConnectionError: down")
    assert case_diagram.split_failure("?: No conditions satisfied") == (None, "No conditions satisfied")
    assert case_diagram.split_failure(None) == (None, None)
