"""A running instance moved to a new version of its flow, without a database: what moves (its tasks, their ids,
data and clocks), what it then runs (the new version's steps), and what is refused, with the reason in words."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from support import SCENARIO_START, diagram_files

from app.engine import runtime, specs
from app.engine.specs import ParsedBundle
from app.engine.versions import MigrationRefused, migrate, migration_preview

NOTE = "versioned_note"
FAMILY = "versioned_family"
EACH = "versioned_each"


def bundle(flow: str, *pairs: tuple[str, str]) -> ParsedBundle:
    files, forms = diagram_files(flow)
    edited = {}
    for name, text in files.items():
        for old, new in pairs:
            assert old in text, old
            text = text.replace(old, new)
        edited[name] = text
    return specs.load(flow, edited, forms)


def caller(name: str, params: dict[str, Any], data: dict[str, Any]) -> Any:
    return {"team": params.get("team")}


def start(parsed: ParsedBundle) -> Any:
    wf, failure = runtime.start(parsed, caller)
    assert failure is None
    return wf


def ready(wf: Any, parsed: ParsedBundle) -> dict[str, runtime.ReadyTask]:
    return {t.id: t for t in runtime.ready_user_tasks(wf, parsed)}


def complete(wf: Any, parsed: ParsedBundle, bpmn_id: str, **data: Any) -> None:
    task = next(t for t in runtime.ready_user_tasks(wf, parsed) if t.bpmn_id == bpmn_id)
    assert runtime.complete_user_task(wf, task.id, data) is None


def saved(wf: Any, parsed: ParsedBundle) -> str:
    runtime.ready_user_tasks(wf, parsed)  # fixes each ready task's due time in the state, as the services do
    return runtime.save(wf, max_depth=800)[0]


def finished_data(wf: Any) -> dict[str, dict[str, Any]]:
    return {str(t.id): dict(t.data) for t in wf.get_tasks() if t.state == 64}  # COMPLETED


RENAMED = ('name="Record the note"', 'name="Write the note down"')
SECOND_LOOK = (
    (
        '<bpmn:sequenceFlow id="f5" sourceRef="confirm" targetRef="outcome"/>',
        '<bpmn:sequenceFlow id="f5" sourceRef="confirm" targetRef="second_look"/>'
        '<bpmn:userTask id="second_look" name="Take a second look">'
        "<bpmn:extensionElements><spiffworkflow:properties>"
        '<spiffworkflow:property name="formJsonSchemaFilename" value="check_note.json"/>'
        "</spiffworkflow:properties></bpmn:extensionElements>"
        "<bpmn:incoming>f5</bpmn:incoming><bpmn:outgoing>f5b</bpmn:outgoing></bpmn:userTask>"
        '<bpmn:sequenceFlow id="f5b" sourceRef="second_look" targetRef="outcome"/>',
    ),
    (
        "<bpmn:incoming>f5</bpmn:incoming><bpmn:outgoing>f6</bpmn:outgoing>",
        "<bpmn:incoming>f5b</bpmn:incoming><bpmn:outgoing>f6</bpmn:outgoing>",
    ),
    (
        "<bpmn:flowNodeRef>done</bpmn:flowNodeRef>",
        "<bpmn:flowNodeRef>done</bpmn:flowNodeRef><bpmn:flowNodeRef>second_look</bpmn:flowNodeRef>",
    ),
)


@pytest.fixture
def clock() -> Any:
    with time_machine.travel(SCENARIO_START, tick=False) as traveller:
        yield traveller


def test_a_ready_task_moves_with_its_id_data_and_due_time_and_takes_its_new_name(clock: Any) -> None:
    v1, v2 = bundle(NOTE), bundle(NOTE, RENAMED)
    wf = start(v1)
    before = ready(wf, v1)
    state = saved(wf, v1)
    clock.shift(timedelta(hours=1))  # the move comes later: the task's clock still runs from when it arrived

    moved = runtime.restore(migrate(state, v1, v2), v2, caller)

    after = ready(moved, v2)
    assert list(after) == list(before)
    (task,) = after.values()
    assert (task.bpmn_id, task.name, task.lane, task.form_id) == ("record", "Write the note down", "ssw", "check_note")
    assert task.due_at == SCENARIO_START + timedelta(hours=4)
    assert finished_data(moved) == finished_data(wf)


def test_a_case_moved_to_a_version_with_a_new_step_takes_that_step_and_one_left_behind_does_not(clock: Any) -> None:
    v1, v2 = bundle(NOTE), bundle(NOTE, *SECOND_LOOK)
    left = start(v1)
    moved = runtime.restore(migrate(saved(start(v1), v1), v1, v2), v2, caller)

    for wf, parsed in ((left, v1), (moved, v2)):
        complete(wf, parsed, "record", finding="Known to the school")
    clock.shift(timedelta(days=1, minutes=1))
    taken = []
    for wf, parsed in ((left, v1), (moved, v2)):
        assert runtime.fire_due_timers(wf) is None
        complete(wf, parsed, "confirm", finding="Confirmed by the school")
        taken.append([t.bpmn_id for t in runtime.ready_user_tasks(wf, parsed)])
    assert taken == [[], ["second_look"]]
    assert runtime.is_completed(left)

    complete(moved, v2, "second_look", finding="Looked again")
    assert runtime.is_completed(moved)
    assert runtime.current_data(moved)["finding"] == "Looked again"
    assert runtime.current_data(moved)["told"] == {"team": "hub"}
    assert runtime.completed_in_order(moved) == [
        "start",
        "record",
        "notify",
        "cool_off",
        "confirm",
        "second_look",
        "outcome",
        "done",
    ]


def test_a_waiting_timer_keeps_its_moment_unless_the_new_version_changes_it(clock: Any) -> None:
    v1 = bundle(NOTE)
    wf = start(v1)
    complete(wf, v1, "record", finding="Known to the school")
    state = saved(wf, v1)
    due = runtime.next_wake(wf)
    assert due == SCENARIO_START + timedelta(days=1)
    clock.shift(timedelta(hours=3))

    renamed = bundle(NOTE, RENAMED)
    assert runtime.next_wake(runtime.restore(migrate(state, v1, renamed), renamed, caller)) == due

    longer = bundle(NOTE, ('"P1D"', '"P2D"'))
    preview = migration_preview(state, v1, longer)
    assert preview.can_move and preview.steps == ("waiting: A day to cool off",)
    assert preview.changes[0] == (
        "At “A day to cool off”, where it stands now: "
        'timer changed from “duration "P1D"” to “duration "P2D"” (it counts again from the move)'
    )
    moved = runtime.restore(migrate(state, v1, longer), longer, caller)
    assert runtime.next_wake(moved) == SCENARIO_START + timedelta(hours=3, days=2)


def test_a_case_waiting_at_a_step_the_new_version_removes_cannot_move(clock: Any) -> None:
    v1 = bundle(NOTE)
    wf = start(v1)
    complete(wf, v1, "record", finding="Known to the school")
    clock.shift(timedelta(days=1, minutes=1))
    runtime.fire_due_timers(wf)
    state = saved(wf, v1)
    without_confirm = bundle(
        NOTE,
        ('<bpmn:sequenceFlow id="f4" sourceRef="cool_off" targetRef="confirm"/>', ""),
        ('<bpmn:sequenceFlow id="f5" sourceRef="confirm" targetRef="outcome"/>', ""),
        ("<bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>", ""),
        ('<bpmn:userTask id="confirm" name="Confirm the note">', '<bpmn:userTask id="confirm_x" name="Gone">'),
        ("<bpmn:outgoing>f4</bpmn:outgoing>", "<bpmn:outgoing>f4b</bpmn:outgoing>"),
        ("<bpmn:incoming>f5</bpmn:incoming>", "<bpmn:incoming>f4b</bpmn:incoming>"),
        ("</bpmn:process>", '<bpmn:sequenceFlow id="f4b" sourceRef="cool_off" targetRef="outcome"/></bpmn:process>'),
    )

    preview = migration_preview(state, v1, without_confirm)

    assert not preview.can_move
    assert preview.reasons == ("It is at “Confirm the note”, which the new version removes",)
    assert preview.steps == ("Confirm the note",)
    with pytest.raises(MigrationRefused) as refused:
        migrate(state, v1, without_confirm)
    assert refused.value.reasons == list(preview.reasons)


def test_a_case_at_a_step_the_new_version_makes_another_kind_cannot_move() -> None:
    v1 = bundle(NOTE)
    state = saved(start(v1), v1)
    manual = bundle(
        NOTE,
        ('<bpmn:userTask id="record" name="Record the note">', '<bpmn:scriptTask id="record" name="Record the note">'),
        (
            "<bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>\n    </bpmn:userTask>",
            "<bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>"
            "<bpmn:script>finding = 'none'</bpmn:script>\n    </bpmn:scriptTask>",
        ),
    )
    preview = migration_preview(state, v1, manual)
    assert preview.reasons == ("It is at “Record the note”, which the new version makes a script task instead",)


def test_a_case_that_has_been_through_a_step_the_new_version_removes_cannot_move() -> None:
    v1 = bundle(NOTE)
    wf = start(v1)
    complete(wf, v1, "record", finding="Known to the school")
    state = saved(wf, v1)
    without_notify = bundle(
        NOTE,
        ('<bpmn:sequenceFlow id="f2" sourceRef="record" targetRef="notify"/>', ""),
        ('<bpmn:sequenceFlow id="f3" sourceRef="notify" targetRef="cool_off"/>', ""),
        ("<bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>", ""),
        ('<bpmn:serviceTask id="notify"', '<bpmn:serviceTask id="notify_gone"'),
        ("</bpmn:process>", '<bpmn:sequenceFlow id="f2b" sourceRef="record" targetRef="cool_off"/></bpmn:process>'),
        (
            "<bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>",
            "<bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2b</bpmn:outgoing>",
        ),
        (
            "<bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>",
            "<bpmn:incoming>f2b</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>",
        ),
    )
    preview = migration_preview(state, v1, without_notify)
    assert preview.reasons == (
        "It has been through “Tell the team”, which the new version removes, and its history must be kept",
    )


def test_a_case_with_a_failed_step_cannot_move_until_the_step_is_run_again() -> None:
    files, forms = diagram_files("failing_step")
    v1 = specs.load("failing_step", files, forms)
    renamed = specs.load("failing_step", {k: v.replace("Write the note", "Write it") for k, v in files.items()}, forms)

    def unreachable(name: str, params: dict[str, Any], data: dict[str, Any]) -> Any:
        raise ConnectionError("the partner agency did not answer")

    wf, _ = runtime.start(v1, unreachable)
    task = runtime.ready_user_tasks(wf, v1)[0]
    assert runtime.complete_user_task(wf, task.id, {"finding": "Known"}) is not None
    preview = migration_preview(saved(wf, v1), v1, renamed)
    assert preview.reasons == ("The step “Notify the partner agency” has failed: retry it before moving the case",)


@pytest.mark.parametrize("damage", ["cut short", "another program's"])
def test_a_saved_state_that_cannot_be_read_cannot_move_and_the_reason_quotes_nothing_of_it(damage: str) -> None:
    v1, renamed = bundle(NOTE), bundle(NOTE, RENAMED)
    state = saved(start(v1), v1)
    unreadable = state[: len(state) // 2] if damage == "cut short" else '{"finding": "Known to the school"}'

    preview = migration_preview(unreadable, v1, renamed)

    assert (preview.can_move, preview.reasons, preview.changes, preview.steps) == (
        False,
        ("Its saved state could not be read",),
        (),
        (),
    )
    with pytest.raises(MigrationRefused) as refused:
        migrate(unreadable, v1, renamed)
    assert refused.value.reasons == ["Its saved state could not be read"]


def test_each_child_s_subprocess_moves_with_its_child_and_the_new_step_after_them_is_taken() -> None:
    renamed_child = ('name="Consider the child"', 'name="Think about the child"')
    wrap_up = (
        (
            '<bpmn:sequenceFlow id="f3" sourceRef="each_child" targetRef="end"/>',
            '<bpmn:sequenceFlow id="f3" sourceRef="each_child" targetRef="wrap_up"/>'
            '<bpmn:userTask id="wrap_up" name="Wrap up the family">'
            "<bpmn:extensionElements><spiffworkflow:properties>"
            '<spiffworkflow:property name="formJsonSchemaFilename" value="check_note.json"/>'
            "</spiffworkflow:properties></bpmn:extensionElements>"
            "<bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>"
            '<bpmn:sequenceFlow id="f4" sourceRef="wrap_up" targetRef="end"/>',
        ),
        (
            '<bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming>',
            '<bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming>',
        ),
        (
            "<bpmn:flowNodeRef>end</bpmn:flowNodeRef>",
            "<bpmn:flowNodeRef>end</bpmn:flowNodeRef><bpmn:flowNodeRef>wrap_up</bpmn:flowNodeRef>",
        ),
    )
    v1, v2 = bundle(FAMILY), bundle(FAMILY, renamed_child, *wrap_up)
    wf = start(v1)
    before = ready(wf, v1)
    state = saved(wf, v1)

    preview = migration_preview(state, v1, v2)
    assert preview.can_move, preview.reasons
    assert preview.steps == ("Consider the child",)
    assert "Ahead, a new user task: “Wrap up the family” in “Consider each child of a family”" in preview.changes
    moved = runtime.restore(migrate(state, v1, v2), v2, caller)

    after = ready(moved, v2)
    assert list(after) == list(before)
    assert sorted((t.name, t.subject) for t in after.values()) == [
        ("Think about the child", "First"),
        ("Think about the child", "Second"),
    ]
    for task in after.values():
        assert runtime.complete_user_task(moved, task.id, {"finding": f"About {task.subject}"}) is None
    assert [t.bpmn_id for t in runtime.ready_user_tasks(moved, v2)] == ["wrap_up"]
    assert sorted(d["finding"] for d in runtime.current_data(moved)["decisions"]) == ["About First", "About Second"]
    complete(moved, v2, "wrap_up", finding="All decided")
    assert runtime.is_completed(moved)


def test_a_task_repeated_for_each_child_keeps_its_child_when_it_moves() -> None:
    """SpiffWorkflow's own migrate_workflow sets each waiting task's data back to its parent's, which drops the
    child a repeated task is about: the move keeps every waiting task's own data."""
    v1 = bundle(EACH)
    v2 = bundle(EACH, ('name="Check the child"', 'name="Check this child"'))
    wf = start(v1)
    moved = runtime.restore(migrate(saved(wf, v1), v1, v2), v2, caller)
    tasks = runtime.ready_user_tasks(moved, v2)
    assert sorted((t.name, t.subject) for t in tasks) == [("Check this child", "First"), ("Check this child", "Second")]
    for task in tasks:
        assert runtime.complete_user_task(moved, task.id, {"finding": f"Checked {task.subject}"}) is None
    assert runtime.is_completed(moved)
    assert runtime.current_data(moved)["checks"] == ["Checked First", "Checked Second"]


