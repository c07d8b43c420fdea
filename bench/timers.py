"""How late timers fire: many pending timers, due over a spread of minutes, with the real worker running.

Set-up: TIMERS instances (default 10,000) of a one-timer diagram, each waiting until its own moment, the
moments spread evenly over SPREAD seconds (default 600) starting shortly after set-up; on a SQLite file
(or DATABASE_URL). Then the worker command runs as its own process (`flask --app app worker --interval
POLL`) until every timer has fired. Lateness is the moment an instance finished (its timer fired) minus
the moment it was due.

Baseline, in the same run: the worker's poll interval, the longest a due timer waits when the worker
keeps up. Prints median and p99 lateness and `timers: ratio R (target <= 1)` with R = p99 over the poll.

Run: make bench (or TIMERS=2000 SPREAD=120 python bench/timers.py for a quick look; POLL sets the interval).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from app import create_app  # noqa: E402
from app.engine import specs  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Case, ProcessBundle, ProcessInstance  # noqa: E402
from app.models.types import utcnow  # noqa: E402
from app.services import users, workflow  # noqa: E402
from app.services.worker import POLL_INTERVAL  # noqa: E402

TIMERS = int(os.environ.get("TIMERS", "10000"))
SPREAD = float(os.environ.get("SPREAD", "600"))
POLL = float(os.environ.get("POLL", str(POLL_INTERVAL)))  # the worker's own, unless set
LEAD = timedelta(seconds=20)  # set-up finishes and the worker starts before the first timer is due


def main() -> None:
    folder = tempfile.mkdtemp()
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{folder}/timers.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "COMPASS_DEMO": True})
    with app.app_context():
        db.drop_all()
        db.create_all()
        users.seed_demo()
        owner = users.find("demo.ssw")
        files = {"timer_at.bpmn": (ROOT / "tests/engine/diagrams/timer_at.bpmn").read_text()}
        bundle = ProcessBundle(flow="timer_at", hash=specs.bundle_hash(files, {}), files=files, forms={})
        db.session.add(bundle)
        db.session.commit()

        def add(reference: str, due: datetime) -> int:
            case = Case(reference=reference, source="phone", created_by_id=owner.id)
            db.session.add(case)
            db.session.flush()
            return workflow.start_instance(case, bundle, None, data={"due": due.isoformat()}).id

        # How fast instances are made here, so that every measured timer is still in the future once they
        # are all made (a timer already due when the worker starts would measure the set-up, not the worker).
        trial = time.perf_counter()
        for n in range(100):
            add(f"B-trial-{n}", utcnow() + timedelta(days=365))  # never due during the run; not measured
        db.session.commit()
        per_instance = (time.perf_counter() - trial) / 100

        built = time.perf_counter()
        first_due = utcnow() + LEAD + timedelta(seconds=TIMERS * per_instance * 2)
        due_of: dict[int, datetime] = {}
        for n in range(TIMERS):
            due = first_due + timedelta(seconds=SPREAD * n / TIMERS)
            due_of[add(f"B-{n:06d}", due)] = due
            if n % 500 == 499:
                db.session.commit()
        db.session.commit()
        if utcnow() >= first_due:
            raise SystemExit("setting the timers took longer than allowed for; run again on a quieter machine")
        print(f"{TIMERS} timers set in {time.perf_counter() - built:.0f} s; first due at {first_due:%H:%M:%S} UTC")

        env = {**os.environ, "DATABASE_URL": url, "COMPASS_DEMO": "1", "SECRET_KEY": "bench"}
        command = [sys.executable, "-m", "flask", "--app", "app", "worker", "--interval", str(POLL)]
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + (first_due - utcnow()).total_seconds() + SPREAD + 300
            while time.monotonic() < deadline:
                time.sleep(5)
                db.session.remove()
                left = db.session.scalar(
                    select(func.count())
                    .select_from(ProcessInstance)
                    .where(ProcessInstance.status == "running", ProcessInstance.id.in_(list(due_of)))
                )
                if left == 0:
                    break
                if worker.poll() is not None:
                    raise SystemExit(f"the worker stopped: {worker.stderr.read().decode()[-2000:]}")
        finally:
            worker.terminate()
            worker.wait(30)

        db.session.remove()
        rows = db.session.execute(select(ProcessInstance.id, ProcessInstance.completed_at, ProcessInstance.status))
        late = []
        unfired = 0
        for instance_id, completed_at, status in rows:
            if instance_id not in due_of:
                continue  # the trial instances, made only to time the set-up
            if status != "completed" or completed_at is None:
                unfired += 1
                continue
            late.append(max(0.0, (completed_at - due_of[instance_id]).total_seconds()))
    late.sort()
    median = statistics.median(late) if late else float("nan")
    p99 = late[min(len(late) - 1, int(len(late) * 0.99))] if late else float("nan")
    print(f"fired {len(late)} of {TIMERS}; not fired {unfired}")
    print(f"lateness: median {median:.2f} s, p99 {p99:.2f} s, worst {late[-1] if late else float('nan'):.2f} s")
    print(f"worker poll interval (baseline): {POLL:.2f} s")
    print(f"timers: ratio {p99 / POLL:.2f} (target <= 1)")


if __name__ == "__main__":
    main()
