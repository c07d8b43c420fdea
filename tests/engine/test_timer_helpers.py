"""The diagram helpers working_days(n), end_of_working_day() and hours_from_now(h) (DESIGN.md rule 8).

They turn a statutory clock into an absolute moment, as the ISO 8601 text a BPMN timeDate wants, and read
the clock when diagram code calls them. time-machine moves that clock and SpiffWorkflow's own together, so
a real timer is driven here to just before and just after its deadline.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from support import diagram_files, parsed_test_bundle

from app.engine import runtime, specs
from app.engine.calendar import HELPER_NAMES, TRIAL_RESULTS, Calendar, diagram_helpers
from app.engine.sandbox import RestrictedEnvironment, SandboxError, unknown_calls

LONDON = ZoneInfo("Europe/London")
FLOW = "working_day_timer"
TIMER = "<bpmn:timeDate>working_days(1)</bpmn:timeDate>"


def london(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


def at(text: str) -> time_machine.travel:
    """The clock stopped at a London local moment."""
    return time_machine.travel(london(text), tick=False)


@pytest.fixture
def helpers() -> RestrictedEnvironment:
    return RestrictedEnvironment(helpers=diagram_helpers(Calendar()))


@pytest.fixture
def council_calendar(monkeypatch: pytest.MonkeyPatch) -> Iterator[Calendar]:
    """The runtime's calendar for one test, put back afterwards."""
    monkeypatch.setattr(runtime, "_calendar", runtime._calendar)
    calendar = Calendar(closure_days=frozenset({date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31)}))
    runtime.use_calendar(calendar)
    yield calendar


# --- What the helpers give back -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expression", "result"),
    [
        ("2026-10-23 16:59", "working_days(1)", "2026-10-26T16:59:00+00:00"),
        ("2027-03-25 10:00", "working_days(1)", "2027-03-30T09:00:00+00:00"),
        ("2026-10-24 23:30", "working_days(1)", "2026-10-26T17:00:00+00:00"),
        ("2026-10-23 16:59", "end_of_working_day()", "2026-10-23T16:00:00+00:00"),
        ("2026-10-23 17:30", "end_of_working_day()", "2026-10-26T17:00:00+00:00"),
        ("2027-03-28 00:30", "hours_from_now(2)", "2027-03-28T02:30:00+00:00"),
        ("2026-10-13 10:00", "hours_from_now(0.25)", "2026-10-13T09:15:00+00:00"),
        ("2026-10-13 10:00", "close_of_day('2026-10-20')", "2026-10-20T16:00:00+00:00"),
        ("2026-10-13 10:00", "close_of_day('2026-11-03')", "2026-11-03T17:00:00+00:00"),
    ],
)
def test_each_helper_gives_the_iso_text_of_an_absolute_utc_moment(
    helpers: RestrictedEnvironment, now: str, expression: str, result: str
) -> None:
    with at(now):
        value = helpers.evaluate(expression, {})
    assert value == result
    assert datetime.fromisoformat(value).utcoffset() is not None


def test_the_helpers_read_the_clock_when_called(helpers: RestrictedEnvironment) -> None:
    with at("2026-10-13 10:00"):
        tuesday = helpers.evaluate("working_days(1)", {})
    with at("2026-10-14 10:00"):
        wednesday = helpers.evaluate("working_days(1)", {})
    assert (tuesday, wednesday) == ("2026-10-14T09:00:00+00:00", "2026-10-15T09:00:00+00:00")


def test_helpers_work_in_scripts_and_conditions_and_are_not_left_in_the_data(helpers: RestrictedEnvironment) -> None:
    data: dict[str, Any] = {"n": 3}
    with at("2026-05-01 14:00"):
        helpers.execute("escalate_by = working_days(n)\nurgent = hours_from_now(2) < escalate_by", data)
        assert helpers.evaluate("working_days(n) == escalate_by", data) is True
    assert data == {"n": 3, "escalate_by": "2026-05-07T13:00:00+00:00", "urgent": True}


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("working_days(-1)", "whole number"),
        ("working_days(1.5)", "whole number"),
        ("working_days(True)", "whole number"),
        ("working_days(10 ** 6)", "whole number"),
        ("hours_from_now('2')", "must be a number"),
        ("hours_from_now(-1)", "from 0 to"),
        ("hours_from_now(float('inf'))", "from 0 to"),
        ("close_of_day('next Tuesday')", "must be a date"),
    ],
)
def test_helper_arguments_are_checked(helpers: RestrictedEnvironment, expression: str, message: str) -> None:
    # The helpers run outside the sandbox's step budget, so their own arguments must bound their work.
    with at("2026-10-13 10:00"), pytest.raises(ValueError, match=message):
        helpers.evaluate(expression, {})


def test_data_named_like_a_helper_is_refused(helpers: RestrictedEnvironment) -> None:
    with pytest.raises(SandboxError, match="rename these fields: working_days"):
        helpers.execute("x = 1", {"working_days": 2})


def test_a_helper_that_hands_back_an_object_is_stopped() -> None:
    environment = RestrictedEnvironment(helpers={"leak": lambda: os, "fine": lambda: "text"})
    assert environment.evaluate("fine()", {}) == "text"
    with pytest.raises(SandboxError, match=r"leak\(\) gave back a module"):
        environment.evaluate("leak()", {})


def test_the_helper_names_are_the_ones_the_deploy_checks_know() -> None:
    assert tuple(diagram_helpers(Calendar())) == HELPER_NAMES == tuple(TRIAL_RESULTS)


