"""Validation before anything runs (issue 7): each rule a diagram must keep, with a diagram that breaks it.

tests/engine/diagrams/invalid/sound.bpmn keeps every rule; each other diagram there is the sound one with ONE
thing wrong, drawn with BPMNDI as the modeller would save it. Each test asserts which elements the refusal
names, that each is one the modeller draws (so it can be marked), and the words a process owner reads.
tests/engine/test_bundle_checks.py changes the shipped initial-contact diagram instead, for the rules it
covers (an attack in a condition or a script, the trial run, loops with a counter); the hostile files are
in tests/engine/test_hostile_diagrams.py.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

import handlers
from app.engine import specs
from app.engine.specs import BundleRefused, HandlerParameters, Problem
from app.services import bundles

INVALID = Path(__file__).parent / "diagrams" / "invalid"
FORMS = {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in INVALID.glob("*.json")}
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"

Expected = list[tuple[str, list[str]]]  # (element id, words in its message), in the order given


def text_of(stem: str) -> str:
    return (INVALID / f"{stem}.bpmn").read_text(encoding="utf-8")


def refusal(stem: str, diagram: str | None = None, forms: dict[str, Any] | None = None) -> list[Problem]:
    with pytest.raises(BundleRefused) as refused:
        bundles.check(stem, {f"{stem}.bpmn": diagram or text_of(stem)}, forms or FORMS)
    return refused.value.problems


def drawn(stem: str) -> set[str]:
    """The elements the diagram's BPMNDI draws, which the modeller can mark."""
    root = etree.fromstring((INVALID / f"{stem}.bpmn").read_bytes())
    return {el.get("bpmnElement") for el in root.iter(f"{{{BPMNDI}}}*") if el.get("bpmnElement")}


def line_of(stem: str, text: str) -> int:
    (line,) = [n for n, content in enumerate(text_of(stem).splitlines(), start=1) if text in content]
    return line


def assert_refused(stem: str, expected: Expected) -> None:
    problems = refusal(stem)
    assert [p.element_id for p in problems] == [element for element, _words in expected], problems
    for problem, (_element, words) in zip(problems, expected, strict=True):
        for word in words:
            assert word in problem.message, (word, problem.message)
        assert problem.message[0].islower() and "Traceback" not in problem.message
    marks = drawn(stem) if stem not in ("not_well_formed", "not_bpmn") else set()
    for problem in problems:
        # A file that cannot be read as a diagram is marked on the file, everything else on a drawn element.
        assert problem.element_id in marks | {f"{stem}.bpmn"}, problem


# --- Every rule kept ---------------------------------------------------------------------------------


def test_the_sound_diagram_keeps_every_rule_including_its_trial_run() -> None:
    parsed = bundles.check("sound", {"sound.bpmn": text_of("sound")}, FORMS)
    assert parsed.spec.name == "sound"


@pytest.mark.parametrize("flow", sorted(path.stem for path in bundles.PROCESSES_DIR.glob("*.bpmn")))
def test_each_shipped_diagram_keeps_every_rule(flow: str) -> None:
    files, forms = bundles.read_shipped(flow)
    assert bundles.check(flow, files, forms).spec.name == flow


def test_every_diagram_here_breaks_a_rule_that_a_test_names() -> None:
    named = {stem for rules in RULE_GROUPS for stem, _expected in rules} | {"sound"}
    assert {path.stem for path in INVALID.glob("*.bpmn")} == named


# --- XML well-formed and valid BPMN --------------------------------------------------------------------

WELL_FORMED_AND_BPMN = [
    (
        "not_well_formed",
        [("not_well_formed.bpmn", ["not well-formed XML", "line 35", "tag mismatch"])],
    ),
    ("not_bpmn", [("not_bpmn.bpmn", ["not a BPMN 2.0 diagram"])]),
    (
        "not_valid_bpmn",
        [("choose", ["not valid BPMN 2.0", "line 36", "bpmn:documentation is not allowed in this place"])],
    ),
    (
        "flow_to_nothing",
        [("routes_joined", ["the flow 'flow_done' from here leads to 'dnoe', which is not an element of the diagram"])],
    ),
    (
        "flow_from_nothing",
        [
            ("chased", ["the flow 'flow_chased' into here starts from 'chaes', which is not an element"]),
            ("chased", ["no path leads to this element"]),
        ],
    ),
]


@pytest.mark.parametrize(("stem", "expected"), WELL_FORMED_AND_BPMN, ids=[s for s, _ in WELL_FORMED_AND_BPMN])
def test_xml_well_formed_and_valid_bpmn(stem: str, expected: Expected) -> None:
    assert_refused(stem, expected)


def test_the_lines_named_are_the_lines_at_fault() -> None:
    assert line_of("not_well_formed", "</bpmn:incomin>") == 35
    assert line_of("not_valid_bpmn", "<bpmn:documentation>Pick one route.") == 36


