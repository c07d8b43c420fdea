"""What the throughput and memory benches share: a PostgreSQL database filled through the app's own services,
gunicorn serving the app from it, client threads completing tasks over real HTTP, and readings from /proc.

The work measured is the senior social worker's decision on a contact (the contact recorded and reviewed
beforehand), as bench/complete_task.py measures it: one completion is opening the task page (which gives the
form's CSRF token, as a browser gets it) and posting the decision, answered with a redirect to the case.
"""

from __future__ import annotations

import contextlib
import http.client
import http.cookiejar
import itertools
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from _children import about_child  # noqa: E402
from flask import Flask  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Task  # noqa: E402
from app.services import bundles, contacts, users, workflow  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://compass:compass@127.0.0.1:5432/compass_bench_throughput"
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
WORKERS = 2
# Two clients per worker: while one waits for its answer the other's request is already queued, so a worker
# never idles for want of work, and the clients (threads of one Python process) stay cheap beside the server.
CLIENTS = int(os.environ.get("CLIENTS", str(2 * WORKERS)))
SECRET_KEY = "bench"

SCENARIO = json.loads((ROOT / "processes/initial_contact/scenarios/below_threshold_advice.json").read_text())
REVIEW, DECIDE = SCENARIO["steps"]
DECISION: dict[str, str] = dict(DECIDE["data"])
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
TICK = os.sysconf("SC_CLK_TCK")


# --- the database ---------------------------------------------------------------------------------------


def _ensure_database(url: str) -> None:
    """Create the bench's own database when it is missing (the compass role may create databases)."""
    parts = make_url(url)
    params = {
        "host": parts.host or "127.0.0.1",
        "port": parts.port or 5432,
        "user": parts.username,
        "password": parts.password,
    }
    try:
        connection = psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **params)
    except psycopg.OperationalError:
        if url != DEFAULT_URL:
            raise SystemExit(f"cannot reach PostgreSQL at {parts.host}:{parts.port}; is it running?") from None
        # The machine's own cluster, as the CI starts it.
        subprocess.run(["bash", str(ROOT / ".ci/start-postgres")], check=True, stdout=subprocess.DEVNULL)
        connection = psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **params)
    with connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parts.database,)).fetchone()
        if not found:
            connection.execute(f'CREATE DATABASE "{parts.database}"')


def make_app() -> Flask:
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": DATABASE_URL,
            "SECRET_KEY": SECRET_KEY,
            "COMPASS_DEMO": True,
            # The demo users' passwords are hashed cheaply: signing in is not what is measured.
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )


def fill_database(app: Flask) -> None:
    """Empty the bench's database (every table the app knows is dropped) and fill it afresh."""
    _ensure_database(DATABASE_URL)
    with app.app_context():
        db.drop_all()
        db.create_all()
        bundles.import_shipped()
        users.seed_demo()


_made = itertools.count()


def _contact() -> dict[str, Any]:
    """The scenario's contact, about a child of its own (see _children.py)."""
    return about_child(SCENARIO["start"], next(_made))


def cases_waiting_for_a_decision(app: Flask, count: int) -> list[str]:
    """Record `count` contacts and review each, through the services; returns the decision tasks' ids."""
    with app.app_context():
        fpoc, ssw = users.find("demo.fpoc"), users.find("demo.ssw")
        waiting = []
        for _ in range(count):
            case_id = contacts.record_contact(fpoc, _contact()).id
            review = db.session.scalar(select(Task.id).where(Task.case_id == case_id, Task.bpmn_id == "ssw_review"))
            workflow.complete_task(ssw, review, REVIEW["data"])
            decision = db.session.scalar(select(Task.id).where(Task.case_id == case_id, Task.bpmn_id == "ssw_decision"))
            waiting.append(decision)
        db.session.remove()
        return waiting


def database_backends() -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to the bench's database but this one."""
    parts = make_url(DATABASE_URL)
    with psycopg.connect(
        host=parts.host,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname=parts.database,
    ) as connection:
        pids = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    found = {}
    for (pid,) in pids:
        with contextlib.suppress(OSError):  # already gone
            found[pid] = cpu_seconds(pid)
    return found


def backend_cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU the backends spent between two readings; a backend that began in between counts from its start."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


