"""Completing a task at the end of a long case vs the same task on a case with little history, in one run.

A restore rebuilds an instance's whole task tree, so a case that has been round its loops many times could
make every later step slower. Both cases here complete the same last task of the initial contact, the
outcome of a section 17 referral, posted through HTTP as its senior social worker (the form opened first,
as a person would):
- long: the longest way there in the diagram's own scenarios: three requests for more information, the
  parent's consent sought twice without reaching them and given the third time, the referral acknowledged
  and partner information gathered (about 60 finished tasks in the instance);
- fresh: the shortest way there: consent given at contact, no request for more information.
The two are measured in turns on a SQLite file database (or DATABASE_URL), with the raw engine's restore +
complete + save of each beside them to show how the engine alone grows.

Prints the medians, each instance's size and `history_growth: ratio R (target <= 1.5)`, R being the long
case's HTTP median over the fresh one's. Run: make bench
"""

from __future__ import annotations

import itertools
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _children import about_child  # noqa: E402
from sqlalchemy import select  # noqa: E402

from app import create_app  # noqa: E402
from app.engine import runtime  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import ProcessInstance, Task  # noqa: E402
from app.services import bundles, contacts, scenarios, users, workflow  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "30"))
SCENARIOS = ROOT / "processes/initial_contact/scenarios"


def _scenario(name: str) -> dict[str, Any]:
    return json.loads((SCENARIOS / f"{name}.json").read_text())


def _paths() -> tuple[tuple[dict, list[dict]], tuple[dict, list[dict]], dict]:
    """(start, steps) of the long and the fresh case, each stopping before the task measured, and that task."""
    loops = _scenario("more_information_is_asked_at_most_three_times")["steps"][:6]
    sought = _scenario("s17_consent_sought_and_given")
    not_reached = [
        s for s in _scenario("s17_consent_not_reached_after_three_attempts")["steps"] if s["task"] == "seek_consent"
    ]
    given = _scenario("s17_consent_given")
    review, decision, *rest, last = sought["steps"]
    long_steps = [*loops, review, decision, *not_reached[:2], *rest]
    *fresh_steps, measured = given["steps"]
    assert [s["task"] for s in loops] == ["ssw_review", "request_information"] * 3, "the loop scenario changed"
    assert last["task"] == measured["task"] == "referral_outcome", "the s17 scenarios no longer end on the outcome"
    return (sought["start"], long_steps), (given["start"], fresh_steps), measured


_made = itertools.count()


def _case_at(start: dict, steps: list[dict], task: str) -> tuple[int, str]:
    """A new case, about a child of its own, walked through `steps` by the demo users, and the id of its ready
    `task`. (Were every case about one child, the fresh cases, made after the long ones, would each carry
    every long case as the child's earlier contacts.)"""
    case = contacts.record_contact(users.find("demo.fpoc"), about_child(start, next(_made)))
    for step in steps:
        ready = db.session.scalar(select(Task.id).where(Task.case_id == case.id, Task.bpmn_id == step["task"]))
        assert ready is not None, f"no ready {step['task']} on the way"
        workflow.complete_task(scenarios.demo_user(step["as"]), ready, step["data"])
    waiting = db.session.scalar(select(Task.id).where(Task.case_id == case.id, Task.bpmn_id == task))
    assert waiting is not None, f"the case did not reach {task}"
    return case.id, waiting


def _tree_size(state: str, bundle: Any) -> int:
    """Tasks in the instance's trees, the subprocesses' included: what a restore rebuilds."""
    wf = runtime.restore(state, bundle, caller=None)
    return sum(len(tree.tasks) for tree in [wf, *wf.subprocesses.values()])


def main() -> None:
    (long_start, long_steps), (fresh_start, fresh_steps), measured = _paths()
    task, data = measured["task"], dict(measured["data"])
    folder = tempfile.mkdtemp()
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{folder}/bench.db"
    config = {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "COMPASS_DEMO": True}
    app = create_app({**config, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    with app.app_context():
        db.drop_all()
        db.create_all()
        bundles.import_shipped()
        users.seed_demo()
        kinds = {
            "long": [_case_at(long_start, long_steps, task) for _ in range(ROUNDS + 1)],
            "fresh": [_case_at(fresh_start, fresh_steps, task) for _ in range(ROUNDS + 1)],
        }
        raw_input = {}
        for kind, cases in kinds.items():
            instance = db.session.scalar(
                select(ProcessInstance).where(
                    ProcessInstance.case_id == cases[0][0], ProcessInstance.flow == "initial_contact"
                )
            )
            bundle = bundles.parsed(instance.bundle)
            raw_input[kind] = (
                instance.state,
                bundle,
                cases[0][1],
                _tree_size(instance.state, bundle),
                instance.tree_depth,
            )

    web_app = create_app(dict(app.config))
    client = web_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "demo.ssw", "password": "compass-demo", "csrf_token": token})
    http: dict[str, list[float]] = {"long": [], "fresh": []}
    raw: dict[str, list[float]] = {"long": [], "fresh": []}
    # In turns, one of each kind per round, so a machine busy with other work slows both alike.
    for n in range(1, ROUNDS + 1):
        for kind in ("fresh", "long"):
            state, bundle, task_id, _, _ = raw_input[kind]
            with app.app_context():
                began = time.perf_counter()
                wf = runtime.restore(state, bundle, caller=lambda name, params, data: {})
                runtime.complete_user_task(wf, task_id, dict(data))
                runtime.save(wf, 800)
                raw[kind].append(time.perf_counter() - began)

            url = f"/tasks/{kinds[kind][n][1]}"
            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).get_data(as_text=True)).group(1)
            began = time.perf_counter()
            response = client.post(url, data={**data, "csrf_token": token})
            http[kind].append(time.perf_counter() - began)
            assert response.status_code == 302, response.status_code

    def ms(values: list[float]) -> float:
        return statistics.median(values) * 1000

    database = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    for kind in ("fresh", "long"):
        print(
            f"{kind:5s} case ({raw_input[kind][3]} tasks in its trees, {raw_input[kind][4]} deep): "
            f"HTTP ({database}) median {ms(http[kind]):.2f} ms, raw engine restore + complete + save median "
            f"{ms(raw[kind]):.2f} ms, over {ROUNDS}"
        )
    print(f"raw engine alone grows: ratio {ms(raw['long']) / ms(raw['fresh']):.2f}")
    print(f"history_growth: ratio {ms(http['long']) / ms(http['fresh']):.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
