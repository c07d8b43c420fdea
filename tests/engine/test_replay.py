"""Replay without a database: a finished instance of a small diagram, its inputs read back from the saved state
and run on candidate versions of the diagram (renamed, rerouted, with a new task, looping, with a timer)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import time_machine
from support import SCENARIO_START

from app.engine import replay, runtime, specs
from app.engine.specs import ParsedBundle

FORM = {
    "type": "object",
    "required": ["finding"],
    "properties": {"finding": {"title": "What do your records show?", "type": "string"}},
}

# A contact is recorded, a handler looks the family up, and a gateway sends a family known to us straight to
# a decision; a new family is reviewed first (with a reminder when the review is slow). Each end decides.
DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="replay_definitions" targetNamespace="https://compass.example/tests">
  <bpmn:process id="replay_flow" name="Replay flow" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f_start</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="record" name="Record the contact">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="note.json"/>
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f_start</bpmn:incoming><bpmn:outgoing>f_record</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:serviceTask id="look_up" name="Look the family up">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="find_family" resultVariable="family"/>
      </bpmn:extensionElements>
      <bpmn:incoming>f_record</bpmn:incoming><bpmn:outgoing>f_look_up</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:exclusiveGateway id="known" name="Known to us?" default="f_new">
      <bpmn:incoming>f_look_up</bpmn:incoming><bpmn:outgoing>f_known</bpmn:outgoing><bpmn:outgoing>f_new</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:userTask id="review" name="Review the contact">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="note.json"/>
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f_new</bpmn:incoming><bpmn:outgoing>f_review</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="review_slow" name="Four hours" attachedToRef="review" cancelActivity="false">
      <bpmn:outgoing>f_slow</bpmn:outgoing>
      <bpmn:timerEventDefinition id="review_slow_timer">
        <bpmn:timeDate>hours_from_now(4)</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:userTask id="remind" name="Remind the reviewer">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="note.json"/>
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f_slow</bpmn:incoming><bpmn:outgoing>f_reminded</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="reminded" name="Reminder sent"><bpmn:incoming>f_reminded</bpmn:incoming></bpmn:endEvent>
    <bpmn:scriptTask id="decide_known" name="Pass to the allocated worker">
      <bpmn:incoming>f_known</bpmn:incoming><bpmn:outgoing>f_decided_known</bpmn:outgoing>
      <bpmn:script>decision = {"key": "child-1", "outcome": "open_case"}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:scriptTask id="decide_new" name="Advise">
      <bpmn:incoming>f_review</bpmn:incoming><bpmn:outgoing>f_decided_new</bpmn:outgoing>
      <bpmn:script>decision = {"key": "child-1", "outcome": "advice"}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:endEvent id="end_known" name="Passed on"><bpmn:incoming>f_decided_known</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_new" name="Advice given"><bpmn:incoming>f_decided_new</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f_start" sourceRef="start" targetRef="record"/>
    <bpmn:sequenceFlow id="f_record" sourceRef="record" targetRef="look_up"/>
    <bpmn:sequenceFlow id="f_look_up" sourceRef="look_up" targetRef="known"/>
    <bpmn:sequenceFlow id="f_known" sourceRef="known" targetRef="decide_known">
      <bpmn:conditionExpression>family["known"]</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_new" sourceRef="known" targetRef="review"/>
    <bpmn:sequenceFlow id="f_slow" sourceRef="review_slow" targetRef="remind"/>
    <bpmn:sequenceFlow id="f_reminded" sourceRef="remind" targetRef="reminded"/>
    <bpmn:sequenceFlow id="f_review" sourceRef="review" targetRef="decide_new"/>
    <bpmn:sequenceFlow id="f_decided_known" sourceRef="decide_known" targetRef="end_known"/>
    <bpmn:sequenceFlow id="f_decided_new" sourceRef="decide_new" targetRef="end_new"/>
  </bpmn:process>
</bpmn:definitions>
"""


# What the codes the diagram decides are called, as the service passes the council's titles.
TITLES = {"advice": "Advice", "open_case": "Open a case", "no_further_action": "No further action"}


def bundle_of(text: str) -> ParsedBundle:
    return specs.parse("replay_flow", {"replay_flow.bpmn": text}, {"note": FORM})


def changed(*edits: tuple[str, str]) -> ParsedBundle:
    text = DIAGRAM
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return bundle_of(text)


class Handlers:
    """The handler the diagram names, answering as the records would, and counting its calls."""

    def __init__(self, known: bool):
        self.known = known
        self.calls = 0

    def __call__(self, name: str, params: dict[str, Any], data: dict[str, Any]) -> Any:
        assert name == "find_family"
        self.calls += 1
        return {"known": self.known}


