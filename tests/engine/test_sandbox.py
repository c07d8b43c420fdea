"""The diagram sandbox: known escapes are refused, size bombs stop quickly, ordinary code still works."""

from __future__ import annotations

import json
import random
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pytest
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from app.engine.sandbox import (
    RestrictedEnvironment,
    SandboxError,
    SandboxScriptEngine,
    compile_expression,
    compile_script,
    trial_run,
)


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """A file every attack tries to create; it must never exist afterwards."""
    return tmp_path / "attack-ran"


def touch(marker: Path) -> str:
    return f"touch {marker}"


# --- The six escapes ------------------------------------------------------------------------------


def test_import_in_an_expression_is_refused(marker: Path) -> None:
    source = f"__import__('os').system({touch(marker)!r})"
    with pytest.raises(SandboxError, match="underscore are not allowed: __import__"):
        RestrictedEnvironment().evaluate(source, {})
    assert not marker.exists()


def test_subclass_walk_to_os_system_is_refused(marker: Path) -> None:
    source = (
        "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]"
        f".__init__.__globals__['system']({touch(marker)!r})"
    )
    with pytest.raises(SandboxError, match="underscore are not allowed: __class__"):
        RestrictedEnvironment().evaluate(source, {})
    assert not marker.exists()


def test_a_module_in_the_data_cannot_be_used(marker: Path) -> None:
    import os

    environment = RestrictedEnvironment()
    with pytest.raises(SandboxError, match="underscore are not allowed: _os"):
        environment.evaluate(f"random._os.system({touch(marker)!r})", {"random": random})
    # Even a public attribute of a module is refused, so a module in the data is never a way out.
    with pytest.raises(SandboxError, match="Modules cannot be used"):
        environment.evaluate(f"os.system({touch(marker)!r})", {"os": os})
    with pytest.raises(SandboxError, match="Modules cannot be used"):
        environment.execute(f"r = holder['m'].system({touch(marker)!r})", {"holder": {"m": os}})
    assert not marker.exists()


def test_open_is_refused(marker: Path) -> None:
    with pytest.raises(SandboxError, match="'open' is not available"):
        RestrictedEnvironment().evaluate("open('/etc/hostname').read()", {})
    with pytest.raises(SandboxError, match="'open' is not available"):
        RestrictedEnvironment().execute(f"f = open({str(marker)!r}, 'w')\nf.write('x')", {})
    assert not marker.exists()


def test_attribute_walk_through_str_format_is_refused() -> None:
    environment = RestrictedEnvironment()
    with pytest.raises(SandboxError, match=r"str\.format\(\) is not allowed"):
        environment.evaluate("'{0.__class__.__base__.__subclasses__}'.format(())", {})
    with pytest.raises(SandboxError, match=r"str\.format\(\) is not allowed"):
        environment.evaluate("str.format('{0.__class__}', ())", {})
    with pytest.raises(SandboxError, match=r"str\.format\(\) is not allowed"):
        environment.evaluate("'{x.__class__}'.format_map({'x': 1})", {})


def test_generator_frame_walk_is_refused(marker: Path) -> None:
    script = (
        "g = (x for x in [1])\n"
        "b = g.gi_frame.f_back.f_back.f_globals['__builtins__']\n"
        f"b['__import__']('os').system({touch(marker)!r})\n"
    )
    data: dict[str, Any] = {}
    with pytest.raises(SandboxError, match="'gi_frame' is not allowed") as refused:
        RestrictedEnvironment().execute(script, data)
    assert "Line 2" in str(refused.value)
    assert data == {}
    assert not marker.exists()


def test_the_default_spiff_environment_really_is_open(marker: Path) -> None:
    """Why this module exists: the same gateway condition runs in SpiffWorkflow's own environment."""
    TaskDataEnvironment().evaluate(f"__import__('os').system({touch(marker)!r})", {})
    assert marker.exists()


# --- Value-size bombs -----------------------------------------------------------------------------