# --- /proc ------------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    # The command name (field 2) may hold spaces; the fields after its closing bracket are fixed.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (the most it has been resident), in kB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return sorted(found)


# --- the server -------------------------------------------------------------------------------------------


@dataclass
class Server:
    base: str
    master: int
    workers: list[int]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def gunicorn() -> Iterator[Server]:
    """gunicorn with WORKERS sync workers on loopback, as docker-compose.yml starts it (the default worker class).

    Sync rather than gthread: the work is Python on the CPU (the engine, templates), which threads in one
    process would only take turns at under the GIL, and PostgreSQL on loopback answers too quickly for threads
    to overlap much waiting; sync is also what the shipped compose file runs."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "SECRET_KEY": SECRET_KEY, "COMPASS_DEMO": "0"}
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS)]
    command += ["--worker-class", "sync", "--log-level", "warning", "app.wsgi:app"]
    # Its log goes to a file, not a pipe nobody reads while it runs: a full pipe would stop the workers.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise SystemExit(f"gunicorn stopped: {log.read().decode(errors='replace')[-2000:]}")
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                with contextlib.suppress(OSError), contextlib.closing(probe):  # not listening yet, or still loading
                    probe.request("GET", "/login")
                    if probe.getresponse().status == 200 and len(children(process.pid)) == WORKERS:
                        break
                if time.monotonic() > deadline:
                    raise SystemExit("gunicorn did not answer within two minutes")
                time.sleep(0.2)
            yield Server(f"http://127.0.0.1:{port}", process.pid, children(process.pid))
        finally:
            process.terminate()
            process.wait(30)


# --- the clients ------------------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the redirect itself is the answer looked for


class Client:
    """One signed-in browser: a cookie jar, the CSRF token taken from each form page, redirects not followed."""

    def __init__(self, base: str, username: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )
        status, _ = self._post("/login", {"username": username, "password": users.DEMO_PASSWORD})
        if status != 302:
            raise SystemExit(f"signing in as {username} gave {status}")

    def _open(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.base + path, body, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as answer:  # 3xx unfollowed, 4xx, 5xx
            return answer.code, answer.read().decode(errors="replace")

    def _post(self, path: str, data: dict[str, str]) -> tuple[int, str]:
        status, page = self._open(path)
        found = TOKEN.search(page)
        if status != 200 or not found:
            raise SystemExit(f"GET {path} gave {status} without a form token: {page[:500]}")
        return self._open(path, {**data, "csrf_token": found.group(1)})

    def complete(self, task_id: str) -> None:
        status, page = self._post(f"/tasks/{task_id}", DECISION)
        if status != 302:
            raise SystemExit(f"completing task {task_id} gave {status}: {page[:1000]}")


@dataclass
class Run:
    completions: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    ran_out: bool = False


def drive(
    tasks: list[str], seconds: float, clients: list[Client], every_second: Callable[[int], None] | None = None
) -> Run:
    """Complete tasks from the list with the clients, each in its own thread, for `seconds` or until the tasks
    run out; `every_second` is called about once a second with the completions so far."""
    lock = threading.Lock()
    queue = list(reversed(tasks))
    run = Run()
    failures: list[BaseException] = []
    deadline = time.monotonic() + seconds

    def work(client: Client) -> None:
        while time.monotonic() < deadline and not failures:
            with lock:
                if not queue:
                    run.ran_out = True
                    return
                task_id = queue.pop()
            began = time.perf_counter()
            try:
                client.complete(task_id)
            except BaseException as failure:  # handed to the main thread to report
                failures.append(failure)
                return
            with lock:
                run.completions += 1
                run.latencies.append(time.perf_counter() - began)

    threads = [threading.Thread(target=work, args=(client,)) for client in clients]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
        if every_second is not None:
            every_second(run.completions)
    run.seconds = time.monotonic() - began
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return run


# --- one measured run -------------------------------------------------------------------------------------


def in_process(app: Flask, tasks: list[str]) -> tuple[float, float, float]:
    """Complete the decisions with the service alone, one after another in this process; returns the seconds,
    this process's CPU seconds and the PostgreSQL backends' CPU seconds."""
    with app.app_context():
        ssw = users.find("demo.ssw")
        backends = database_backends()
        cpu, began = time.process_time(), time.perf_counter()
        for task_id in tasks:
            workflow.complete_task(ssw, task_id, dict(DECISION))
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
        database = backend_cpu_between(backends, database_backends())
        db.session.remove()
    return seconds, cpu, database


def cases_for(app: Flask, seconds: float, rate: float) -> list[str]:
    """Enough cases that the clients do not run out in `seconds` at half as fast again as `rate`. Should they run
    out all the same, the run ends there: the rate measured still holds."""
    count = int(os.environ.get("CASES", "0")) or int(seconds * rate * 1.5) + 4 * CLIENTS
    made = time.perf_counter()
    tasks = cases_waiting_for_a_decision(app, count)
    print(f"{count} cases recorded and reviewed through the services for the run in {time.perf_counter() - made:.0f} s")
    return tasks


@dataclass
class Measured:
    run: Run
    gunicorn_cpu: float  # seconds, master and workers, during the timed run
    database_cpu: float  # seconds, the PostgreSQL backends of the bench's database, during the timed run
    client_cpu: float  # seconds, this process (the client threads), during the timed run
    signed_in_rss: dict[int, int]  # kB resident per worker once the clients signed in (its first requests)
    warm_rss: dict[int, int]  # kB resident per worker once warmed, before the timed run
    peak_rss: dict[int, int]  # kB, the most each worker was resident (VmHWM) by the end
    end_rss: dict[int, int]  # kB resident per worker at the end
    samples: list[tuple[int, int]]  # (completions so far, kB resident in all workers), about once a second
    load: float  # the machine's load average at the end


def measure(app: Flask, seconds: float) -> Measured:
    """Serve the app with gunicorn and complete decisions over HTTP for `seconds`, once warmed: clients sign in
    and complete a few cases untimed, so that each worker has served the task page and the post. How fast they
    went tells how many cases to make for the timed run, made then while the server waits."""
    warm = cases_waiting_for_a_decision(app, 6 * CLIENTS)
    with gunicorn() as web:
        clients = [Client(web.base, "demo.ssw") for _ in range(CLIENTS)]
        signed_in_rss = {pid: memory_kb(pid)["VmRSS"] for pid in web.workers}
        before = {pid: cpu_seconds(pid) for pid in web.workers}
        warmed = drive(warm, 600, clients)
        idle = [pid for pid in web.workers if cpu_seconds(pid) - before[pid] < 0.01]
        if idle:
            raise SystemExit(f"worker(s) {idle} served nothing while warming up; raise CLIENTS")
        warm_rss = {pid: memory_kb(pid)["VmRSS"] for pid in web.workers}
        # The typical completion while warming up, not the first few that each worker is slow to serve.
        timed = cases_for(app, seconds, CLIENTS / statistics.median(warmed.latencies))
        # Signed in afresh: making the cases may have taken longer than a session may stay idle.
        clients = [Client(web.base, "demo.ssw") for _ in range(CLIENTS)]
        processes = [web.master, *web.workers]
        gunicorn_cpu = sum(cpu_seconds(pid) for pid in processes)
        backends = database_backends()
        client_cpu = time.process_time()
        samples: list[tuple[int, int]] = []

        def sample(completions: int) -> None:
            samples.append((completions, sum(memory_kb(pid)["VmRSS"] for pid in web.workers)))

        run = drive(timed, seconds, clients, sample)
        client_cpu = time.process_time() - client_cpu
        gunicorn_cpu = sum(cpu_seconds(pid) for pid in processes) - gunicorn_cpu
        database_cpu = backend_cpu_between(backends, database_backends())
        if children(web.master) != web.workers:
            raise SystemExit("a gunicorn worker was replaced during the run; its figures would be lost")
        memory = {pid: memory_kb(pid) for pid in web.workers}
        return Measured(
            run=run,
            gunicorn_cpu=gunicorn_cpu,
            database_cpu=database_cpu,
            client_cpu=client_cpu,
            signed_in_rss=signed_in_rss,
            warm_rss=warm_rss,
            peak_rss={pid: found["VmHWM"] for pid, found in memory.items()},
            end_rss={pid: found["VmRSS"] for pid, found in memory.items()},
            samples=samples,
            load=os.getloadavg()[0],
        )