def complete(wf, bundle: ParsedBundle, bpmn_id: str, **data: Any) -> None:
    task = next(t for t in runtime.ready_user_tasks(wf, bundle) if t.bpmn_id == bpmn_id)
    assert runtime.complete_user_task(wf, task.id, data) is None


def finished_case(known: bool, slow: bool = False) -> tuple[str, ParsedBundle, Handlers]:
    """A case run to its end on the diagram, saved as the services save it."""
    bundle = bundle_of(DIAGRAM)
    handlers = Handlers(known)
    with time_machine.travel(SCENARIO_START, tick=False) as clock:
        wf, failure = runtime.start(bundle, handlers, {"referrer": "school"})
        assert failure is None
        complete(wf, bundle, "record", finding="A bruise on the arm")
        if slow:
            clock.shift(timedelta(hours=5))
            assert runtime.fire_due_timers(wf) is None
            complete(wf, bundle, "remind", finding="Phoned the reviewer")
        if not known:
            complete(wf, bundle, "review", finding="Advice to the school")
        assert runtime.is_completed(wf)
        state, _depth = runtime.save(wf, max_depth=800)
    return state, bundle, handlers


def test_the_recording_holds_the_cases_inputs_path_and_outcome() -> None:
    state, bundle, _ = finished_case(known=False)
    recording = replay.record(state, bundle)
    assert recording.start == {"handover": None, "referrer": "school"}
    assert [(a.bpmn_id, a.data) for a in recording.answers] == [
        ("record", {"finding": "A bruise on the arm"}),
        ("review", {"finding": "Advice to the school"}),
    ]
    assert [(r.bpmn_id, r.data) for r in recording.results] == [("look_up", {"known": False})]
    assert recording.path == ["start", "record", "look_up", "known", "review", "decide_new", "end_new"]
    assert recording.outcome == replay.Outcome(ends=("end_new",), decisions={"child-1": {"outcome": "advice"}})


def test_replayed_on_its_own_version_it_is_the_same_and_no_handler_runs() -> None:
    state, bundle, handlers = finished_case(known=False)
    assert handlers.calls == 1
    found = replay.replay(state, bundle, bundle)
    assert (found.result, found.changes) == (replay.SAME, [])
    assert found.path == ["start", "record", "look_up", "known", "review", "decide_new", "end_new"]
    assert handlers.calls == 1  # the recorded result was given back, the handler was not asked again


def test_a_renamed_task_is_the_same_path_by_id() -> None:
    state, bundle, _ = finished_case(known=False)
    candidate = changed(('name="Review the contact"', 'name="Look again at the contact"'))
    found = replay.replay(state, bundle, candidate)
    assert (found.result, found.changes) == (replay.SAME, [])


def test_a_changed_condition_changes_the_path_and_names_the_first_difference() -> None:
    state, bundle, _ = finished_case(known=False)
    candidate = changed(
        ('family["known"]</bpmn:conditionExpression>', 'not family["known"]</bpmn:conditionExpression>')
    )
    found = replay.replay(state, bundle, candidate, titles=TITLES)
    assert found.result == replay.PATH_CHANGED
    assert found.changes == [
        "after Known to us?, this case went to Review the contact; this version goes to Pass to the allocated worker",
        "this case ended at Advice given; this version ends at Passed on",
        "child-1: this case decided Advice; this version decides Open a case",
    ]
    assert found.outcome == {"ends": ["end_known"], "decisions": {"child-1": {"outcome": "open_case"}}}


def test_a_changed_decision_on_the_same_path_changes_the_outcome_only() -> None:
    state, bundle, _ = finished_case(known=False)
    candidate = changed(('"outcome": "advice"', '"outcome": "no_further_action"'))
    found = replay.replay(state, bundle, candidate, titles=TITLES)
    assert found.result == replay.OUTCOME_CHANGED
    assert found.changes == ["child-1: this case decided Advice; this version decides No further action"]


# --- A draft cannot make the report show the case's own data ----------------------------------------------------

# What the finished case holds that a process owner may not see: its referrer and the two answers people gave.
CASE_DATA = ("school", "A bruise on the arm", "Advice to the school")


def told(found: replay.Comparison) -> str:
    return json.dumps(found.to_json())


def test_a_decision_that_copies_the_cases_answers_is_told_without_them() -> None:
    state, bundle, _ = finished_case(known=False)
    # Every check passes this: the key and the outcome are only names the data has.
    candidate = changed(
        ('"outcome": "advice"', '"outcome": finding'), ('decision = {"key": "child-1"', 'decision = {"key": referrer')
    )
    found = replay.replay(state, bundle, candidate, titles=TITLES)
    assert found.result == replay.OUTCOME_CHANGED
    assert found.changes == [
        "child-1: this case decided Advice; this version decides nothing",
        "a key that is not a child's: this case decided nothing; "
        "this version decides a value that is not a known outcome",
    ]
    assert found.outcome == {
        "ends": ["end_new"],
        "decisions": {"a key that is not a child's": {"outcome": "a value that is not a known outcome"}},
    }
    assert not [value for value in CASE_DATA if value in told(found)]