REFUSED_EXPRESSIONS = [
    ("'a' * 10**8", "Repeating this text or list"),
    ("[0] * 10**10", "Repeating this text or list"),
    ("10 ** 10 ** 10", r"A power \(\*\*\)"),
    ("pow(10, 10**10)", r"A power \(\*\*\)"),
    ("1 << 10**9", "Shifting a number left"),
    ("list(range(10**9))", r"This range\(\)"),
    ("10.0 ** 400", "too large to work with"),
    ("round(10**100, -10**8)", r"round\(\) to more than"),
    ("int(Decimal('9e999999'))", "Turning a decimal"),
    ("'%d' % Decimal('9e999999')", "Turning a decimal"),
    ("'%0999999999d' % 1", "in %-formatting"),
    ("'%*d' % (10**9, 1)", "Widths given by '\\*'"),
    ("f'{1:>{10**9}}'", "in an f-string"),
    ("'a'.ljust(10**9)", "A text width"),
    ("str.center('a', 10**9)", "A text width"),
    ("(1).to_bytes(10**9, 'big')", "A byte length"),
    ("('a' * 99999).replace('a', 'a' * 99999)", r"This replace\(\)"),
    ("('a' * 99999).join(['b' * 99999] * 9)", r"This join\(\)"),
    ("('a' * 99999).translate({97: 'b' * 99})", r"This translate\(\)"),
    ("('a' * 99999).translate(['b' * 99] * 98)", r"This translate\(\)"),
    ("sum([[0] * 99999] * 3, [])", "Joining these texts or lists"),
    ("sum(i * i for i in range(100000) for j in range(100000))", "loop steps and function calls"),
    ("(lambda f: f(f, 60))(lambda f, n: n and f(f, n - 1) + f(f, n - 1))", "loop steps and function calls"),
]

REFUSED_SCRIPTS = [
    ("s = 'a'\ns *= 10**9", "Repeating this text or list"),
    ("n = 2\nn **= 10**9", r"A power \(\*\*\)"),
    ("n = 1\nn <<= 10**9", "Shifting a number left"),
    ("while True:\n    pass", "Line 1: Loops with 'while' are not allowed"),
    ("items = [0]\nfor i in range(40):\n    items += items", "Joining these texts or lists"),
    ("items = [0]\nfor i in range(40):\n    items.extend(items)", "Extending this list"),
    ("items = [0]\nfor i in range(40):\n    items = [*items, *items]", "This unpacked list"),
    ("items = [0]\nfor i in items:\n    items.append(i)", "loop steps and function calls"),
    ("def f(n):\n    return n and f(n - 1) + f(n - 1)\nx = f(60)", "loop steps and function calls"),
]


@pytest.mark.parametrize(("source", "message"), REFUSED_EXPRESSIONS)
def test_value_size_bombs_in_expressions_are_refused_by_the_size_checks(source: str, message: str) -> None:
    # The message names the check that stopped it, so the bomb was refused before it was built.
    with pytest.raises(SandboxError, match=message):
        RestrictedEnvironment().evaluate(source, {})


@pytest.mark.parametrize(("source", "message"), REFUSED_SCRIPTS)
def test_value_size_bombs_in_scripts_are_refused_by_the_size_checks(source: str, message: str) -> None:
    with pytest.raises(SandboxError, match=message):
        RestrictedEnvironment().execute(source, {})


def test_a_caught_refusal_does_not_let_a_loop_carry_on() -> None:
    script = (
        "n = 0\n"
        "for i in range(100000):\n"
        "    for j in range(100000):\n"
        "        try:\n"
        "            n = n + 1\n"
        "        except Exception:\n"
        "            pass\n"
    )
    with pytest.raises(SandboxError, match="loop steps"):
        RestrictedEnvironment().execute(script, {})


# --- Ordinary diagram code ------------------------------------------------------------------------

