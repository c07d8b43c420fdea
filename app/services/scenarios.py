"""Scenario data beside each diagram, run through the real services: a contact is recorded, each step is
completed by a demo user of the step's role, and the result is compared with what the scenario expects.

After every step the task mirror must equal the engine's own ready user tasks (DESIGN.md rule 2).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.engine import runtime
from app.extensions import db
from app.models import Case, OutboxItem, ProcessInstance, Task, User
from app.services import bundles, records_import, worker, workflow


@dataclass
class ScenarioResult:
    name: str
    case_id: int
    mismatches: list[str] = field(default_factory=list)
    # (source, target) of every sequence flow taken, per flow: a scenario may walk several linked flows.
    pairs_by_flow: dict[str, set[tuple[str, str]]] = field(default_factory=dict)


# How a scenario's case begins (`"start_with"`, "contact" when absent): each names a service function
# (module:function) taking the demo user and the scenario's `start` data and returning the new case.
STARTERS: dict[str, str] = {
    "contact": "app.services.contacts:record_contact",
    "domestic_abuse_notification": "app.services.da_notifications:record_for_scenario",
    "information_request": "app.services.information_requests:record_for_scenario",
}

# What a scenario may expect of a flow's own records besides the case's: each names a function
# (module:function) taking the case and returning a plain value to compare with the expectation.
EXPECTATIONS: dict[str, str] = {
    "mat": "app.services.mat:scenario_facts",
    "strategy_discussion": "app.services.strategy_discussions:scenario_facts",
    "lado": "app.services.lado:scenario_facts",
    "information_request": "app.services.information_requests:scenario_facts",
    "da_triage": "app.services.da_triage:scenario_facts",
    "da_notification": "app.services.da_notifications:scenario_facts",
}


def _named(target: str) -> Callable[..., Any]:
    import importlib

    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def load(flow: str, processes_dir: Path = bundles.PROCESSES_DIR) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted((processes_dir / flow / "scenarios").glob("*.json")):
        yield path, json.loads(path.read_text(encoding="utf-8"))


def demo_user(role: str) -> User:
    found = db.session.scalar(select(User).where(User.username == f"demo.{role}"))
    if found is None:
        raise LookupError(f"no demo user for the role {role!r}")
    return found


def mirror_mismatch(case_id: int) -> str | None:
    """How the task table differs from the engine's ready user tasks for a case, or None."""
    engine_tasks: set[tuple[str, str, str]] = set()
    for instance in db.session.scalars(select(ProcessInstance).where(ProcessInstance.case_id == case_id)):
        bundle = bundles.parsed(instance.bundle)
        wf = runtime.restore(instance.state, bundle, caller=None)
        engine_tasks |= {(t.id, t.bpmn_id, t.lane or "") for t in runtime.ready_user_tasks(wf, bundle)}
    mirrored = {(t.id, t.bpmn_id, t.lane) for t in db.session.scalars(select(Task).where(Task.case_id == case_id))}
    if engine_tasks == mirrored:
        return None
    return f"mirror {sorted(mirrored)} != engine {sorted(engine_tasks)}"


def run(
    scenario: dict[str, Any],
    advance: Callable[[str], None] | None = None,
    before_each_step: Callable[[], None] | None = None,
) -> ScenarioResult:
    """Run one scenario. A step `{"advance": "PT5H"}` moves the clock with `advance` (the caller's clock,
    a fake one in tests) and wakes the instances whose timers are then due; `{"check": {...}}` compares
    the case with an expectation part-way through. `before_each_step` runs before each step (a test uses it
    to make every step start as if in a process that has never seen the case)."""
    _import_records(scenario)
    start_as = demo_user(scenario.get("start_as", "fpoc"))
    start_with = scenario.get("start_with", "contact")
    if start_with not in STARTERS:
        raise ValueError(f"a scenario cannot start with {start_with!r}")
    case = _named(STARTERS[start_with])(start_as, scenario["start"])
    result = ScenarioResult(scenario["name"], case.id)
    _check_mirror(result, "after the contact was recorded")
    for n, step in enumerate(scenario.get("steps", []), start=1):
        if before_each_step is not None:
            before_each_step()
        if "advance" in step:
            if advance is None:
                result.mismatches.append(f"step {n}: this scenario moves the clock; run it with a clock to move")
                return result
            advance(step["advance"])
            worker.wake_due()
            _check_mirror(result, f"after step {n} (the clock moved {step['advance']})")
            continue
        if "check" in step:
            _compare(result, step["check"], f"step {n}: ")
            continue
        task = _find_task(case.id, step)
        if task is None:
            result.mismatches.append(f"step {n}: no ready task {step['task']!r} {step.get('subject', '')}")
            return result
        workflow.complete_task(demo_user(step["as"]), task.id, step.get("data", {}))
        _check_mirror(result, f"after step {n} ({step['task']})")
    _compare(result, scenario.get("expect", {}))
    for instance in db.session.scalars(select(ProcessInstance).where(ProcessInstance.case_id == case.id)):
        bundle = bundles.parsed(instance.bundle)
        pairs = set(runtime.finished_flow_pairs(runtime.restore(instance.state, bundle, caller=None)))
        result.pairs_by_flow.setdefault(instance.flow, set()).update(pairs)
    return result


