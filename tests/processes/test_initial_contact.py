"""The initial-contact diagram, driven by the scenario data beside it.

Every scenario runs through the real services on a real database; after every step the task mirror must
equal the engine's ready tasks; and together the scenarios must take every sequence flow of the diagram.
"""

from pathlib import Path

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Case, Task
from app.services import bundles, contacts, scenarios, workflow

FLOW = "initial_contact"
SCENARIOS = list(scenarios.load(FLOW))


def test_there_are_scenarios() -> None:
    assert len(SCENARIOS) >= 10


@pytest.mark.parametrize(("path", "scenario"), SCENARIOS, ids=[p.stem for p, _ in SCENARIOS])
def test_scenario(fresh, path: Path, scenario: dict) -> None:
    result = scenarios.run(scenario)
    assert result.mismatches == []


def test_every_sequence_flow_is_taken(fresh) -> None:
    bundle = bundles.parsed(bundles.live_bundle(FLOW))
    flows = bundle.sequence_flows()
    taken: dict[str, list[str]] = {f.id: [] for f in flows}
    for _path, scenario in SCENARIOS:
        result = scenarios.run(scenario)
        assert result.mismatches == [], scenario["name"]
        for f in flows:
            if (f.source, f.target) in result.flow_pairs:
                taken[f.id].append(scenario["name"])
    report = "\n".join(f"{fid:40} {len(names)} scenario(s)" for fid, names in sorted(taken.items()))
    never = sorted(fid for fid, names in taken.items() if not names)
    Path("test-results").mkdir(exist_ok=True)
    Path("test-results/coverage-initial_contact.txt").write_text(report + "\n")
    assert len(flows) > 30
    assert never == [], f"sequence flows no scenario takes: {never}\n{report}"


def test_a_scenario_that_expects_the_wrong_outcome_is_caught(fresh) -> None:
    _path, scenario = next((p, s) for p, s in SCENARIOS if p.stem == "s17_consent_given")
    wrong = {**scenario, "expect": {**scenario["expect"], "outcomes": {"child-1": "no_further_action"}}}
    result = scenarios.run(wrong)
    assert result.mismatches == [
        "outcomes: expected {'child-1': 'no_further_action'}, got {'child-1': 'progress_to_referral'}"
    ]


def test_each_child_has_an_outcome_as_soon_as_that_child_is_decided(fresh) -> None:
    _path, scenario = next((p, s) for p, s in SCENARIOS if p.stem == "two_children_decided_apart_unsafe_address")
    case = contacts.record_contact(scenarios.demo_user("fpoc"), scenario["start"])
    ben = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.subject == "Ben Example"))
    workflow.complete_task(
        scenarios.demo_user("ssw"),
        ben.id,
        {"threshold": "s47", "parents_told": "yes", "rationale": "Unexplained bruising on a three-year-old."},
    )
    db.session.expire_all()
    children = {c.person.name: c for c in db.session.get(Case, case.id).children}
    assert (children["Ben Example"].outcome, children["Ben Example"].handover) == (
        "progress_to_referral",
        "strategy_discussion",
    )
    assert children["Amy Example"].outcome is None and children["Amy Example"].decided_at is None
