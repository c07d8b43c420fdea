"""The engine without a database: running, saving and restoring, and the two traps of SpiffWorkflow 3.2.0."""

import json
import logging
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from support import parsed_test_bundle

from app.engine import runtime, serialization


def complete(wf, bundle, bpmn_id: str, **data) -> None:
    task = next(t for t in runtime.ready_user_tasks(wf, bundle) if t.bpmn_id == bpmn_id)
    assert runtime.complete_user_task(wf, task.id, data) is None


def all_task_data(wf) -> dict[str, dict]:
    return {str(t.id): dict(t.data) for t in wf.get_tasks()}


def test_parallel_lanes_are_ready_together_with_their_roles() -> None:
    bundle = parsed_test_bundle("parallel_checks")
    wf, failure = runtime.start(bundle, caller=None)
    assert failure is None
    ready = runtime.ready_user_tasks(wf, bundle)
    assert sorted((t.bpmn_id, t.lane, t.form_id) for t in ready) == [
        ("health_check", "health", "check_note"),
        ("police_check", "police", "check_note"),
        ("social_care_check", "ssw", "check_note"),
    ]


def test_round_trip_keeps_every_value_of_a_parallel_instance() -> None:
    bundle = parsed_test_bundle("parallel_checks")
    wf, _ = runtime.start(bundle, caller=None)
    complete(wf, bundle, "police_check", finding="known to police", when=date(2024, 2, 29), amount=Decimal("12.50"))
    complete(
        wf, bundle, "health_check", finding="overwritten by health", seen_at=datetime(2025, 3, 30, 0, 30, tzinfo=UTC)
    )
    before = all_task_data(wf)
    state, depth = runtime.save(wf, max_depth=800)
    assert '"spec"' not in state[:200] and "parallel_checks" not in json.loads(state).get("spec", "")
    restored = runtime.restore(state, bundle, caller=None)
    assert all_task_data(restored) == before
    values = [d for d in before.values() if "amount" in d]
    assert values and all(isinstance(d["amount"], Decimal) and isinstance(d["when"], date) for d in values)
    assert depth > 3


def _finished_parallel_instance():
    bundle = parsed_test_bundle("parallel_checks")
    wf, _ = runtime.start(bundle, caller=None)
    complete(wf, bundle, "police_check", finding="first")
    complete(wf, bundle, "health_check", finding="second")
    complete(wf, bundle, "social_care_check", finding="third")
    return bundle, wf


def test_reordered_task_keys_lose_data_which_is_why_states_are_never_sorted() -> None:
    """The guard matters: the state depends on the order of its task keys."""
    bundle, wf = _finished_parallel_instance()
    state, _ = runtime.save(wf, max_depth=800)
    assert all_task_data(runtime.restore(state, bundle, caller=None)) == all_task_data(wf)

    dct = json.loads(state)
    dct["tasks"] = dict(reversed(list(dct["tasks"].items())))  # children before their parents
    assert all_task_data(runtime.restore(json.dumps(dct), bundle, caller=None)) != all_task_data(wf)


def test_sorted_keys_as_a_json_provider_or_jsonb_would_write_them_lose_data() -> None:
    losses = 0
    for _ in range(10):
        bundle, wf = _finished_parallel_instance()
        state, _ = runtime.save(wf, max_depth=800)
        sorted_state = json.dumps(json.loads(state), sort_keys=True)
        if all_task_data(runtime.restore(sorted_state, bundle, caller=None)) != all_task_data(wf):
            losses += 1
    assert losses > 0


def test_a_saved_state_holds_no_spec_and_needs_its_bundle() -> None:
    bundle = parsed_test_bundle("parallel_checks")
    wf, _ = runtime.start(bundle, caller=None)
    state, _ = runtime.save(wf, max_depth=800)
    assert "spec" not in json.loads(state)
    with pytest.raises(ValueError, match="not written by Compass"):
        serialization.loads(json.dumps({"tasks": {}}), bundle)


def drive_loop(bundle, wf, times: int) -> int:
    """Complete the looping task up to `times` times; return how many were done before none was ready."""
    for n in range(times):
        ready = runtime.ready_user_tasks(wf, bundle)
        if not ready:
            return n
        assert runtime.complete_user_task(wf, ready[0].id, {"finding": f"round {n}"}) is None
    return times


def test_the_silent_end_trap_is_real_in_the_library() -> None:
    """Left alone, SpiffWorkflow reports a looping instance completed without reaching its end event."""
    bundle = parsed_test_bundle("more_information_loop")
    wf, _ = runtime.start(bundle, caller=None)
    done = drive_loop(bundle, wf, 700)
    assert done < 700  # the loop is bounded at 2000, yet the work stopped
    assert wf.is_completed()
    assert "end" not in runtime.completed_bpmn_ids(wf)
    assert "ask" in runtime.completed_bpmn_ids(wf)


def test_saving_refuses_a_tree_near_the_limit_loudly() -> None:
    bundle = parsed_test_bundle("more_information_loop")
    wf, _ = runtime.start(bundle, caller=None)
    drive_loop(bundle, wf, 250)
    runtime.save(wf, max_depth=800)  # 250 rounds in, still well within the limit
    saved_at = 250
    with pytest.raises(runtime.TreeTooDeep, match="800"):
        for n in range(251, 400):
            drive_loop(bundle, wf, 1)
            runtime.save(wf, max_depth=800)
            saved_at = n
    assert 250 < saved_at < 400  # refused long before the library's silent end near depth 1,000
    assert runtime.ready_user_tasks(wf, bundle)  # and the instance was still alive when refused


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_no_engine_log_record_carries_a_tasks_data_even_with_all_logging_on() -> None:
    bundle = parsed_test_bundle("parallel_checks")
    kept = _Kept()
    root = logging.getLogger()
    was = root.level
    root.addHandler(kept)
    root.setLevel(logging.DEBUG)
    try:
        wf, _ = runtime.start(bundle, caller=None)
        complete(wf, bundle, "police_check", finding="Amy Example is known to police")
        # What SpiffWorkflow would log about a task as it changes, asked directly: the extras hold no data.
        extras = next(iter(wf.get_tasks())).collect_log_extras()
    finally:
        root.removeHandler(kept)
        root.setLevel(was)
    assert "data" not in extras and "internal_data" not in extras
    spiff = [r for r in kept.records if r.name.startswith("spiff")]
    assert all(r.levelno >= logging.WARNING for r in spiff)
    assert not any("Amy Example" in str(vars(r)) for r in kept.records)


def test_engine_loggers_are_set_at_warning() -> None:
    for name in runtime.SPIFF_LOGGERS:
        assert logging.getLogger(name).level == logging.WARNING