# --- A real timer ---------------------------------------------------------------------------------


def waiting_until(workflow: Any) -> list[str]:
    """The moments the instance's timers wait for, as SpiffWorkflow reports them."""
    return [str(event.value) for event in workflow.waiting_events() if event.event_type.startswith("Time")]


def test_a_working_day_timer_fires_at_its_deadline_and_not_before() -> None:
    """Received on the Thursday before Easter 2027: Good Friday and Easter Monday are not working days and
    the clocks go forward on the Sunday, so one working day from 10:00 GMT is 10:00 BST on the Tuesday."""
    bundle = parsed_test_bundle(FLOW)
    deadline = datetime(2027, 3, 30, 9, 0, tzinfo=UTC)
    with at("2027-03-25 10:00"):
        workflow, failure = runtime.start(bundle, caller=None)
    assert failure is None
    assert waiting_until(workflow) == [deadline.isoformat()]

    with time_machine.travel(datetime(2027, 3, 30, 8, 59, 59, tzinfo=UTC), tick=False):
        assert runtime.fire_due_timers(workflow) is None
        assert runtime.ready_user_tasks(workflow, bundle) == []
        state, _ = runtime.save(workflow, max_depth=800)

    # Restored later, as the worker would: the deadline was fixed when the timer started waiting.
    with time_machine.travel(datetime(2027, 3, 30, 9, 0, 1, tzinfo=UTC), tick=False):
        restored = runtime.restore(state, bundle, caller=None)
        assert waiting_until(restored) == [deadline.isoformat()]
        assert runtime.fire_due_timers(restored) is None
        ready = runtime.ready_user_tasks(restored, bundle)
    assert [(t.bpmn_id, t.subject) for t in ready] == [
        ("chase", "was due 2027-03-30T09:00:00+00:00, close 2027-03-30T16:00:00+00:00")
    ]


def test_the_runtime_counts_with_the_calendar_the_app_gives_it(council_calendar: Calendar) -> None:
    bundle = parsed_test_bundle(FLOW)
    with at("2026-12-24 11:00"):
        workflow, _ = runtime.start(bundle, caller=None)
    # Christmas, the substitute Boxing Day, the council's three closure days and New Year's Day.
    assert waiting_until(workflow) == ["2027-01-04T11:00:00+00:00"]


def test_next_wake_sees_a_working_day_timer() -> None:
    with at("2027-03-25 10:00"):
        workflow, _ = runtime.start(parsed_test_bundle(FLOW), caller=None)
    assert runtime.next_wake(workflow) == datetime(2027, 3, 30, 9, 0, tzinfo=UTC)


# --- Deploy checks ----------------------------------------------------------------------------------


def check(replace: tuple[str, str] | None = None, trial: bool = False) -> list[str]:
    files, forms = diagram_files(FLOW)
    if replace is not None:
        name = f"{FLOW}.bpmn"
        assert files[name].count(replace[0]) == 1
        files[name] = files[name].replace(*replace)
    parsed = specs.parse(FLOW, files, forms)
    return [str(p) for p in specs.check(parsed, roles=["coordinator"], handlers=[], trial=trial)]


def test_a_diagram_using_the_helpers_passes_the_deploy_checks_with_its_trial_run() -> None:
    assert check(trial=True) == []


@pytest.mark.parametrize(
    ("replace", "problem"),
    [
        (
            (TIMER, "<bpmn:timeDate>working_dayz(1)</bpmn:timeDate>"),
            "one_working_day: the expression calls working_dayz(), which is not a function diagram code can use "
            "(did you mean working_days()?)",
        ),
        (
            ("due = working_days(1)", "due = end_of_working_dya()"),
            "note_due: the script calls end_of_working_dya(), which is not a function diagram code can use "
            "(did you mean end_of_working_day()?)",
        ),
        (
            ("due = working_days(1)", "due = frobnicate(1)"),
            "note_due: the script calls frobnicate(), which is not a function diagram code can use "
            "(the diagram helpers are working_days, end_of_working_day, hours_from_now, next_working_day_at, "
            "close_of_day)",
        ),
    ],
)
def test_a_misspelt_helper_is_refused_at_deploy(replace: tuple[str, str], problem: str) -> None:
    assert check(replace) == [problem]


def test_the_trial_run_tries_the_code_after_a_helper_call() -> None:
    """Without a stand-in for the helper, the call would be a NameError the trial ignores, and the code
    after it would never be tried."""
    script = "due = working_days(1)\nbig = due * (10 ** 9)"
    problems = check(("due = working_days(1)", script), trial=True)
    assert len(problems) == 1 and problems[0].startswith("note_due: a trial run of its script failed: ")


@pytest.mark.parametrize(
    ("kind", "source", "unknown"),
    [
        ("expression", "working_days(1)", []),
        ("expression", "len(x) > 0 and sorted(x)[0] == 'a'", []),
        ("expression", "date.today().isoformat()", []),  # a method, not a name
        ("expression", "(lambda f: f(1))(working_days)", []),
        ("expression", "[g(1) for g in fs]", []),
        ("expression", "working_day(1) or hours_from_now(1)", ["working_day"]),
        ("script", "def later(n):\n    return working_days(n)\ndue = later(2)", []),
        ("script", "pick = max\nx = pick(1, 2)", []),
        ("script", "x = later(2)\ny = Working_days(1)", ["Working_days", "later"]),
    ],
)
def test_unknown_calls(kind: str, source: str, unknown: list[str]) -> None:
    assert unknown_calls(source, kind, HELPER_NAMES) == unknown
