"""Each step of a case taken by a process that has never seen it: a second web worker, or the app after a
restart. Every scenario of the flows that repeat a subprocess per child must end exactly as it does when one
process runs it from start to end. (Once, a per-child subprocess finished in a fresh process never told its
call activity, so the initial contact stayed open for ever.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import time_machine
from support import SCENARIO_START, duration

from app.engine import recent, specs
from app.services import scenarios

# The flows with a call activity repeated per child: the initial contact's decision for each child, and the
# domestic-abuse triage's routing of each child.
FLOWS = ["initial_contact", "da_triage"]


def forget_every_workflow() -> None:
    """What a process that has just started has: no parsed diagram, no workflow kept from a page."""
    specs._cache.clear()
    recent.clear()


def _all() -> list[tuple[str, Path, dict[str, Any]]]:
    return [(flow, path, scenario) for flow in FLOWS for path, scenario in scenarios.load(flow)]


@pytest.mark.parametrize(("flow", "path", "scenario"), _all(), ids=lambda v: v.stem if isinstance(v, Path) else None)
def test_a_scenario_taken_step_by_step_by_fresh_processes_ends_the_same(
    fresh: Any, flow: str, path: Path, scenario: dict[str, Any]
) -> None:
    with time_machine.travel(SCENARIO_START, tick=False) as clock:
        result = scenarios.run(
            scenario, advance=lambda text: clock.shift(duration(text)), before_each_step=forget_every_workflow
        )
    assert result.mismatches == [], f"{flow}/{path.name}"