ORDINARY_EXPRESSIONS: list[tuple[str, dict[str, Any], Any]] = [
    ("threshold == 's47' and consent != 'given'", {"threshold": "s47", "consent": "refused"}, True),
    ("len(children) > 1", {"children": [{"age": 3}, {"age": 9}]}, True),
    ("2 * 3", {}, 6),
    ("'ab' * 3", {}, "ababab"),
    ("2 ** 10", {}, 1024),
    ("1 << 4", {}, 16),
    ("7 % 3", {}, 1),
    ("'%s is %d' % ('age', 9)", {}, "age is 9"),
    ("[c['age'] for c in children if c['age'] < 5]", {"children": [{"age": 3}, {"age": 9}]}, [3]),
    ("{c['name']: c['age'] for c in children}", {"children": [{"name": "A", "age": 3}]}, {"A": 3}),
    ("sorted(ages, key=lambda a: -a)[0]", {"ages": [3, 9, 5]}, 9),
    ("sum(ages) / len(ages)", {"ages": [3, 9]}, 6.0),
    ("any(a < 1 for a in ages) or all(a > 0 for a in ages)", {"ages": [3]}, True),
    ("isinstance(age, int) and not isinstance(age, str)", {"age": 4}, True),
    ("int('42') + round(2.6) + abs(-1)", {}, 46),
    ("date(2024, 1, 31) + timedelta(days=1)", {}, date(2024, 2, 1)),
    ("datetime.strptime('2024-03-01', '%Y-%m-%d').month", {}, 3),
    ("f'{date(2024, 3, 1):%d %B %Y}'", {}, "01 March 2024"),
    ("f'{amount:>8.2f}|{name!r}'", {"amount": 3.5, "name": "x"}, "    3.50|'x'"),
    ("Decimal('1.10') + Decimal('2.20')", {}, Decimal("3.30")),
    ("', '.join(str(n) for n in range(3))", {}, "0, 1, 2"),
    ("list(zip([1, 2], 'ab')) + list(enumerate('c'))", {}, [(1, "a"), (2, "b"), (0, "c")]),
    ("[*first, *second]", {"first": [1], "second": (2,)}, [1, 2]),
    ("max(*ages)", {"ages": [3, 9]}, 9),
    ("first + second", {"first": "ab", "second": "cd"}, "abcd"),
    ("date.today().year > 2000", {}, True),
]


@pytest.mark.parametrize(("source", "data", "expected"), ORDINARY_EXPRESSIONS)
def test_ordinary_expressions_work(source: str, data: dict[str, Any], expected: Any) -> None:
    assert RestrictedEnvironment().evaluate(source, data) == expected


def test_a_misspelt_attribute_is_an_error_not_none() -> None:
    with pytest.raises(AttributeError):
        RestrictedEnvironment().evaluate("name.uper()", {"name": "x"})


def test_a_script_writes_its_variables_into_the_data_and_nothing_else() -> None:
    data: dict[str, Any] = {"children": [{"age": 3}, {"age": 9}], "note": "old"}
    script = (
        "summary = {}\n"
        "summary['count'] = len(children)\n"
        "ages = [0, 0]\n"
        "for i, child in enumerate(children):\n"
        "    ages[i] = child['age']\n"
        "def older(child):\n"
        "    return child['age'] > 5\n"
        "first, (second, third) = 1, (2, 3)\n"
        "note = 'new'\n"
        "older_count = len([c for c in children if older(c)])\n"
        "n = 1\n"
        "n += 2\n"
        "n *= 2\n"
        "del third\n"
    )
    RestrictedEnvironment().execute(script, data)
    assert data == {
        "children": [{"age": 3}, {"age": 9}],
        "note": "new",
        "summary": {"count": 2},
        "ages": [3, 9],
        "i": 1,
        "child": {"age": 9},
        "first": 1,
        "second": 2,
        "older_count": 1,
        "n": 6,
    }