# --- Our extensions present and spelt right ------------------------------------------------------------

EXTENSIONS = [
    ("misspelt_extension", [("choose", ["unknown extension element spiffworkflow:preScrpit"])]),
    ("misspelt_property", [("choose", ["unknown property 'taskDeu'", "did you mean taskDue?"])]),
    ("property_off_user_task", [("chase", ["taskSubject is read only on a user task"])]),
    ("handler_off_service_task", [("hand_over_to_lado", ["runs only on a service task"])]),
    (
        "user_task_without_form",
        [
            ("choose", ["names no form"]),
            # With no form, the route chosen is no longer a question asked before the gateway.
            ("route_gateway", ["no default flow", "'route' is not a choice question of a form that comes before it"]),
        ],
    ),
    ("service_task_without_handler", [("hand_over_to_lado", ["names no handler (serviceTaskOperator)"])]),
]


@pytest.mark.parametrize(("stem", "expected"), EXTENSIONS, ids=[s for s, _ in EXTENSIONS])
def test_our_extensions_present_and_spelt_right(stem: str, expected: Expected) -> None:
    assert_refused(stem, expected)


# --- Every form and handler exists, with the parameters the handler reads -------------------------------

FORMS_AND_HANDLERS = [
    (
        "missing_form",
        [
            ("choose", ["the form 'choose_the_route' does not exist"]),
            ("route_gateway", ["'route' is not a choice question"]),
        ],
    ),
    ("missing_handler", [("hand_over_to_lado", ["the handler 'hand_over_to_someone' does not exist"])]),
    (
        "called_process_missing",
        [("note_early_help", ["the process 'early_help_outcome' that this calls is not in the diagram's files"])],
    ),
    (
        "misspelt_parameter",
        [
            ("hand_over_to_lado", ["the handler 'hand_over' takes no parameter 'flw'", "did you mean 'flow'?"]),
            ("hand_over_to_lado", ["the handler 'hand_over' needs the parameter 'flow'"]),
        ],
    ),
]


@pytest.mark.parametrize(("stem", "expected"), FORMS_AND_HANDLERS, ids=[s for s, _ in FORMS_AND_HANDLERS])
def test_every_form_and_handler_exists(stem: str, expected: Expected) -> None:
    assert_refused(stem, expected)


def _reads_in_a_branch(ctx: Any) -> Any:
    if ctx.data.get("urgent"):
        return ctx.params["escalate_to"]
    return ctx.params["team"]


def _reads_through_a_helper(ctx: Any) -> Any:
    address = ctx.params["address"]
    return address, _helper_reading(ctx)


def _helper_reading(context: Any) -> Any:
    return context.params["copy_to"]


def _hands_on_every_parameter(ctx: Any) -> Any:
    return dict(ctx.params)


@pytest.mark.parametrize(
    ("handler", "required", "optional"),
    [
        (handlers.get("hand_over"), {"flow"}, {"reason"}),
        (handlers.get("record_referral_outcome"), set(), {"outcome", "rationale"}),
        (handlers.get("send_letters"), set(), set()),
        (_reads_in_a_branch, set(), {"escalate_to", "team"}),
        (_reads_through_a_helper, {"address"}, {"copy_to"}),
    ],
)
def test_the_parameters_a_handler_reads_are_found_in_its_code(handler: Any, required: set, optional: set) -> None:
    assert specs.parameters_read(handler) == HandlerParameters(frozenset(required), frozenset(optional))


def test_a_handler_whose_parameters_cannot_be_told_is_not_checked() -> None:
    assert specs.parameters_read(_hands_on_every_parameter) is None
    assert specs.parameters_read(None) is None
    # And a diagram giving it anything at all is not refused for it.
    parsed = specs.parse("misspelt_parameter", {"misspelt_parameter.bpmn": text_of("misspelt_parameter")}, FORMS)
    takes = {"hand_over": specs.parameters_read(_hands_on_every_parameter)}
    problems = specs.check(parsed, roles=["ssw"], handlers=["hand_over"], trial=False, handler_parameters=takes)
    assert problems == []


# --- Every expression compiles in the sandbox ------------------------------------------------------------

EXPRESSIONS = [
    ("condition_does_not_compile", [("flow_notification", ["the expression does not compile", "not valid Python"])]),
    (
        "parameter_does_not_compile",
        [("hand_over_to_lado", ["the expression for the parameter 'reason' does not compile"])],
    ),
    (
        "condition_missing",
        [("flow_early_help", ["no condition and is not the gateway's default flow", "give it a condition"])],
    ),
    (
        "unknown_helper",
        [("choose", ["the expression for taskDue calls working_day()", "did you mean working_days()?"])],
    ),
]