def test_values_that_are_not_known_codes_are_told_only_as_that() -> None:
    state, bundle, _ = finished_case(known=False)
    # Under the child's own key, a threshold and a handover copied from the case, and an outcome that is a code.
    candidate = changed(
        (
            '"outcome": "advice"',
            '"threshold": referrer, "outcome": "no_further_action", "handover": finding',
        )
    )
    found = replay.replay(state, bundle, candidate, titles=TITLES)
    assert found.changes == [
        "child-1: this case decided Advice; this version decides a value that is not a known outcome, "
        "No further action, handed over to a value that is not a known outcome"
    ]
    assert found.outcome is not None and found.outcome["decisions"] == {
        "child-1": {
            "threshold": "a value that is not a known outcome",
            "outcome": "no_further_action",
            "handover": "a value that is not a known outcome",
        }
    }
    assert not [value for value in CASE_DATA if value in told(found)]


def test_two_values_that_are_not_codes_are_told_apart_only_by_differing() -> None:
    state, bundle, _ = finished_case(known=False)
    # The case on its own version decided a code this report has no title for; the draft copies an answer.
    found = replay.replay(state, bundle, changed(('"outcome": "advice"', '"outcome": finding')), titles={})
    assert found.changes == [
        "child-1: this case decided a value that is not a known outcome; "
        "this version decides a value that is not a known outcome (another one)"
    ]
    assert not [value for value in CASE_DATA if value in told(found)]


def test_a_name_error_raised_with_the_cases_data_is_not_told() -> None:
    state, bundle, _ = finished_case(known=False)
    # A script can raise a NameError naming anything; only names the diagram's own code holds are told.
    candidate = changed(
        ('decision = {"key": "child-1", "outcome": "advice"}', 'raise NameError("gone", name=referrer)')
    )
    found = replay.replay(state, bundle, candidate)
    assert found.changes == ["fails at Advise (NameError)"]
    assert "school" not in told(found)


def test_a_sandbox_refusal_is_told_only_with_the_sandboxs_own_numbers() -> None:
    state, bundle, _ = finished_case(known=False)
    decide = 'decision = {"key": "child-1", "outcome": "advice"}'
    # The size refused would be 100,000 times the length of the referrer: a number the case's data made.
    found = replay.replay(state, bundle, changed((decide, 'x = "x" * (len(referrer) * 100000)')))
    assert found.changes == ["fails at Advise: the sandbox stopped its code at one of its limits"]
    assert "600,000" not in told(found)
    # A refusal that quotes only the sandbox's limit says what was refused.
    found = replay.replay(state, bundle, changed((decide, "x = 2 ** 5000")))
    assert found.changes == ["fails at Advise: A power (**) with a result over 4,096 bits is not allowed"]


def test_a_candidate_that_asks_for_a_new_task_stops_there() -> None:
    state, bundle, _ = finished_case(known=True)
    candidate = changed(
        ('targetRef="look_up"/>', 'targetRef="check_school"/>'),
        (
            '<bpmn:serviceTask id="look_up"',
            '<bpmn:userTask id="check_school" name="Check with the school">'
            "<bpmn:extensionElements><spiffworkflow:properties>"
            '<spiffworkflow:property name="formJsonSchemaFilename" value="note.json"/>'
            "</spiffworkflow:properties></bpmn:extensionElements>"
            "<bpmn:incoming>f_record</bpmn:incoming><bpmn:outgoing>f_school</bpmn:outgoing></bpmn:userTask>"
            '<bpmn:sequenceFlow id="f_school" sourceRef="check_school" targetRef="look_up"/>'
            '<bpmn:serviceTask id="look_up"',
        ),
        (
            "<bpmn:incoming>f_record</bpmn:incoming><bpmn:outgoing>f_look_up",
            "<bpmn:incoming>f_school</bpmn:incoming><bpmn:outgoing>f_look_up",
        ),
    )
    found = replay.replay(state, bundle, candidate)
    assert found.result == replay.NOT_REPLAYED
    assert found.changes == [
        "after Record the contact, this case went to Look the family up; this version goes to Check with the school",
        "asks for Check with the school, which this case never answered",
    ]
    assert found.outcome is None