def test_helpers_given_at_construction_are_callable_and_never_left_in_the_data() -> None:
    def working_days(start: date, end: date) -> int:
        return (end - start).days

    environment = RestrictedEnvironment(helpers={"working_days": working_days})
    assert environment.evaluate("working_days(a, b)", {"a": date(2024, 1, 1), "b": date(2024, 1, 4)}) == 3
    data: dict[str, Any] = {"a": date(2024, 1, 1)}
    environment.execute("due = working_days(a, date(2024, 1, 11))", data)
    assert data == {"a": date(2024, 1, 1), "due": 10}


def test_external_context_is_visible_but_not_left_in_the_data() -> None:
    data: dict[str, Any] = {"x": 1}
    RestrictedEnvironment().execute("y = x + shared['z']", data, {"shared": {"z": 2}})
    assert data == {"x": 1, "y": 3}
    assert RestrictedEnvironment().evaluate("x + shared", {"x": 1}, {"shared": 5}) == 6


def test_data_named_like_a_helper_is_refused() -> None:
    environment = RestrictedEnvironment(helpers={"working_days": lambda *_: 0})
    with pytest.raises(SandboxError, match="rename these fields: working_days"):
        environment.execute("x = 1", {"working_days": 3})
    with pytest.raises(SandboxError, match="rename these fields: shared"):
        environment.execute("x = 1", {"shared": 1}, {"shared": 2})
    with pytest.raises(SandboxError, match="rename these fields: _getattr_"):
        environment.execute("x = 1", {"_getattr_": 3})


def test_data_cannot_replace_a_guard_in_an_expression() -> None:
    """Task data goes into the same namespace as the guards; the guards are put in last."""
    data = {"_getattr_": getattr, "s": "x"}
    with pytest.raises(SandboxError, match=r"str\.format\(\) is not allowed"):
        RestrictedEnvironment().evaluate("s.format()", data)


@pytest.mark.parametrize("name", ["_private", "1up", "_getattr_"])
def test_helper_names_must_be_usable_from_diagram_code(name: str) -> None:
    with pytest.raises(ValueError, match="cannot be called"):
        RestrictedEnvironment(helpers={name: len})


# --- Compiling ------------------------------------------------------------------------------------


def test_compiled_code_is_cached_by_source() -> None:
    assert compile_expression("a == 1") is compile_expression("a == 1")
    assert compile_script("a = 1") is compile_script("a = 1")


def test_a_syntax_error_names_the_line_and_is_also_a_syntax_error() -> None:
    with pytest.raises(SandboxError, match=r"Line 2: this is not valid Python \(") as refused:
        compile_script("x = 1\ny = (")
    # SpiffWorkflow's DMN engine relies on SyntaxError to retry '> 5' as 'v > 5'.
    assert isinstance(refused.value, SyntaxError)
    with pytest.raises(SandboxError, match=r"Line 1: this is not valid Python \('return' outside function\)"):
        compile_script("return 1")
    with pytest.raises(SyntaxError):
        SandboxScriptEngine().validate("> 5")
    SandboxScriptEngine().validate("v > 5")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("import os", "Line 1: Imports are not allowed"),
        ("from os import system", "Line 1: Imports are not allowed"),
        ("class A:\n    pass", "Line 1: Classes cannot be defined"),
        ("x = 1\nprint(x)", "Line 2: print"),
        ("x = eval('1')", "Line 1: 'eval' is not available"),
        ("x = getattr(1, 'real')", "Line 1: 'getattr' is not available"),
        ("_x = 1", "Names starting with an underscore are not allowed: _x"),
        ("x = f(" + ", ".join(["*a"] * 9) + ")", "More than 8 '\\*' unpackings"),
        # RestrictedPython's own rule: write `counts['a'] = counts['a'] + 1` instead.
        ("counts['a'] += 1", "Augmented assignment of object items"),
    ],
)
def test_policy_violations_are_refused_at_compile_time(source: str, message: str) -> None:
    with pytest.raises(SandboxError, match=message):
        compile_script(source)


def test_absurdly_nested_code_is_refused_not_crashed() -> None:
    with pytest.raises(SandboxError):
        compile_expression("-" * 200_000 + "1")


# --- The script engine, in real SpiffWorkflow runs ------------------------------------------------

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"