@pytest.mark.parametrize(("stem", "expected"), EXPRESSIONS, ids=[s for s, _ in EXPRESSIONS])
def test_every_expression_compiles_in_the_sandbox(stem: str, expected: Expected) -> None:
    assert_refused(stem, expected)


# --- Every lane maps to a role ---------------------------------------------------------------------------

LANES = [
    # The lane is marked once, not again on each of its tasks.
    ("lane_not_a_role", [("lane_ssw", ["the lane 'sws' is not a role", "did you mean 'ssw'?"])]),
    ("unnamed_lane", [("lane_ssw", ["the lane has no name"]), ("choose", ["in no lane, so nobody could do it"])]),
    ("task_outside_lanes", [("choose", ["the user task is in no lane, so nobody could do it"])]),
]


@pytest.mark.parametrize(("stem", "expected"), LANES, ids=[s for s, _ in LANES])
def test_every_lane_maps_to_a_role(stem: str, expected: Expected) -> None:
    assert_refused(stem, expected)


# --- No unreachable element --------------------------------------------------------------------------

REACHABLE = [("unreachable", [("tidy_up", ["no path leads to this element from a start event"])])]


@pytest.mark.parametrize(("stem", "expected"), REACHABLE, ids=[s for s, _ in REACHABLE])
def test_no_unreachable_element(stem: str, expected: Expected) -> None:
    assert_refused(stem, expected)


# --- Every exclusive gateway has a default flow, or tests == against every answer -----------------------

GATEWAYS = [
    (
        "gateway_missing_answer",
        [
            (
                "route_gateway",
                [
                    "has no default flow",
                    'no condition takes the answer "Concern about a child" ("concern")',
                    "'Which route does the contact take?' (form choose_route)",
                ],
            )
        ],
    ),
    (
        "gateway_optional_question",
        [("route_gateway", ["may be left unanswered in the form choose_route_optional", "Make the question required"])],
    ),
    ("gateway_not_a_choice", [("route_gateway", ["has no default flow", "test one choice question with =="])]),
    ("gateway_default_elsewhere", [("route_gateway", ["the default flow 'flow_done' does not leave this gateway"])]),
    ("default_with_condition", [("flow_concern", ["default flow, so its condition is never tested"])]),
]


@pytest.mark.parametrize(("stem", "expected"), GATEWAYS, ids=[s for s, _ in GATEWAYS])
def test_every_exclusive_gateway_has_a_default_or_tests_every_answer(stem: str, expected: Expected) -> None:
    assert_refused(stem, expected)


def _route_question(forms: dict[str, Any]) -> dict[str, Any]:
    return forms["choose_route"]["properties"]["route"]


@pytest.mark.parametrize("keyword", ["enum", "anyOf"])
def test_a_choice_question_written_with_enum_or_any_of_counts_too(keyword: str) -> None:
    forms = copy.deepcopy(FORMS)
    question = _route_question(forms)
    values = [option["const"] for option in question.pop("oneOf")]
    question[keyword] = values if keyword == "enum" else [{"const": v, "title": v.title()} for v in values]
    bundles.check("sound", {"sound.bpmn": text_of("sound")}, forms)

    # A further answer that no condition takes is named, whichever way the choices are written.
    question[keyword].append("police" if keyword == "enum" else {"const": "police", "title": "Police"})
    (problem,) = refusal("sound", forms=forms)
    assert problem.element_id == "route_gateway"
    assert ('"police"' if keyword == "enum" else '"Police" ("police")') in problem.message


def test_conditions_joined_by_or_count_and_a_number_is_not_its_text() -> None:
    diagram = text_of("sound")
    joined = diagram.replace('route in ("concern",)', 'route == "concern" or "notification" == route', 1).replace(
        'route == "notification"', 'route == "nobody chooses this"', 1
    )
    bundles.check("sound", {"sound.bpmn": joined}, FORMS)

    forms = copy.deepcopy(FORMS)
    _route_question(forms)["oneOf"].append({"const": 1, "title": "One"})
    numbered = diagram.replace('route in ("concern",)', 'route in ("concern", "1")', 1)
    (problem,) = refusal("sound", numbered, forms)
    assert '"One" (1)' in problem.message


# --- Loops are bounded -----------------------------------------------------------------------------------

LOOPS = [
    (
        "unbounded_loop",
        # Marked on the gateway that decides whether to go round again.
        [("routes_joined", ["this loop has no bound", "test a counter against a number", "choose"])],
    ),
    ("repeat_without_maximum", [("chase", ["repeats with no most number of times", "set loopMaximum"])]),
    (
        "repeat_maximum_not_a_number",
        [
            (
                "chase",
                ["line 47", "the loopMaximum of bpmn:standardLoopCharacteristics must be a whole number, not 'three'"],
            )
        ],
    ),
    ("cycle_without_end", [("remind_daily", ['"R/P1D" repeats without end', "say how many times"])]),
]


