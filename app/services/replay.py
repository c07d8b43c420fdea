"""Replay before deploy: what a new version of a flow would change, shown before it reaches a child.

Two runs, neither of which touches the real database:
- the flow's scenario set (processes/<flow>/scenarios) through the real services, in a throwaway SQLite
  database in a process of its own: a fresh app, the shipped versions imported, the candidate made live,
  demo users, and an empty database again for each scenario, on the scenarios' fake clock;
- the recorded inputs of the flow's most recently finished cases, read from their saved states and run on
  the candidate by the engine alone (app/engine/replay.py): no handler runs, nothing is written.

The report is plain JSON, kept on the draft: case numbers and step names, never a child's details.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app import policy
from app.engine import replay as engine
from app.engine import specs
from app.engine.sandbox import process_limits
from app.engine.specs import BundleRefused
from app.extensions import db
from app.models import AuditEvent, Case, ProcessInstance
from app.roles import CONTACT_OUTCOMES, HANDOVERS, THRESHOLDS
from app.services import bundles

ROOT = Path(__file__).resolve().parents[2]
RECENT = 50
# The scenario run is given this long, wall clock and processing time alike: the web server stops a request
# at 120 seconds and the recent cases are replayed after it. The shipped initial-contact set takes well under.
SCENARIO_TIMEOUT = 90
# The moment the scenarios' clock stands at when each begins: a Tuesday morning in term time, away from bank
# holidays (the same moment as the scenario tests' SCENARIO_START, which a test holds them to).
SCENARIO_START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

# What the codes in a child's decision are called, for the words of the report.
TITLES: dict[str, str] = {**THRESHOLDS, **CONTACT_OUTCOMES, **HANDOVERS}


def replay(flow: str, files: dict[str, str], forms: dict[str, Any], recent: int = RECENT) -> dict[str, Any]:
    """Run a candidate version of `flow` (its diagram files and forms) against the flow's scenarios and the
    recorded inputs of its `recent` most recently finished cases. Returns the report (JSON-able)."""
    began = time.monotonic()
    report: dict[str, Any] = {
        "flow": flow,
        "hash": specs.bundle_hash(files, forms),
        "replayed_at": datetime.now(UTC).isoformat(),
    }
    try:
        # Parsed, not cached: a draft changes often, and the cache of parsed versions is for versions that run.
        candidate = specs.parse(flow, files, forms)
    except BundleRefused as refused:
        report["problems"] = [str(p) for p in refused.problems]
        report["scenarios"] = _not_run("the draft could not be read")
        report["cases"] = {"total": 0, "rows": [], "unavailable": "the draft could not be read"}
        report["seconds"] = round(time.monotonic() - began, 2)
        return report
    report["scenarios"] = run_scenarios(flow, files, forms)
    report["cases"] = replay_cases(flow, candidate, recent)
    report["seconds"] = round(time.monotonic() - began, 2)
    return report


# --- Recent finished cases ---------------------------------------------------------------------------------


def replay_cases(flow: str, candidate: specs.ParsedBundle, recent: int = RECENT) -> dict[str, Any]:
    """The `recent` most recently finished instances of the flow, each replayed on the candidate; a row for
    every case whose path or outcome would change, or that could not be replayed."""
    began = time.monotonic()
    instances = list(
        db.session.scalars(
            select(ProcessInstance)
            .join(Case, Case.id == ProcessInstance.case_id)
            .where(
                ProcessInstance.flow == flow,
                ProcessInstance.status == "completed",
                Case.voided_at.is_(None),
            )
            .order_by(ProcessInstance.completed_at.desc(), ProcessInstance.id.desc())
            .limit(max(0, recent))
        )
    )
    order = _completion_order([i.case_id for i in instances])
    counts = {engine.SAME: 0, engine.PATH_CHANGED: 0, engine.OUTCOME_CHANGED: 0, engine.NOT_REPLAYED: 0}
    rows = []
    # The report is kept and shown to every process owner, so the case numbers of need-to-know work are left
    # out for all of them: the LADO's, and information requests, whose register is for the hub's decision
    # makers alone (as case_migration._case_shown holds them back from those who may not read that work).
    withheld = flow in policy.RESTRICTED_TIMELINES or flow == "information_request"
    for instance in instances:
        found = _replay_one(instance, candidate, order)
        counts[found.result] += 1
        if found.result == engine.SAME:
            continue
        rows.append(
            {
                "case_id": None if withheld else instance.case_id,
                "version": instance.bundle.number,
                "completed_at": instance.completed_at.isoformat() if instance.completed_at else None,
                "result": found.result,
                "changes": found.changes,
            }
        )
    return {
        "total": len(instances),
        "asked": recent,
        "same": counts[engine.SAME],
        "path_changed": counts[engine.PATH_CHANGED],
        "outcome_changed": counts[engine.OUTCOME_CHANGED],
        "could_not_replay": counts[engine.NOT_REPLAYED],
        "case_numbers_withheld": withheld,
        "rows": rows,
        "seconds": round(time.monotonic() - began, 2),
    }


def _completion_order(case_ids: list[int]) -> list[str]:
    """Every user task of these cases in the order people completed it (the audit trail's order): tasks
    finished on a stopped clock share a moment, and parallel lanes must be answered in the order they were."""
    if not case_ids:
        return []
    query = (
        select(AuditEvent.task_id)
        .where(AuditEvent.name == "TASK_COMPLETED", AuditEvent.case_id.in_(case_ids))
        .order_by(AuditEvent.id)
    )
    return [task_id for task_id in db.session.scalars(query) if task_id]


def _replay_one(instance: ProcessInstance, candidate: specs.ParsedBundle, order: list[str]) -> engine.Comparison:
    try:
        recorded = bundles.parsed(instance.bundle)
    except BundleRefused:
        return engine.Comparison(engine.NOT_REPLAYED, ["the version this case ran on could not be read"])
    try:
        return engine.replay(instance.state, recorded, candidate, order=order, titles=TITLES)
    except Exception as err:  # a state the engine cannot read back is one case not replayed, not a failed page
        return engine.Comparison(engine.NOT_REPLAYED, [f"its saved state could not be read ({err.__class__.__name__})"])


# --- The scenario set, in a throwaway database --------------------------------------------------------------


def _not_run(why: str) -> dict[str, Any]:
    return {"total": 0, "passed": 0, "failed": 0, "rows": [], "unavailable": why}


def run_scenarios(
    flow: str, files: dict[str, str], forms: dict[str, Any], timeout: float = SCENARIO_TIMEOUT
) -> dict[str, Any]:
    """The flow's scenarios run on the candidate in a process of its own with its own SQLite database, which
    is deleted afterwards. Each scenario passes when the case ends as it expects.

    The candidate's code runs in that process, so it is held to the limits of the sandbox's trial run (its
    memory, and processing time up to `timeout`), and it is stopped, with anything it started, after
    `timeout` seconds."""
    began = time.monotonic()
    cpu_seconds = max(1, math.ceil(timeout))
    with tempfile.TemporaryDirectory(prefix="compass-replay-") as folder:
        (Path(folder) / "candidate.json").write_text(json.dumps({"files": files, "forms": forms}), encoding="utf-8")
        # The child never reads the real database's address: its app is given the throwaway one.
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SQLALCHEMY_DATABASE_URI"}}
        # A session of its own, so that the child and the trial runs it starts are stopped together.
        child = subprocess.Popen(
            [sys.executable, "-m", "app.services.replay", flow, folder, str(cpu_seconds)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            _, errors = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            return _not_run(f"the scenarios took longer than {timeout:g} seconds and were stopped")
        finally:
            if child.returncode is None:
                _stop(child)
        result_file = Path(folder) / "result.json"
        if child.returncode != 0 or not result_file.exists():
            return _not_run(_why_not_run(child.returncode, errors or "", cpu_seconds))
        result: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
    result["seconds"] = round(time.monotonic() - began, 2)
    return result


def _stop(child: subprocess.Popen[str]) -> None:
    """Kill the child and everything in its session, and wait for it. The child is not yet waited for, so its
    number (which names the session) cannot have been given to another process."""
    with contextlib.suppress(ProcessLookupError):  # it and all it started have ended already
        os.killpg(child.pid, signal.SIGKILL)
    child.communicate()


def _why_not_run(returncode: int, errors: str, cpu_seconds: int) -> str:
    last = errors.strip().splitlines()[-1:] or ["no reason given"]
    if returncode == -signal.SIGXCPU:
        return f"the scenarios used more than {cpu_seconds} seconds of processing time and were stopped"
    if last[0].startswith("MemoryError"):
        megabytes = process_limits.MEMORY_BYTES // (1024 * 1024)
        return f"the scenarios needed more than {megabytes} MB of memory and were stopped"
    # The scenarios are made-up families, so their own words may be shown; a trace never is.
    return f"the scenarios could not be run ({last[0][:300]})"


def _duration(text: str) -> timedelta:
    """An ISO 8601 duration as the scenarios write them: P5D, PT5H, P1DT2H30M."""
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?", text)
    if not match or text in {"P", "PT"}:
        raise ValueError(f"not a duration a scenario may use: {text!r}")
    days, hours, minutes = (int(part or 0) for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


def _scenarios_here(flow: str, folder: Path) -> dict[str, Any]:
    """In the child process: build the throwaway database once, then run each scenario on a fresh copy."""
    try:
        import time_machine
    except ImportError:
        return _not_run("the scenarios hold their clock with the time-machine package, which is not installed here")

    from app import create_app
    from app.models import ProcessBundle
    from app.services import scenarios, users

    candidate = json.loads((folder / "candidate.json").read_text(encoding="utf-8"))
    database = folder / "replay.db"
    template = folder / "template.db"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
            "SECRET_KEY": os.urandom(16).hex(),
            "COMPASS_DEMO": True,
            # The demo users never sign in here: their passwords need not be slow to check.
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    rows: list[dict[str, Any]] = []
    with app.app_context():
        db.create_all()
        bundles.import_shipped()
        digest = specs.bundle_hash(candidate["files"], candidate["forms"])
        row = db.session.scalar(select(ProcessBundle).where(ProcessBundle.hash == digest))
        if row is None:
            row = ProcessBundle(
                flow=flow,
                hash=digest,
                files=candidate["files"],
                forms=candidate["forms"],
                note="the draft being replayed",
                number=bundles.next_number(flow),
            )
            db.session.add(row)
            db.session.flush()
        bundles.make_live(row.id)
        users.seed_demo()
        db.session.remove()
        db.engine.dispose()
        shutil.copyfile(database, template)
        for path, scenario in scenarios.load(flow):
            db.session.remove()
            db.engine.dispose()
            shutil.copyfile(template, database)
            rows.append(_one_scenario(path, scenario, time_machine))
    failed = sum(1 for r in rows if not r["passed"])
    return {"total": len(rows), "passed": len(rows) - failed, "failed": failed, "rows": rows, "unavailable": None}


def _one_scenario(path: Path, scenario: dict[str, Any], time_machine: Any) -> dict[str, Any]:
    from app.services import scenarios

    name = str(scenario.get("name") or path.stem)
    try:
        with time_machine.travel(SCENARIO_START, tick=False) as clock:
            result = scenarios.run(scenario, advance=lambda text: clock.shift(_duration(text)))
        mismatches = list(result.mismatches)
    except Exception as err:  # a candidate may stop a scenario part-way: that is a failed scenario, with why
        db.session.rollback()
        first = str(err).strip().splitlines()
        mismatches = [f"stopped: {err.__class__.__name__}: {first[0] if first else ''}".rstrip(": ")]
    return {"name": name, "file": path.stem, "passed": not mismatches, "mismatches": mismatches}


def _main(argv: list[str]) -> int:
    flow, folder, cpu_seconds = argv[0], Path(argv[1]), int(argv[2])
    # Before any of the candidate's code runs here: the limits the sandbox's trial run puts on itself.
    process_limits.limit_memory()
    process_limits.limit_cpu(cpu_seconds)
    result = _scenarios_here(flow, folder)
    (folder / "result.json").write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