def _workflow(process: str, engine: SandboxScriptEngine) -> BpmnWorkflow:
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN}" xmlns:spiffworkflow="{SPIFF}"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="http://example.org/compass">
  <bpmn:process id="flow" isExecutable="true">{process}</bpmn:process>
</bpmn:definitions>"""
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(xml.encode(), filename="flow.bpmn")
    return BpmnWorkflow(parser.get_spec("flow"), script_engine=engine)


def _gateway(condition: str) -> str:
    """start -> gateway -> (condition) end_yes, or by default end_no."""
    return f"""
    <bpmn:startEvent id="start"><bpmn:outgoing>to_gateway</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="to_gateway" sourceRef="start" targetRef="gateway"/>
    <bpmn:exclusiveGateway id="gateway" default="to_no">
      <bpmn:incoming>to_gateway</bpmn:incoming>
      <bpmn:outgoing>to_yes</bpmn:outgoing>
      <bpmn:outgoing>to_no</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="to_yes" sourceRef="gateway" targetRef="end_yes">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(condition)}
      </bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="to_no" sourceRef="gateway" targetRef="end_no"/>
    <bpmn:endEvent id="end_yes"><bpmn:incoming>to_yes</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_no"><bpmn:incoming>to_no</bpmn:incoming></bpmn:endEvent>"""


def _completed(workflow: BpmnWorkflow) -> set[str]:
    return {task.task_spec.bpmn_id for task in workflow.get_tasks(state=TaskState.COMPLETED)} - {None}


@pytest.mark.parametrize(
    "attack",
    [
        "__import__('os').system({command!r}) == 0",
        "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]"
        ".__init__.__globals__['system']({command!r}) == 0",
        "open({path!r}, 'w').write('x') > 0",
    ],
)
def test_an_attack_in_a_gateway_condition_stops_the_workflow(marker: Path, attack: str) -> None:
    condition = attack.format(command=touch(marker), path=str(marker))
    workflow = _workflow(_gateway(condition), SandboxScriptEngine())
    with pytest.raises(WorkflowTaskException) as stopped:
        workflow.do_engine_steps()
    assert isinstance(stopped.value.__cause__, SandboxError)
    # SpiffWorkflow's own message is only "Error evaluating expression ..."; the refusal is added to it.
    assert str(stopped.value.__cause__) in str(stopped.value)
    assert not marker.exists()
    assert "end_yes" not in _completed(workflow)


def test_a_script_task_feeds_a_gateway_and_a_service_task_in_a_real_run() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def send_letter(task: Any, operation_name: str, operation_params: dict[str, Any]) -> str:
        calls.append((operation_name, operation_params))
        return json.dumps({"sent": True})

    script = "children = [{'age': 3}, {'age': 9}]\nthreshold = 's47'\ndef helper():\n    return 1\n"
    process = f"""
    <bpmn:startEvent id="start"><bpmn:outgoing>to_script</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="to_script" sourceRef="start" targetRef="prepare"/>
    <bpmn:scriptTask id="prepare">
      <bpmn:incoming>to_script</bpmn:incoming><bpmn:outgoing>to_service</bpmn:outgoing>
      <bpmn:script>{escape(script)}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="to_service" sourceRef="prepare" targetRef="letter"/>
    <bpmn:serviceTask id="letter">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="letters.send" resultVariable="letter_result">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="count" type="int" value={quoteattr("len(children) * 2")}/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>to_service</bpmn:incoming><bpmn:outgoing>to_gateway</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="to_gateway" sourceRef="letter" targetRef="gateway"/>
    <bpmn:exclusiveGateway id="gateway" default="to_no">
      <bpmn:incoming>to_gateway</bpmn:incoming>
      <bpmn:outgoing>to_yes</bpmn:outgoing>
      <bpmn:outgoing>to_no</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="to_yes" sourceRef="gateway" targetRef="end_yes">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{
        escape("threshold == 's47' and len(children) > 1")
    }</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="to_no" sourceRef="gateway" targetRef="end_no"/>
    <bpmn:endEvent id="end_yes"><bpmn:incoming>to_yes</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_no"><bpmn:incoming>to_no</bpmn:incoming></bpmn:endEvent>"""
    workflow = _workflow(process, SandboxScriptEngine(service_caller=send_letter))
    workflow.do_engine_steps()
    assert workflow.is_completed()
    assert {"end_yes", "prepare", "letter"} <= _completed(workflow)
    assert "end_no" not in _completed(workflow)
    assert calls == [("letters.send", {"count": {"value": 4, "type": "int"}})]
    data = workflow.get_tasks(state=TaskState.COMPLETED)[-1].data
    assert data == {
        "children": [{"age": 3}, {"age": 9}],
        "threshold": "s47",
        "letter_result": {"sent": True},
    }