@pytest.mark.parametrize(("stem", "expected"), LOOPS, ids=[s for s, _ in LOOPS])
def test_loops_are_bounded(stem: str, expected: Expected) -> None:
    assert_refused(stem, expected)


# --- Timers parse ----------------------------------------------------------------------------------------

TIMERS = [
    (
        "timer_date_given_duration",
        [("choose_overdue", ['timeDate) gives "P3D", which is a length of time, not a moment', "timeDuration"])],
    ),
    (
        "timer_duration_given_moment",
        [("wait_a_day", ["timeDuration) gives working_days(), which is a moment, not a length of time"])],
    ),
    ("timer_not_quoted", [("wait_a_day", ["P1D is read as the name of a data field", 'write it in quotes, "P1D"'])]),
    (
        "timer_moment_not_quoted",
        [("choose_overdue", ["2026-03-02T09:00:00Z is read as code", 'write it in quotes, "2026-03-02T09:00:00Z"'])],
    ),
    ("timer_date_without_zone", [("choose_overdue", ['"2026-03-02T09:00:00" has no time zone'])]),
    ("timer_not_a_duration", [("wait_a_day", ['gives "one day", which is not a length of time such as "P1D"'])]),
    ("timer_says_nothing", [("wait_a_day", ["the timer says neither when (timeDate)"])]),
]


@pytest.mark.parametrize(("stem", "expected"), TIMERS, ids=[s for s, _ in TIMERS])
def test_timers_parse(stem: str, expected: Expected) -> None:
    assert_refused(stem, expected)


@pytest.mark.parametrize(
    ("timer", "expression"),
    [
        ("timeDate", '"2026-03-02T09:00:00+00:00"'),
        ("timeDate", "hours_from_now(4) if urgent else working_days(1)"),
        ("timeDate", "review_due"),  # from the case's data: known only when a case runs
        ("timeDuration", '"PT4H"'),
        ("timeDuration", '"P2W"'),
        ("timeCycle", '"R2/2026-03-02T09:00:00Z/P1D"'),
    ],
)
def test_timers_that_give_the_right_kind_pass(timer: str, expression: str) -> None:
    tags = {
        "timeDate": "timeDate>working_days(3)</bpmn:timeDate",
        "timeDuration": 'timeDuration>"P1D"</bpmn:timeDuration',
    }
    tags["timeCycle"] = 'timeCycle>"R3/P1D"</bpmn:timeCycle'
    old = tags[timer]
    diagram = text_of("sound").replace(old, f"{timer}>{expression}</bpmn:{timer}", 1)
    assert diagram != text_of("sound")
    bundles.check("sound", {"sound.bpmn": diagram}, FORMS)


RULE_GROUPS = [
    WELL_FORMED_AND_BPMN,
    EXTENSIONS,
    FORMS_AND_HANDLERS,
    EXPRESSIONS,
    LANES,
    REACHABLE,
    GATEWAYS,
    LOOPS,
    TIMERS,
]


def test_boundary_events_hung_on_each_other_are_refused_and_the_check_does_not_loop() -> None:
    """A modeller will not draw it, but a file can say it: two boundary events each attached to the other,
    one leading to a gateway. The check that looks back along the paths once recursed without end here."""
    cycle = (
        '<bpmn:boundaryEvent id="b1" attachedToRef="b2" cancelActivity="false"><bpmn:outgoing>fb1</bpmn:outgoing>'
        '<bpmn:timerEventDefinition id="t1"><bpmn:timeDuration>"P1D"</bpmn:timeDuration></bpmn:timerEventDefinition>'
        "</bpmn:boundaryEvent>"
        '<bpmn:boundaryEvent id="b2" attachedToRef="b1" cancelActivity="false"><bpmn:outgoing>fb2</bpmn:outgoing>'
        '<bpmn:timerEventDefinition id="t2"><bpmn:timeDuration>"P1D"</bpmn:timeDuration></bpmn:timerEventDefinition>'
        "</bpmn:boundaryEvent>"
        '<bpmn:sequenceFlow id="fb1" sourceRef="b1" targetRef="route_gateway"/>'
        '<bpmn:sequenceFlow id="fb2" sourceRef="b2" targetRef="route_gateway"/>'
    )
    diagram = text_of("sound").replace(
        '<bpmn:sequenceFlow id="flow_start"', cycle + '<bpmn:sequenceFlow id="flow_start"'
    )
    assert diagram != text_of("sound")
    problems = refusal("sound", diagram)
    hung = [p for p in problems if "not a step" in p.message]
    assert [p.element_id for p in hung] == ["b1", "b2"]
