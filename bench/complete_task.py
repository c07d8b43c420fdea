"""Completing a task through the web vs the raw engine doing the same work, measured in one run.

Baseline: the engine alone restores the saved state of a case waiting on its senior social worker's
decision (the contact recorded and reviewed), completes that task (which runs the scripts, the per-child
process's end, the letters service task, answered here without the handler, and the end of the contact)
and saves.
Measured: the same decision on the same case posted through HTTP (session, CSRF, permission, form
validation, engine, the letters handler, database, mirror, audit, timeline, outbox) with Flask's test
client on a SQLite file database (or DATABASE_URL).
Each round takes a case of its own, about a child of its own, and the engine alone restores that very
case's saved state. (A child's earlier contacts travel in the flow's data, and the engine copies the data
from task to task: sixty contacts about one child would make each later case's engine work larger than
the first's, which is neither typical nor the same task.) The two are measured in turns, so a machine busy
with other work slows both alike.

Prints the medians and `complete_task: ratio R (target <= 3)`. Run: make bench
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _children import about_child  # noqa: E402
from sqlalchemy import select  # noqa: E402

from app import create_app  # noqa: E402
from app.engine import runtime  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import ProcessInstance, Task  # noqa: E402
from app.services import bundles, contacts, users, workflow  # noqa: E402

ROUNDS = 60
URL = os.environ.get("DATABASE_URL", "")  # a SQLite file of its own when not set
SCENARIO = json.loads((ROOT / "processes/initial_contact/scenarios/below_threshold_advice.json").read_text())
REVIEW, DECIDE = SCENARIO["steps"]
DECISION = {k: v for k, v in DECIDE["data"].items()}


def main() -> None:
    folder = tempfile.mkdtemp()
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": URL or f"sqlite:///{folder}/bench.db",
            "SECRET_KEY": "bench",
            "COMPASS_DEMO": True,
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    with app.app_context():
        db.drop_all()
        db.create_all()
        bundles.import_shipped()
        users.seed_demo()
        fpoc, ssw = users.find("demo.fpoc"), users.find("demo.ssw")
        cases = [contacts.record_contact(fpoc, about_child(SCENARIO["start"], n)).id for n in range(ROUNDS)]
        for case_id in cases:
            review = db.session.scalar(select(Task.id).where(Task.case_id == case_id, Task.bpmn_id == "ssw_review"))
            workflow.complete_task(ssw, review, REVIEW["data"])
        waiting = {
            case_id: db.session.scalar(select(Task.id).where(Task.case_id == case_id, Task.bpmn_id == "ssw_decision"))
            for case_id in cases
        }
        instances = {
            case_id: db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case_id))
            for case_id in cases
        }
        bundle = bundles.parsed(instances[cases[0]].bundle)
        states = {case_id: instance.state for case_id, instance in instances.items()}

    web_app = create_app(dict(app.config))
    client = web_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "demo.ssw", "password": "compass-demo", "csrf_token": token})
    # The two are measured in turns, one round of each, so a machine busy with other work slows both alike.
    raw, http = [], []
    for case_id in cases:
        with app.app_context():  # the handlers need the app for their queries; the engine work is what is timed
            began = time.perf_counter()
            wf = runtime.restore(states[case_id], bundle, caller=lambda name, params, data: {})
            runtime.complete_user_task(wf, waiting[case_id], dict(DECISION))
            runtime.save(wf, 800)
            raw.append(time.perf_counter() - began)

        url = f"/tasks/{waiting[case_id]}"
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).get_data(as_text=True)).group(1)
        began = time.perf_counter()
        response = client.post(url, data={**DECISION, "csrf_token": token})
        http.append(time.perf_counter() - began)
        assert response.status_code == 302, response.status_code

    raw_ms, http_ms = statistics.median(raw) * 1000, statistics.median(http) * 1000
    print(f"raw engine restore + complete + save: median {raw_ms:.2f} ms over {ROUNDS}")
    database = "PostgreSQL" if URL.startswith("postgresql") else "SQLite"
    print(f"HTTP task completion ({database}):         median {http_ms:.2f} ms over {ROUNDS}")
    print(f"complete_task: ratio {http_ms / raw_ms:.2f} (target <= 3)")


if __name__ == "__main__":
    main()
