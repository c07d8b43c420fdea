"""Replay before deploy: a draft run against its flow's scenarios (in a throwaway database of its own) and against
the recorded inputs of recent closed cases, reporting each case whose path or outcome would change, and leaving
the real database exactly as it was."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from flask import render_template
from flows import run_scenario
from sqlalchemy import func, select
from support import SCENARIO_START, user

from app.engine import specs
from app.extensions import db
from app.services import bundles, case_actions, replay

# A draft in which "Child in need (s17)" is never taken at the threshold question.
NO_S17 = ('threshold == "s17"</bpmn:conditionExpression>', 'threshold == "s17 no more"</bpmn:conditionExpression>')


def scenario(flow: str, name: str) -> dict[str, Any]:
    path = bundles.PROCESSES_DIR / flow / "scenarios" / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def closed_case(flow: str, name: str) -> int:
    result = run_scenario(scenario(flow, name))
    assert result.mismatches == [], result.mismatches
    return result.case_id


def shipped(flow: str, *edits: tuple[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
    files, forms = bundles.read_shipped(flow)
    name = f"{flow}.bpmn"
    for old, new in edits:
        assert old in files[name], old
        files = {name: files[name].replace(old, new)}
    return files, forms


def candidate(flow: str, *edits: tuple[str, str]) -> specs.ParsedBundle:
    files, forms = shipped(flow, *edits)
    return specs.load(flow, files, forms)


def test_the_scenarios_start_when_the_scenario_tests_do() -> None:
    assert replay.SCENARIO_START == SCENARIO_START


# --- The scenario set, in a database of its own (no app or database of the test's is needed) -----------------


def children_of_this_process() -> set[int]:
    """The processes this test's process started that are still there (a killed one not yet waited for too)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended while we looked
        if int(fields[1]) == os.getpid():
            found.add(int(stat.parent.name))
    return found