def test_a_case_whose_subprocess_the_new_version_no_longer_has_cannot_move() -> None:
    v1 = bundle(FAMILY)
    state = saved(start(v1), v1)
    renamed_process = bundle(
        FAMILY,
        ('calledElement="versioned_child"', 'calledElement="consider_one_child"'),
        ('<bpmn:process id="versioned_child"', '<bpmn:process id="consider_one_child"'),
    )
    preview = migration_preview(state, v1, renamed_process)
    assert preview.reasons == (
        "The step “Consider each child” is under way, and the new version changes how it works "
        "(the subprocess it calls)",
        "The new version no longer has the part “Consider one child” that this case runs or has run "
        "(its process was removed or renamed)",
    )


def test_what_changes_is_told_for_the_steps_ahead_and_not_for_those_behind(clock: Any) -> None:
    v1, v2 = bundle(NOTE), bundle(NOTE, RENAMED, *SECOND_LOOK)
    at_record = start(v1)
    at_confirm = start(v1)
    complete(at_confirm, v1, "record", finding="Known")
    clock.shift(timedelta(days=1, minutes=1))
    runtime.fire_due_timers(at_confirm)

    first = migration_preview(saved(at_record, v1), v1, v2)
    assert first.changes == (
        "At “Write the note down”, where it stands now: name changed from “Record the note” to “Write the note down”",
        "Ahead, a new user task: “Take a second look” in “Record a note, wait, confirm”",
        "Ahead, “Confirm the note”: now leads to “Take a second look” (second_look); "
        "no longer leads to “Confirmed?” (outcome)",
        "Ahead, “Confirmed?”: is now reached from “Take a second look” (second_look); "
        "is no longer reached from “Confirm the note” (confirm)",
    )
    later = migration_preview(saved(at_confirm, v1), v1, v2)
    assert later.changes == (
        "At “Confirm the note”, where it stands now: now leads to “Take a second look” (second_look); "
        "no longer leads to “Confirmed?” (outcome)",
        "Ahead, a new user task: “Take a second look” in “Record a note, wait, confirm”",
        "Ahead, “Confirmed?”: is now reached from “Take a second look” (second_look); "
        "is no longer reached from “Confirm the note” (confirm)",
    )
    redo = migration_preview(saved(at_confirm, v1), v1, bundle(NOTE, ('finding == "again"', 'finding == "redo"')))
    assert redo.changes == (
        'Ahead, the sequence flow “No”: condition changed from “finding == "again"” to “finding == "redo"”',
    )
    only_behind = migration_preview(saved(at_confirm, v1), v1, bundle(NOTE, RENAMED))
    assert only_behind.changes == ("Nothing at or ahead of the steps where this case stands changes",)


def test_a_moved_state_is_restored_on_the_new_version_only_by_its_hash_and_keeps_every_value(clock: Any) -> None:
    v1, v2 = bundle(NOTE), bundle(NOTE, *SECOND_LOOK)
    wf = start(v1)
    complete(wf, v1, "record", finding="Known to the school", extra={"nested": [1, 2, 3]})
    state = saved(wf, v1)
    moved_state = migrate(state, v1, v2)
    assert moved_state != state
    moved = runtime.restore(moved_state, v2, caller)
    assert finished_data(moved) == finished_data(wf)
    assert runtime.current_data(moved)["extra"] == {"nested": [1, 2, 3]}
