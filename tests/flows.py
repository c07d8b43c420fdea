"""Shared by the flows' scenario tests: a scenario run on the fake clock, every scenario of a flow walked for
its sequence-flow coverage (the report goes to test-results/coverage-<flow>.txt), and single steps taken
through the services as a demo user of the step's role."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import time_machine
from sqlalchemy import select
from support import SCENARIO_START, duration, start_afresh

from app.extensions import db
from app.models import Task
from app.services import bundles, scenarios, workflow

Scenarios = Iterable[tuple[Path, dict[str, Any]]]


def run_scenario(scenario: dict[str, Any], start: datetime = SCENARIO_START) -> scenarios.ScenarioResult:
    """One scenario from `start` on a fake clock that its "advance" steps move (the library's clock too)."""
    with time_machine.travel(start, tick=False) as clock:
        return scenarios.run(scenario, advance=lambda text: clock.shift(duration(text)))


def scenario_copy(found: Scenarios, stem: str) -> dict[str, Any]:
    """A scenario by its file name, to change for one test without touching the others."""
    return copy.deepcopy(next(s for p, s in found if p.stem == stem))


def complete(case_id: int, bpmn_id: str, role: str, data: dict[str, Any]) -> None:
    """Complete the case's ready task `bpmn_id` as the demo user of `role`."""
    task = db.session.scalar(
        select(Task).where(Task.case_id == case_id, Task.bpmn_id == bpmn_id).order_by(Task.created_at)
    )
    assert task is not None, f"no ready {bpmn_id}"
    workflow.complete_task(scenarios.demo_user(role), task.id, data)


def open_tasks(case_id: int) -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(select(Task.bpmn_id).where(Task.case_id == case_id)))


@dataclass
class Coverage:
    flows: int  # how many sequence flows the diagram has
    never: list[str]  # those no scenario takes
    report: str


def walk_every_scenario(
    flow: str,
    found: Scenarios,
    look: Callable[[scenarios.ScenarioResult], None] | None = None,
    start: datetime = SCENARIO_START,
) -> Coverage:
    """Run each scenario on its own (an empty database each time: a child's earlier referrals would count),
    require every one to pass (all of them are run, and every one that does not is named), note the sequence
    flows of `flow` each takes, and hand each result to `look` for the test's own checks (every outcome
    reached). Writes the report. This is where each scenario is tested: once, not again for coverage."""
    sequence_flows = bundles.parsed(bundles.live_bundle(flow)).sequence_flows()
    taken: dict[str, list[str]] = {f.id: [] for f in sequence_flows}
    failed: dict[str, list[str]] = {}
    for path, scenario in found:
        start_afresh()
        result = run_scenario(scenario, start)
        if result.mismatches:
            failed[path.stem] = result.mismatches
            continue
        pairs = result.pairs_by_flow.get(flow, set())
        for f in sequence_flows:
            if (f.source, f.target) in pairs:
                taken[f.id].append(scenario["name"])
        if look is not None:
            look(result)
    assert failed == {}, f"scenarios that did not go as they expect: {failed}"
    width = max((len(fid) for fid in taken), default=0) + 2
    report = "\n".join(f"{fid:{width}} {len(names)} scenario(s)" for fid, names in sorted(taken.items()))
    never = sorted(fid for fid, names in taken.items() if not names)
    Path("test-results").mkdir(exist_ok=True)
    Path(f"test-results/coverage-{flow}.txt").write_text(
        report + f"\n{len(sequence_flows) - len(never)} of {len(sequence_flows)} sequence flows taken\n"
    )
    return Coverage(
        flows=len(sequence_flows), never=never, report=f"sequence flows no scenario takes: {never}\n{report}"
    )