def test_a_candidate_that_runs_a_handler_the_case_never_ran_stops_there() -> None:
    state, bundle, _ = finished_case(known=True)
    candidate = changed(
        (
            '<bpmn:scriptTask id="decide_known" name="Pass to the allocated worker">',
            '<bpmn:serviceTask id="decide_known" name="Write to the allocated worker"><bpmn:extensionElements>'
            '<spiffworkflow:serviceTaskOperator id="find_family" resultVariable="letter"/></bpmn:extensionElements>',
        ),
        (
            '<bpmn:script>decision = {"key": "child-1", "outcome": "open_case"}</bpmn:script>\n    </bpmn:scriptTask>',
            "</bpmn:serviceTask>",
        ),
    )
    found = replay.replay(state, bundle, candidate)
    assert found.result == replay.NOT_REPLAYED
    assert found.changes == ["runs Write to the allocated worker, which this case never ran"]


def test_a_looping_candidate_is_stopped_by_the_step_limit() -> None:
    state, bundle, _ = finished_case(known=False)
    # After the review the flow goes back to the review, for ever: the case's one answer is given again each time.
    candidate = changed(
        ('<bpmn:sequenceFlow id="f_review" sourceRef="review" targetRef="decide_new"/>', ""),
        (
            "<bpmn:incoming>f_review</bpmn:incoming><bpmn:outgoing>f_decided_new</bpmn:outgoing>",
            "<bpmn:incoming>f_loop_done</bpmn:incoming><bpmn:outgoing>f_decided_new</bpmn:outgoing>",
        ),
        (
            '<bpmn:endEvent id="reminded"',
            '<bpmn:exclusiveGateway id="again" name="Again?" default="f_loop_done">'
            "<bpmn:incoming>f_review</bpmn:incoming><bpmn:outgoing>f_loop</bpmn:outgoing>"
            "<bpmn:outgoing>f_loop_done</bpmn:outgoing></bpmn:exclusiveGateway>"
            '<bpmn:sequenceFlow id="f_review" sourceRef="review" targetRef="again"/>'
            '<bpmn:sequenceFlow id="f_loop" sourceRef="again" targetRef="review">'
            "<bpmn:conditionExpression>True</bpmn:conditionExpression></bpmn:sequenceFlow>"
            '<bpmn:sequenceFlow id="f_loop_done" sourceRef="again" targetRef="decide_new"/>'
            '<bpmn:endEvent id="reminded"',
        ),
        (
            "<bpmn:incoming>f_new</bpmn:incoming>",
            "<bpmn:incoming>f_new</bpmn:incoming><bpmn:incoming>f_loop</bpmn:incoming>",
        ),
    )
    found = replay.replay(state, bundle, candidate, max_steps=60)
    assert found.result == replay.NOT_REPLAYED
    assert found.changes == [
        "after Review the contact, this case went to Advise; this version goes to Again?",
        "did not finish within 60 steps (does a loop never end?)",
    ]
    assert found.path.count("review") > 10


def test_a_timer_the_case_passed_fires_in_the_replay_and_one_it_did_not_pass_does_not() -> None:
    slow_state, bundle, _ = finished_case(known=False, slow=True)
    found = replay.replay(slow_state, bundle, bundle)
    assert (found.result, found.changes) == (replay.SAME, [])
    assert {"review_slow", "remind", "reminded"} <= set(found.path)

    quick_state, _, _ = finished_case(known=False, slow=False)
    found = replay.replay(quick_state, bundle, bundle)
    assert (found.result, found.changes) == (replay.SAME, [])
    assert "review_slow" not in found.path


def test_a_timer_removed_from_the_candidate_is_a_changed_path() -> None:
    slow_state, bundle, _ = finished_case(known=False, slow=True)
    candidate = changed(("hours_from_now(4)", "hours_from_now(4000)"), ('id="review_slow"', 'id="review_late"'))
    found = replay.replay(slow_state, bundle, candidate)
    assert found.result == replay.PATH_CHANGED
    assert found.changes[0] == "after Review the contact, this case went to Four hours; this version does not"


def test_a_candidate_testing_a_field_the_case_never_had_names_the_field() -> None:
    state, bundle, _ = finished_case(known=False)
    candidate = changed(('family["known"]</bpmn:conditionExpression>', "priority == 1</bpmn:conditionExpression>"))
    found = replay.replay(state, bundle, candidate)
    assert found.result == replay.NOT_REPLAYED
    assert found.changes == ["fails at Known to us?: it uses priority, which this case's data does not have"]


def test_a_failure_is_told_without_the_cases_data() -> None:
    state, bundle, _ = finished_case(known=False)
    # int("school") fails with a message quoting the case's own data: that text is not repeated.
    candidate = changed(('family["known"]</bpmn:conditionExpression>', "int(referrer) > 1</bpmn:conditionExpression>"))
    found = replay.replay(state, bundle, candidate)
    assert found.result == replay.NOT_REPLAYED
    assert found.changes == ["fails at Known to us? (ValueError)"]