def _flows(case_id: int) -> dict[str, Any]:
    """Each flow of the case and how its episode stands: {"initial_contact": "completed", "mat": "running"};
    a flow run more than once on the case (two children each in a strategy discussion) gives a sorted list."""
    statuses: dict[str, list[str]] = {}
    for instance in db.session.scalars(select(ProcessInstance).where(ProcessInstance.case_id == case_id)):
        statuses.setdefault(instance.flow, []).append(instance.status)
    return {flow: found[0] if len(found) == 1 else sorted(found) for flow, found in statuses.items()}


def _find_task(case_id: int, step: dict[str, Any]) -> Task | None:
    query = select(Task).where(Task.case_id == case_id, Task.bpmn_id == step["task"])
    if "subject" in step:
        query = query.where(Task.subject == step["subject"])
    return db.session.scalars(query.order_by(Task.created_at)).first()


def _check_mirror(result: ScenarioResult, when: str) -> None:
    problem = mirror_mismatch(result.case_id)
    if problem:
        result.mismatches.append(f"{when}: {problem}")


def _import_records(scenario: dict[str, Any]) -> None:
    """What the council's main record system already holds before the contact (an open case, a past referral)."""
    rows = scenario.get("records") or []
    if not rows:
        return
    report = records_import.import_rows(
        [(n, {k: str(v) for k, v in row.items()}) for n, row in enumerate(rows, start=2)], source="scenario"
    )
    refused = [str(r) for r in report.rows if not r.accepted]
    if refused:
        raise ValueError(f"the scenario's records were refused: {refused}")


def _compare(result: ScenarioResult, expect: dict[str, Any], when: str = "") -> None:
    case = db.session.get(Case, result.case_id)
    assert case is not None
    db.session.refresh(case)
    letters = list(db.session.scalars(select(OutboxItem).where(OutboxItem.case_id == case.id)))
    actual = {
        "status": case.status,
        "outcomes": {c.key: c.outcome for c in case.children if c.outcome},
        "handovers": {c.key: c.handover for c in case.children if c.handover},
        "case_handovers": sorted(h.flow for h in case.handovers),
        "referrals": {
            r.child.key: {
                "accepted": r.accepted_at is not None,
                "re_referral": r.re_referral,
                "acknowledged": r.acknowledged_at is not None,
                "outcome": r.outcome,
            }
            for r in case.referrals
        },
        "consents": dict(Counter(c.status for c in case.consents if c.how != "by_referrer")),
        "letters": sorted({i.template for i in letters}),
        "letters_to": dict(Counter(i.recipient_role for i in letters)),
        "open_tasks": sorted(t.bpmn_id for t in db.session.scalars(select(Task).where(Task.case_id == case.id))),
        "flows": _flows(case.id),
    }
    for key, wanted in expect.items():
        if key in EXPECTATIONS and key not in actual:
            actual[key] = _named(EXPECTATIONS[key])(case)
        if key not in actual:
            result.mismatches.append(f"{when}{key}: not something a scenario can expect")
            continue
        got = actual[key]
        if key in {"letters", "case_handovers"}:
            wanted = sorted(wanted) if key == "case_handovers" else sorted(set(wanted))
        if got != wanted:
            result.mismatches.append(f"{when}{key}: expected {wanted!r}, got {got!r}")
