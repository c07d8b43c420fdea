"""Workflows kept after a restore for the next request: handed back only for their very own state, once."""

from typing import Any

import pytest
from support import parsed_test_bundle

from app.engine import recent, runtime


@pytest.fixture(autouse=True)
def _nothing_kept():
    recent.clear()
    yield
    recent.clear()


def _saved(flow: str, *done: str, data: dict | None = None) -> tuple[Any, str]:
    """A bundle and the saved state of an instance of it with the named user tasks completed."""
    bundle = parsed_test_bundle(flow)
    wf, _ = runtime.start(bundle, caller=None, data=data)
    for bpmn_id in done:
        task = next(t for t in runtime.ready_user_tasks(wf, bundle) if t.bpmn_id == bpmn_id)
        assert runtime.complete_user_task(wf, task.id, {"finding": f"{bpmn_id} done"}) is None
    state, _ = runtime.save(wf, max_depth=800)
    return bundle, state


def _ready(wf, bundle) -> list[str]:
    return sorted(t.bpmn_id for t in runtime.ready_user_tasks(wf, bundle))


def test_a_kept_workflow_is_handed_back_once_for_its_own_state() -> None:
    bundle, state = _saved("parallel_checks")
    kept = runtime.restore(state, bundle, caller=None)
    recent.keep((7, 1), state, bundle, kept)
    assert recent.restore((7, 1), state, bundle, caller=None) is kept
    again = recent.restore((7, 1), state, bundle, caller=None)
    assert again is not kept  # taken once: the second request restores a workflow of its own
    assert _ready(again, bundle) == ["health_check", "police_check", "social_care_check"]


def test_a_copy_of_an_older_state_is_never_used() -> None:
    # Another process moved the instance on: the state read now is not the one the kept copy came from.
    bundle, before = _saved("parallel_checks")
    _, after = _saved("parallel_checks", "police_check")
    recent.keep((7, 1), before, bundle, runtime.restore(before, bundle, caller=None))
    wf = recent.restore((7, 1), after, bundle, caller=None)
    assert _ready(wf, bundle) == ["health_check", "social_care_check"]
    # Nor is it kept for later: the older copy is gone.
    assert _ready(recent.restore((7, 1), before, bundle, caller=None), bundle) == [
        "health_check",
        "police_check",
        "social_care_check",
    ]


def test_a_copy_is_not_used_for_another_version_of_the_flow() -> None:
    bundle, state = _saved("parallel_checks")
    other = parsed_test_bundle("relay")
    kept = runtime.restore(state, bundle, caller=None)
    recent.keep((7, 1), state, other, kept)
    assert recent.restore((7, 1), state, bundle, caller=None) is not kept


def test_only_the_newest_are_kept() -> None:
    bundle, state = _saved("parallel_checks")
    kept = {n: runtime.restore(state, bundle, caller=None) for n in range(recent.SIZE + 1)}
    for n, wf in kept.items():
        recent.keep((n, 1), state, bundle, wf)
    assert recent.restore((0, 1), state, bundle, caller=None) is not kept[0]
    assert recent.restore((1, 1), state, bundle, caller=None) is kept[1]
    assert recent.restore((recent.SIZE, 1), state, bundle, caller=None) is kept[recent.SIZE]


def test_the_workflow_handed_back_runs_the_new_callers_handlers() -> None:
    bundle, state = _saved("flaky_partner", data={"children": ["Ada"]})
    recent.keep((7, 1), state, bundle, runtime.restore(state, bundle, caller=None))
    called: list[str] = []

    def caller(name: str, params: dict, data: dict) -> dict:
        called.append(name)
        return {"told": True}

    wf = recent.restore((7, 1), state, bundle, caller)
    note = next(t for t in runtime.ready_user_tasks(wf, bundle) if t.bpmn_id == "note")
    assert runtime.complete_user_task(wf, note.id, {"finding": "seen"}) is None
    assert called == ["test_flaky_partner"]
