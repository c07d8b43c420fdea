"""Versions of a flow and the running cases moved between them, on a real database (DESIGN.md rule 7).

A case runs on the version it started with: deploying a new version moves nobody. A process owner moves a case
on purpose, after a preview; its work and data come with it, the move is recorded byte for byte and can be
undone until the case moves on; a case that cannot move is said so, and left exactly as it was."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flows import complete, open_tasks
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import OperationalError
from support import user

from app.engine import runtime
from app.extensions import db
from app.models import AuditEvent, Case, InstanceMigration, LiveBundle, ProcessBundle, ProcessInstance, Task
from app.services import bundles, case_actions, case_migration, claims, scenarios, users
from app.services.case_migration import NothingToCompare
from app.services.errors import NotFound, NotSaved

FLOW = "initial_contact"
SCENARIO = bundles.PROCESSES_DIR / FLOW / "scenarios" / "s17_consent_given.json"
REFUSED = "It is at “Review the contact”, which the new version makes a script task instead"
SECOND_LOOK_FORM = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Take a second look",
    "type": "object",
    "required": ["second_view"],
    "properties": {"second_view": {"title": "What does a second look show?", "type": "string", "minLength": 2}},
}
SECOND_LOOK = """<bpmn:userTask id="second_look" name="Take a second look">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="second_look.json"/>
        <spiffworkflow:property name="taskSubject" value="child[&quot;name&quot;]"/>
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>flow_ssw_decision_to_second_look</bpmn:incoming>
      <bpmn:outgoing>flow_second_look_to_threshold_gateway</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="flow_second_look_to_threshold_gateway"
      sourceRef="second_look" targetRef="threshold_gateway"/>
    """


def _edited(flow: str, *pairs: tuple[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
    files, forms = bundles.read_shipped(flow)
    name = f"{flow}.bpmn"
    text = files[name]
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new)
    return {name: text}, forms


def _deploy(flow: str, files: dict[str, str], forms: dict[str, Any], note: str) -> ProcessBundle:
    """A new version stored and made live, as a deploy does."""
    report = bundles._store(flow, files, forms, note=note)
    db.session.commit()
    bundles.make_live(report.bundle_id)
    row = db.session.get(ProcessBundle, report.bundle_id)
    assert row is not None
    return row


def deploy_v2() -> ProcessBundle:
    """Version 2 of the initial contact: the review renamed, and a second look after the threshold decision."""
    files, forms = _edited(
        FLOW,
        ('name="Review the contact"', 'name="Review the contact and its history"'),
        ('<bpmn:userTask id="ssw_decision" ', SECOND_LOOK + '<bpmn:userTask id="ssw_decision" '),
        (
            "<bpmn:outgoing>flow_ssw_decision_to_threshold_gateway</bpmn:outgoing>",
            "<bpmn:outgoing>flow_ssw_decision_to_second_look</bpmn:outgoing>",
        ),
        (
            "<bpmn:incoming>flow_ssw_decision_to_threshold_gateway</bpmn:incoming>",
            "<bpmn:incoming>flow_second_look_to_threshold_gateway</bpmn:incoming>",
        ),
        (
            '<bpmn:sequenceFlow id="flow_ssw_decision_to_threshold_gateway" sourceRef="ssw_decision" '
            'targetRef="threshold_gateway"/>',
            '<bpmn:sequenceFlow id="flow_ssw_decision_to_second_look" sourceRef="ssw_decision" '
            'targetRef="second_look"/>',
        ),
        (
            "<bpmn:flowNodeRef>ssw_decision</bpmn:flowNodeRef>",
            "<bpmn:flowNodeRef>ssw_decision</bpmn:flowNodeRef><bpmn:flowNodeRef>second_look</bpmn:flowNodeRef>",
        ),
    )
    # The diagram's drawing (BPMNDI) still draws the old edge; a modeller would redraw it.
    files[f"{FLOW}.bpmn"] = files[f"{FLOW}.bpmn"].replace(
        'bpmnElement="flow_ssw_decision_to_threshold_gateway"', 'bpmnElement="flow_ssw_decision_to_second_look"'
    )
    return _deploy(FLOW, files, {**forms, "second_look": SECOND_LOOK_FORM}, "A second look after each decision")


def deploy_with_an_automatic_review() -> ProcessBundle:
    """A version whose review is no longer a person's task but a script: a case waiting for someone to do the
    review cannot move to it (nobody would do it)."""
    files, forms = bundles.read_shipped(FLOW)
    text = files[f"{FLOW}.bpmn"]
    start = text.index('<bpmn:userTask id="ssw_review"')
    end = text.index("</bpmn:userTask>", start) + len("</bpmn:userTask>")
    script = (
        '<bpmn:scriptTask id="ssw_review" name="Review the contact">'
        "<bpmn:incoming>flow_start_review_to_ssw_review</bpmn:incoming>"
        "<bpmn:incoming>flow_count_information_to_ssw_review</bpmn:incoming>"
        "<bpmn:outgoing>flow_ssw_review_to_more_information_gateway</bpmn:outgoing>"
        '<bpmn:script>next_step = "decide"</bpmn:script></bpmn:scriptTask>'
    )
    text = text[:start] + script + text[end:]
    return _deploy(FLOW, {f"{FLOW}.bpmn": text}, forms, "The review is made by itself")


def scenario() -> dict[str, Any]:
    return json.loads(SCENARIO.read_text())


def start_case(steps: int = 0) -> Case:
    """A contact recorded on the live version, with the first `steps` steps of the scenario done."""
    found = scenario()
    found["steps"], found["expect"] = found["steps"][:steps], {}
    result = scenarios.run(found)
    assert result.mismatches == [], result.mismatches
    case = db.session.get(Case, result.case_id)
    assert case is not None
    return case


def instance_of(case: Case, flow: str = FLOW) -> ProcessInstance:
    db.session.expire_all()
    found = db.session.scalar(
        select(ProcessInstance).where(ProcessInstance.case_id == case.id, ProcessInstance.flow == flow)
    )
    assert found is not None
    return found


def finish(case: Case, from_step: int) -> None:
    for step in scenario()["steps"][from_step:]:
        complete(case.id, step["task"], step["as"], step["data"])


def finished_data(instance: ProcessInstance) -> dict[str, dict[str, Any]]:
    wf = runtime.restore(instance.state, bundles.parsed(instance.bundle), caller=None)
    return {
        str(t.id): dict(t.data)
        for tree in [wf, *wf.subprocesses.values()]
        for t in tree.tasks.values()
        if t.state == 64  # COMPLETED
    }


def events(name: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.name == name).order_by(AuditEvent.id)))


def test_a_case_started_on_v1_completes_on_v1_after_v2_is_deployed(fresh, clock) -> None:
    case = start_case()
    v1 = instance_of(case).bundle_id
    v2 = deploy_v2()

    assert instance_of(case).bundle_id == v1
    assert db.session.scalar(select(Task.name).where(Task.case_id == case.id)) == "Review the contact"
    finish(case, 0)

    db.session.refresh(case)
    assert case.status == "closed"
    assert {c.key: c.outcome for c in case.children} == {"child-1": "progress_to_referral"}
    assert instance_of(case).bundle_id == v1
    assert "second_look" not in runtime.completed_bpmn_ids(
        runtime.restore(instance_of(case).state, bundles.parsed(instance_of(case).bundle), caller=None)
    )
    later = start_case()
    assert instance_of(later).bundle_id == v2.id
    assert db.session.scalar(select(Task.name).where(Task.case_id == later.id)) == (
        "Review the contact and its history"
    )


def test_a_moved_case_keeps_its_work_and_data_and_completes_on_v2_taking_the_new_step(fresh, clock) -> None:
    case = start_case()
    before = instance_of(case)
    state_before, version_before, v1 = before.state, before.version, before.bundle_id
    data_before = finished_data(before)
    (task_before,) = db.session.scalars(select(Task).where(Task.case_id == case.id)).all()
    task_id, due_before = task_before.id, task_before.due_at
    v2 = deploy_v2()

    found = case_migration.preview(user("process_owner"), FLOW)
    (row,) = found.instances
    assert (row.case_id, row.from_number, row.can_move, row.steps) == (case.id, 1, True, ("Review the contact",))
    assert row.changes[:2] == (
        "At “Review the contact and its history”, where it stands now: "
        "name changed from “Review the contact” to “Review the contact and its history”",
        "Ahead, a new user task: “Take a second look” in “Decide for one child”",
    )
    assert found.live is not None and found.live.number == 2

    report = case_migration.migrate_one(user("process_owner"), FLOW, before.id)

    assert [(o.instance_id, o.case_id, o.moved) for o in report.outcomes] == [(before.id, case.id, True)]
    moved = instance_of(case)
    assert moved.bundle_id == v2.id
    assert finished_data(moved) == data_before
    migration = db.session.scalar(select(InstanceMigration))
    assert migration is not None
    assert (migration.instance_id, migration.case_id, migration.flow) == (moved.id, case.id, FLOW)
    assert (migration.from_bundle_id, migration.to_bundle_id) == (v1, v2.id)
    assert migration.state_before == state_before
    assert (migration.version_before, migration.version_after) == (version_before, moved.version)
    assert moved.version == version_before + 1
    assert migration.changes == list(row.changes)
    assert migration.migrated_by_id == user("process_owner").id
    (task,) = db.session.scalars(select(Task).where(Task.case_id == case.id)).all()
    assert (task.id, task.name, task.lane, task.due_at) == (
        task_id,
        "Review the contact and its history",
        "ssw",
        due_before,
    )
    assert scenarios.mirror_mismatch(case.id) is None
    (event,) = events("INSTANCE_MIGRATED")
    assert (event.user_id, event.data) == (
        user("process_owner").id,
        {"case_id": case.id, "instance_id": moved.id, "migration_id": migration.id, "bundle_id": v2.id},
    )

    steps = scenario()["steps"]
    complete(case.id, "ssw_review", "ssw", steps[0]["data"])
    complete(case.id, "ssw_decision", "ssw", steps[1]["data"])
    assert open_tasks(case.id) == {"second_look"}
    complete(case.id, "second_look", "ssw", {"second_view": "The school's account holds up"})
    assert scenarios.mirror_mismatch(case.id) is None
    finish(case, 2)
    db.session.refresh(case)
    assert case.status == "closed"
    assert {c.key: c.outcome for c in case.children} == {"child-1": "progress_to_referral"}
    assert instance_of(case).status == "completed"


def test_undoing_a_move_puts_the_case_back_as_it_was(fresh, clock) -> None:
    case = start_case()
    before = instance_of(case)
    state_before, v1 = before.state, before.bundle_id
    deploy_v2()
    report = case_migration.migrate_one(user("process_owner"), FLOW, before.id)
    migration_id = report.outcomes[0].migration_id
    assert migration_id is not None

    case_migration.undo(user("process_owner"), migration_id)

    after = instance_of(case)
    assert after.state == state_before and after.bundle_id == v1
    assert db.session.scalar(select(Task.name).where(Task.case_id == case.id)) == "Review the contact"
    assert scenarios.mirror_mismatch(case.id) is None
    migration = db.session.get(InstanceMigration, migration_id)
    assert migration is not None and migration.reverted_at is not None
    assert migration.reverted_by_id == user("process_owner").id
    (event,) = events("INSTANCE_MIGRATION_REVERTED")
    assert event.data == {"case_id": case.id, "instance_id": after.id, "migration_id": migration_id}
    with pytest.raises(NotSaved, match="undone already"):
        case_migration.undo(user("process_owner"), migration_id)
    (moved,) = case_migration.preview(user("process_owner"), FLOW).moved
    assert moved.reverted_at is not None and not moved.undoable

    finish(case, 0)  # back on version 1, it runs on as it would have: no second look
    db.session.refresh(case)
    assert case.status == "closed"


def test_undoing_is_refused_once_the_case_has_moved_on_and_changes_nothing(fresh, clock) -> None:
    case = start_case()
    deploy_v2()
    report = case_migration.migrate_one(user("process_owner"), FLOW, instance_of(case).id)
    migration_id = report.outcomes[0].migration_id
    assert migration_id is not None
    complete(case.id, "ssw_review", "ssw", scenario()["steps"][0]["data"])
    moved_on = instance_of(case)
    state, version, bundle_id = moved_on.state, moved_on.version, moved_on.bundle_id
    (listed,) = case_migration.preview(user("process_owner"), FLOW).moved
    assert not listed.undoable

    with pytest.raises(NotSaved, match="The case has moved on since it was moved to the new version"):
        case_migration.undo(user("process_owner"), migration_id)

    after = instance_of(case)
    assert (after.state, after.version, after.bundle_id) == (state, version, bundle_id)
    migration = db.session.get(InstanceMigration, migration_id)
    assert migration is not None and migration.reverted_at is None
    assert events("INSTANCE_MIGRATION_REVERTED") == []


def test_a_case_that_cannot_move_is_reported_and_left_as_it_was_while_the_others_move(fresh, clock) -> None:
    at_review = start_case()
    at_acknowledgement = start_case(steps=2)
    stuck = instance_of(at_review)
    untouched = (stuck.state, stuck.version, stuck.bundle_id)
    deploy_with_an_automatic_review()

    found = case_migration.preview(user("process_owner"), FLOW)
    assert [(i.case_id, i.can_move, i.reasons) for i in found.instances] == [
        (at_review.id, False, (REFUSED,)),
        (at_acknowledgement.id, True, ()),
    ]
    assert found.movable == 1

    report = case_migration.migrate_all(user("process_owner"), FLOW)

    assert [(o.case_id, o.moved, o.reasons) for o in report.moved + report.not_moved] == [
        (at_acknowledgement.id, True, ()),
        (at_review.id, False, (REFUSED,)),
    ]
    after = instance_of(at_review)
    assert (after.state, after.version, after.bundle_id) == untouched
    assert db.session.scalar(select(func.count()).select_from(InstanceMigration)) == 1
    assert [e.data["case_id"] for e in events("INSTANCE_MIGRATED")] == [at_acknowledgement.id]
    assert scenarios.mirror_mismatch(at_review.id) is None
    assert scenarios.mirror_mismatch(at_acknowledgement.id) is None
    with pytest.raises(NotSaved, match="already runs on the live version"):
        case_migration.migrate_one(user("process_owner"), FLOW, instance_of(at_acknowledgement).id)
    finish(at_acknowledgement, 2)
    db.session.refresh(at_acknowledgement)
    assert at_acknowledgement.status == "closed"


def test_the_history_lists_every_version_with_who_when_its_note_and_its_running_cases(fresh, clock) -> None:
    start_case()
    start_case()
    v2 = deploy_v2()
    v2.created_by_id = user("process_owner").id
    db.session.commit()
    start_case()

    rows = case_migration.history(FLOW)

    assert [(r.number, r.live, r.running, r.created_by, r.note) for r in rows] == [
        (2, True, 1, user("process_owner").name, "A second look after each decision"),
        (1, False, 2, None, "shipped with the code: processes/initial_contact.bpmn"),
    ]
    with pytest.raises(NotFound):
        case_migration.history("no_such_flow")


def test_two_versions_compared_element_by_element_and_form_by_form(fresh) -> None:
    deploy_v2()

    comparison = case_migration.compare(FLOW, None, None)

    assert (comparison.old.number, comparison.new.number) == (1, 2)
    assert [(e.element_id, e.kind) for e in comparison.elements.added] == [
        ("second_look", "user task"),
        ("flow_second_look_to_threshold_gateway", "sequence flow"),
        ("flow_ssw_decision_to_second_look", "sequence flow"),
    ]
    assert [e.element_id for e in comparison.elements.removed] == ["flow_ssw_decision_to_threshold_gateway"]
    assert [f.form_id for f in comparison.forms] == ["second_look"]
    assert case_migration.compare(FLOW, 2, 1).elements.removed[0].element_id == "second_look"
    assert case_migration.compare(FLOW, 2, 2).same
    with pytest.raises(NotFound, match="The Initial contact flow has no version 7 \\(its versions: 1, 2\\)"):
        case_migration.compare(FLOW, 1, 7)
    with pytest.raises(NothingToCompare, match="Version 1 is the first version: choose a later one"):
        case_migration.compare(FLOW, None, 1)
    forward = case_migration.compare(FLOW, 1, None)
    assert (forward.old.number, forward.new.number) == (1, 2)
    with pytest.raises(NothingToCompare, match="This flow has one version so far"):
        case_migration.compare("mat", None, None)


@pytest.mark.parametrize("text", ["two", "0", "-1", "1.5", "1" * 31, "²", "9999999"])
def test_a_version_number_that_is_not_one_is_refused_in_words(text: str) -> None:
    with pytest.raises(NotSaved, match="must be a whole number from 1 to 999,999"):
        case_migration.version_number(text, "first")


def test_a_version_number_left_out_is_none() -> None:
    assert case_migration.version_number(None, "first") is None
    assert case_migration.version_number(" ", "first") is None
    assert case_migration.version_number("12", "first") == 12


def test_lado_work_moves_without_its_case_number_shown_to_a_process_owner(fresh, clock) -> None:
    lado = json.loads(
        (bundles.PROCESSES_DIR / FLOW / "scenarios" / "allegation_against_a_teacher_goes_to_the_lado.json").read_text()
    )
    lado["steps"], lado["expect"] = [], {}
    case_id = scenarios.run(lado).case_id
    files, forms = _edited("lado", ('name="Consider the allegation"', 'name="Consider the allegation first"'))
    _deploy("lado", files, forms, "A clearer name")

    (row,) = case_migration.preview(user("process_owner"), "lado").instances
    assert row.case_id is None and row.can_move
    report = case_migration.migrate_all(user("process_owner"), "lado")
    assert [(o.case_id, o.moved) for o in report.outcomes] == [(None, True)]
    assert instance_of(db.session.get(Case, case_id), "lado").bundle.number == 2
    (moved,) = case_migration.preview(user("process_owner"), "lado").moved
    assert moved.case_id is None
    live = db.session.get(LiveBundle, "lado")
    assert live is not None and live.bundle.number == 2


@contextmanager
def meanwhile(app: Flask, act: Callable[[], None]) -> Iterator[None]:
    """`act` done by someone else, in a session of their own, the first time this session lets go of what it
    read: for a move of all cases, just after the cases were listed and before the first of them is moved."""
    session = db.session()
    done: list[bool] = []

    def elsewhere(_session: Any) -> None:
        if not done:
            done.append(True)
            with app.app_context():
                act()

    event.listen(session, "after_rollback", elsewhere)
    try:
        yield
    finally:
        event.remove(session, "after_rollback", elsewhere)
    assert done, "nothing was done meanwhile"


def test_a_case_moved_voided_or_finished_after_the_list_was_made_is_skipped_with_the_reason(fresh, clock) -> None:
    moved_by_another, voided, finished, waiting = (start_case() for _ in range(4))
    ids = {case.id: instance_of(case).id for case in (moved_by_another, voided, finished, waiting)}
    v1 = instance_of(voided).bundle_id
    v2 = deploy_v2()
    case_ids = (moved_by_another.id, voided.id, finished.id, waiting.id)

    def others_act() -> None:
        case_migration.migrate_one(user("process_owner"), FLOW, ids[case_ids[0]])
        case_actions.void(user("ssw"), case_ids[1], "Recorded against the wrong family by mistake")
        for step in scenario()["steps"]:
            complete(case_ids[2], step["task"], step["as"], step["data"])

    with meanwhile(fresh, others_act):
        report = case_migration.migrate_all(user("process_owner"), FLOW)

    assert [(o.case_id, o.moved, o.reasons) for o in report.outcomes] == [
        (moved_by_another.id, False, ("Skipped: someone moved it to the live version after the cases were listed",)),
        (voided.id, False, ("Skipped: its contact was voided after the cases were listed",)),
        (finished.id, False, ("Skipped: its flow has finished since the cases were listed",)),
        (waiting.id, True, ()),
    ]
    assert [e.data["case_id"] for e in events("INSTANCE_MIGRATED")] == [moved_by_another.id, waiting.id]
    assert db.session.scalar(select(func.count()).select_from(InstanceMigration)) == 2
    assert (instance_of(voided).status, instance_of(voided).bundle_id) == ("cancelled", v1)
    assert (instance_of(finished).status, instance_of(finished).bundle_id) == ("completed", v1)
    assert instance_of(moved_by_another).bundle_id == instance_of(waiting).bundle_id == v2.id


def test_a_newer_version_made_live_after_the_list_was_made_moves_nobody_to_the_older_one(fresh, clock) -> None:
    case = start_case()
    v1 = instance_of(case).bundle_id
    deploy_v2()
    files, forms = _edited(FLOW, ('name="Review the contact"', 'name="Review the contact carefully"'))

    with meanwhile(fresh, lambda: _deploy(FLOW, files, forms, "A clearer name")):
        report = case_migration.migrate_all(user("process_owner"), FLOW)

    assert [(o.case_id, o.moved, o.reasons) for o in report.outcomes] == [
        (case.id, False, ("Skipped: a newer version went live after the cases were listed: look at the list again",))
    ]
    assert instance_of(case).bundle_id == v1
    assert events("INSTANCE_MIGRATED") == []


def test_a_case_whose_saved_state_cannot_be_read_is_told_on_the_preview_and_the_others_move(web, clock) -> None:
    unreadable, readable = start_case(), start_case()
    damaged = instance_of(unreadable)
    damaged.state = damaged.state[: len(damaged.state) // 2]
    db.session.commit()
    damaged_state, v1 = damaged.state, damaged.bundle_id
    v2 = deploy_v2()

    found = case_migration.preview(user("process_owner"), FLOW)
    assert [(i.case_id, i.can_move, i.reasons, i.steps) for i in found.instances] == [
        (unreadable.id, False, ("Its saved state could not be read",), ()),
        (readable.id, True, (), ("Review the contact",)),
    ]
    page = web.login("process_owner").get(f"/processes/{FLOW}/migration")
    assert "Its saved state could not be read" in page

    report = case_migration.migrate_all(user("process_owner"), FLOW)

    assert [(o.case_id, o.moved, o.reasons) for o in report.outcomes] == [
        (unreadable.id, False, ("Its saved state could not be read",)),
        (readable.id, True, ()),
    ]
    assert (instance_of(unreadable).state, instance_of(unreadable).bundle_id) == (damaged_state, v1)
    assert instance_of(readable).bundle_id == v2.id


def test_a_task_put_in_another_lane_stays_with_its_holder_and_their_team_when_they_hold_that_role(fresh, clock) -> None:
    dual = users.create_user("dual.worker", "Dual worker", "pw-dual-worker", ["ssw", "allocated_worker"], "compass")
    db.session.commit()
    held_by_dual, held_by_ssw = start_case(), start_case()
    claims.claim(dual, task_of(held_by_dual).id)
    claims.claim(user("ssw"), task_of(held_by_ssw).id)
    review = "<bpmn:flowNodeRef>ssw_review</bpmn:flowNodeRef>"
    files, forms = _edited(
        FLOW,
        (review, ""),
        (
            "<bpmn:flowNodeRef>open_case_response</bpmn:flowNodeRef>",
            review + "<bpmn:flowNodeRef>open_case_response</bpmn:flowNodeRef>",
        ),
    )
    _deploy(FLOW, files, forms, "The allocated worker reviews")

    report = case_migration.migrate_all(user("process_owner"), FLOW)

    assert [o.moved for o in report.outcomes] == [True, True]
    kept, let_go = task_of(held_by_dual), task_of(held_by_ssw)
    assert (kept.lane, kept.assignee_id, kept.team) == ("allocated_worker", dual.id, "compass")
    assert (let_go.lane, let_go.assignee_id, let_go.claimed_at, let_go.team) == (
        "allocated_worker",
        None,
        None,
        "assessment",
    )
    assert scenarios.mirror_mismatch(held_by_dual.id) is None


def task_of(case: Case) -> Task:
    db.session.expire_all()
    (task,) = db.session.scalars(select(Task).where(Task.case_id == case.id)).all()
    return task


@pytest.mark.postgres_only
def test_a_case_is_locked_from_before_it_is_checked_until_its_move_is_written(pg_fresh, clock) -> None:
    case = start_case()
    instance_id = instance_of(case).id
    deploy_v2()
    session = db.session()
    tries: list[str] = []

    def try_to_lock(_session: Any, _context: Any, _instances: Any) -> None:
        # The move's first write: everything about the case has been checked, nothing written yet. Someone
        # else who tried to act on the case now (complete a step, void it) would have to wait.
        if tries:
            return
        with db.engine.connect() as other:
            try:
                other.execute(
                    text("SELECT id FROM process_instance WHERE id = :id FOR UPDATE NOWAIT"), {"id": instance_id}
                )
                tries.append("free")
            except OperationalError:
                tries.append("locked")
            other.rollback()

    event.listen(session, "before_flush", try_to_lock)
    try:
        report = case_migration.migrate_all(user("process_owner"), FLOW)
    finally:
        event.remove(session, "before_flush", try_to_lock)

    assert [o.moved for o in report.outcomes] == [True]
    assert tries == ["locked"]