def processes_naming(text: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().decode(errors="replace"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def test_scenarios_that_run_too_long_are_stopped_and_leave_nothing_behind(tmp_path, monkeypatch) -> None:
    # The folder the run makes is made here, so that what is left of it can be seen.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = children_of_this_process()
    files, forms = shipped("lado")
    # Starting the app alone takes far longer than this.
    report = replay.run_scenarios("lado", files, forms, timeout=0.5)
    assert report == {
        "total": 0,
        "passed": 0,
        "failed": 0,
        "rows": [],
        "unavailable": "the scenarios took longer than 0.5 seconds and were stopped",
    }
    assert list(tmp_path.iterdir()) == []
    assert children_of_this_process() == before
    assert processes_naming(str(tmp_path)) == []


def test_the_scenarios_run_within_the_memory_the_sandboxs_trial_run_allows() -> None:
    # 800 lists of 90,000 numbers: about 576 MB, more than the 512 MB a trial run may have, each list within
    # the sandbox's own size checks. Every LADO scenario runs this script first.
    files, forms = shipped(
        "lado", ("meetings_held = 0\n", "meetings_held = 0\nhungry = len([[0] * 90000 for i in range(800)])\n")
    )
    report = replay.run_scenarios("lado", files, forms)
    assert report["unavailable"] is None
    assert (report["total"], report["passed"], report["failed"]) == (8, 0, 8)


def test_the_scenarios_are_given_ninety_seconds_as_the_web_server_gives_a_request_two_minutes() -> None:
    assert replay.SCENARIO_TIMEOUT == 90


def test_the_live_version_passes_every_one_of_its_scenarios() -> None:
    files, forms = shipped("lado")
    report = replay.run_scenarios("lado", files, forms)
    assert report["unavailable"] is None
    assert (report["total"], report["passed"], report["failed"]) == (8, 8, 0)
    assert all(row["passed"] and row["mismatches"] == [] for row in report["rows"])


def test_a_draft_that_allows_fewer_meetings_fails_the_scenario_that_holds_three() -> None:
    files, forms = shipped("lado", ("meetings_held &lt; 3", "meetings_held &lt; 2"))
    report = replay.run_scenarios("lado", files, forms)
    assert (report["total"], report["passed"], report["failed"]) == (8, 7, 1)
    failed = [row for row in report["rows"] if not row["passed"]]
    assert [(row["file"], row["mismatches"]) for row in failed] == [
        ("at_most_three_meetings_then_the_outcome_false", ["step 6: no ready task 'hold_meeting' "])
    ]


# --- Recent closed cases, replayed by the engine alone -----------------------------------------------------------


def test_the_live_version_replays_every_closed_case_the_same(fresh) -> None:
    ids = [closed_case("initial_contact", n) for n in ("below_threshold_advice", "s17_consent_given")]
    live = bundles.parsed(bundles.live_bundle("initial_contact"))
    report = replay.replay_cases("initial_contact", live)
    assert (report["total"], report["same"], report["rows"]) == (2, 2, [])
    assert len(ids) == 2


def test_a_changed_condition_lists_the_case_it_changes_by_number_with_the_first_difference(fresh) -> None:
    below = closed_case("initial_contact", "below_threshold_advice")
    s17 = closed_case("initial_contact", "s17_consent_given")
    # Child in need no longer goes to the consent question: it falls to the default, below threshold, whose
    # script needs an outcome that an s17 decision never gave.
    report = replay.replay_cases("initial_contact", candidate("initial_contact", NO_S17))
    assert (report["total"], report["same"], report["could_not_replay"]) == (2, 1, 1)
    assert report["rows"] == [
        {
            "case_id": s17,
            "version": 1,
            "completed_at": report["rows"][0]["completed_at"],
            "result": "could_not_replay",
            "changes": [
                "in Decide for each child (number 1): after Threshold?, this case went to Consent at contact?; "
                "this version goes to Record the outcome chosen",
                "fails at Record the outcome chosen: it uses outcome, which this case's data does not have",
            ],
        }
    ]
    assert below not in [row["case_id"] for row in report["rows"]]


def test_a_changed_outcome_is_told_in_the_councils_words(fresh) -> None:
    case_id = closed_case("initial_contact", "below_threshold_advice")
    outcome = scenario("initial_contact", "below_threshold_advice")["steps"][1]["data"]["outcome"]
    assert outcome == "referral_to_other_agency"
    draft = candidate(
        "initial_contact",
        (
            '"threshold": threshold, "rationale": rationale, "outcome": outcome}',
            '"threshold": threshold, "rationale": rationale, "outcome": "no_further_action"}',
        ),
    )
    report = replay.replay_cases("initial_contact", draft)
    assert [(r["case_id"], r["result"], r["changes"]) for r in report["rows"]] == [
        (
            case_id,
            "outcome_changed",
            [
                "child-1: this case decided Below early help (level 1), Referral to other agency; "
                "this version decides Below early help (level 1), No further action"
            ],
        )
    ]


def test_only_the_most_recent_closed_cases_are_replayed_and_a_voided_one_never(fresh, clock) -> None:
    first = closed_case("initial_contact", "s17_consent_given")
    second = closed_case("initial_contact", "s17_consent_refused")
    draft = candidate("initial_contact", NO_S17)
    assert [r["case_id"] for r in replay.replay_cases("initial_contact", draft, recent=1)["rows"]] == [second]
    case_actions.void(user("ssw"), second, "Recorded against the wrong family by mistake.")
    db.session.commit()
    report = replay.replay_cases("initial_contact", draft, recent=5)
    assert (report["total"], [r["case_id"] for r in report["rows"]]) == (1, [first])


def test_the_lados_closed_cases_are_listed_without_their_numbers(fresh) -> None:
    closed_case("lado", "no_harm_criterion_met_advice_and_no_further_action")
    draft = candidate("lado", ('initial_decision == "meeting"', 'initial_decision != "meeting"'))
    report = replay.replay_cases("lado", draft)
    assert report["case_numbers_withheld"] is True
    assert [(r["case_id"], r["result"]) for r in report["rows"]] == [(None, "could_not_replay")]


def test_information_requests_closed_cases_are_listed_without_their_numbers(fresh) -> None:
    closed_case("information_request", "cafcass_court_order_disclosed_in_full")
    # A court order is no longer a ground of its own: the case is now asked for consent it never needed.
    draft = candidate("information_request", ('ground == "consent"', 'ground != "consent"'))
    report = replay.replay_cases("information_request", draft)
    assert report["case_numbers_withheld"] is True
    assert [(r["case_id"], r["result"]) for r in report["rows"]] == [(None, "could_not_replay")]


def test_a_draft_that_copies_a_cases_answers_into_its_decision_never_shows_them(fresh) -> None:
    closed_case("initial_contact", "below_threshold_advice")
    answers = scenario("initial_contact", "below_threshold_advice")["steps"][1]["data"]
    rationale = answers["rationale"]
    # Every check passes this: each value is only a name the case's data has.
    draft = candidate(
        "initial_contact",
        (
            '{"key": child["key"], "threshold": threshold, "rationale": rationale, "outcome": outcome}',
            '{"key": rationale, "threshold": str(child), "rationale": rationale, "outcome": rationale, '
            '"handover": concern}',
        ),
    )
    report = replay.replay_cases("initial_contact", draft)
    # The hand-over it now names sends the case another way at the end.
    assert [r["result"] for r in report["rows"]] == ["path_changed"]
    told = json.dumps(report)
    for secret in (rationale, "Amy", "bruise", "Sam Teacher", "Oak Primary"):
        assert secret not in told
    assert report["rows"][0]["changes"][2:] == [
        "child-1: this case decided Below early help (level 1), Referral to other agency; this version decides nothing",
        "a key that is not a child's: this case decided nothing; this version decides a value that is not a known "
        "outcome, a value that is not a known outcome, handed over to a value that is not a known outcome",
    ]


# --- The whole replay: nothing written anywhere real ---------------------------------------------------------


def counts() -> dict[str, int]:
    """The rows of every table."""
    db.session.expire_all()
    return {
        table.name: db.session.scalar(select(func.count()).select_from(table)) for table in db.metadata.sorted_tables
    }


def test_a_replay_changes_nothing_in_the_real_database(fresh) -> None:
    s17 = closed_case("initial_contact", "s17_consent_given")
    closed_case("initial_contact", "below_threshold_advice")
    before = counts()
    files, forms = shipped("initial_contact", NO_S17)
    report = replay.replay("initial_contact", files, forms, recent=10)
    assert counts() == before
    assert before["case_record"] == 2 and before["outbox_item"] > 0
    assert report["hash"] == specs.bundle_hash(files, forms)
    # The scenarios that decide s17 now fail; the two closed cases were replayed, one of them changed.
    scenarios = report["scenarios"]
    assert scenarios["unavailable"] is None and scenarios["failed"] > 0
    assert "s17_consent_given" in [row["file"] for row in scenarios["rows"] if not row["passed"]]
    assert "below_threshold_advice" in [row["file"] for row in scenarios["rows"] if row["passed"]]
    assert (report["cases"]["total"], [r["case_id"] for r in report["cases"]["rows"]]) == (2, [s17])
    json.dumps(report)  # kept on the draft as JSON


def test_the_report_is_shown_with_case_numbers_and_tags(fresh) -> None:
    report = {
        "flow": "initial_contact",
        "hash": "0" * 64,
        "seconds": 17.4,
        "scenarios": {
            "total": 2,
            "passed": 1,
            "failed": 1,
            "unavailable": None,
            "rows": [
                {
                    "name": "s17 consent given",
                    "file": "s17",
                    "passed": False,
                    "mismatches": ["status: expected 'closed'"],
                },
                {"name": "below threshold advice", "file": "b", "passed": True, "mismatches": []},
            ],
        },
        "cases": {
            "total": 3,
            "same": 2,
            "path_changed": 1,
            "outcome_changed": 0,
            "could_not_replay": 0,
            "case_numbers_withheld": False,
            "rows": [
                {
                    "case_id": 4821,
                    "version": 3,
                    "completed_at": "2026-11-24T10:00:00+00:00",
                    "result": "path_changed",
                    "changes": ["after Threshold?, this case went to Consent at contact?; this version goes to <b>"],
                }
            ],
        },
    }
    html = shown(fresh, report)
    assert '<strong class="govuk-tag govuk-tag--red"> 1 failed </strong> 2 scenarios, 1 failed' in html
    assert '<td class="govuk-table__cell">S17 consent given</td>' in html
    assert "status: expected &#39;closed&#39;" in html
    assert "3 cases replayed: 2 the same, 1 on another path, 0 with another outcome, 0 could not be replayed" in html
    assert '<td class="govuk-table__cell">4821</td>' in html and "Path changes" in html
    assert "After Threshold?, this case went to Consent at contact?; this version goes to &lt;b&gt;" in html

    passed = {**report, "scenarios": {**report["scenarios"], "failed": 0, "passed": 2, "rows": []}}
    html = shown(fresh, passed)
    assert '<strong class="govuk-tag govuk-tag--green"> All passed </strong> 2 scenarios, all passed' in html
    assert "Scenarios that no longer end as they expect" not in html


def shown(app: Any, report: dict[str, Any]) -> str:
    with app.test_request_context():
        return " ".join(render_template("processes/_replay_report.html", report=report).split())