def test_a_script_error_in_a_real_run_names_the_refusal() -> None:
    process = _gateway("True").replace(
        '<bpmn:sequenceFlow id="to_gateway" sourceRef="start" targetRef="gateway"/>',
        '<bpmn:sequenceFlow id="to_gateway" sourceRef="start" targetRef="bomb"/>'
        '<bpmn:scriptTask id="bomb"><bpmn:incoming>to_gateway</bpmn:incoming>'
        "<bpmn:outgoing>after_bomb</bpmn:outgoing>"
        "<bpmn:script>s = 'a'\ns *= 10**9</bpmn:script></bpmn:scriptTask>"
        '<bpmn:sequenceFlow id="after_bomb" sourceRef="bomb" targetRef="gateway"/>',
    )
    workflow = _workflow(process, SandboxScriptEngine())
    with pytest.raises(WorkflowTaskException, match="Repeating this text or list") as stopped:
        workflow.do_engine_steps()
    assert isinstance(stopped.value.__cause__, SandboxError)


def test_service_tasks_need_a_caller() -> None:
    with pytest.raises(NotImplementedError, match="No handler caller configured"):
        SandboxScriptEngine().call_service(None, operation_name="letters.send", operation_params={})


def test_the_engine_runs_only_in_the_sandbox() -> None:
    assert isinstance(SandboxScriptEngine().environment, RestrictedEnvironment)
    with pytest.raises(TypeError):
        SandboxScriptEngine(environment=TaskDataEnvironment())  # type: ignore[arg-type]
    with pytest.raises(SandboxError):
        SandboxScriptEngine().validate("__import__('os')")


# --- Trial runs -----------------------------------------------------------------------------------


def test_trial_run_reports_memory_cpu_and_refusals_by_element_and_nothing_else() -> None:
    items = [
        ("harmless", "expression", "threshold == 's47' and consent != 'given'"),
        ("hungry", "script", "rows = [[0] * 90000 for i in range(90000)]"),
        ("missing_variable", "expression", "len(referrals) > 2"),
        # Few loop steps, but each sorts 100,000 numbers as text: the size checks cannot see this.
        ("slow", "expression", "sum(len(sorted(range(100000), key=str)) for i in range(1000))"),
        ("refused_after_a_crash", "expression", "'a' * 10**8"),
        ("spinning", "expression", "sum(i * i for i in range(100000) for j in range(100000))"),
        ("harmless_script", "script", "flag = threshold == 's47'"),
    ]
    problems = dict(trial_run(items, {"threshold": "s47", "consent": "given"}, cpu_seconds=1))
    assert set(problems) == {"hungry", "slow", "refused_after_a_crash", "spinning"}
    assert "MB of memory" in problems["hungry"]
    assert "seconds of processing time" in problems["slow"]
    assert "Repeating this text or list" in problems["refused_after_a_crash"]
    assert "loop steps" in problems["spinning"]


def test_trial_run_does_not_change_the_sample_data() -> None:
    data = {"items": [1, 2]}
    assert trial_run([("s", "script", "items.append(3)\nx = 1")], data) == []
    assert data == {"items": [1, 2]}
    assert trial_run([], data) == []
