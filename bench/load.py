"""Many people at once against the real web server: 50 signed-in users on loopback, for a minute.

Set-up: the web application under gunicorn (threads and workers, as in production) on DATABASE_URL
(PostgreSQL for a figure worth having; a temporary SQLite file otherwise). Each user is a social worker
of one team with tasks of their own (claimed through the services) and a pool of unclaimed team tasks
that anyone may grab. Each user signs in once, then goes round: their own tray, the team tray, a task's
page, its case's page, and the task's form saved. A shared task someone else saved first answers 409,
which is the right answer: it is counted apart from errors.

Prints requests per second and the 50th, 95th and 99th percentile latency (no target: a figure to
watch). Also the code the tests share: a small browser over http.client (cookies, CSRF tokens, no
redirects followed), the gunicorn launcher, and the case set-up
(tests/resilience/test_many_users.py runs the same load for a few seconds).

Run: DATABASE_URL=postgresql+psycopg://... .venv/bin/python bench/load.py (USERS and SECONDS change the
defaults of 50 users for 60 seconds). The database is emptied first, as bench/timers.py does: use a scratch one.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Case, ProcessBundle, Task  # noqa: E402
from app.services import bundles, claims, users, workflow  # noqa: E402

DIAGRAM = ROOT / "tests" / "resilience" / "note_then_follow_up.bpmn"
FORM = ROOT / "tests" / "engine" / "diagrams" / "check_note.json"
FLOW = "note_then_follow_up"
PASSWORD = "load-test-pw"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CASE_LINK = re.compile(r'href="/cases/(\d+)')
SECRET_KEY = "load-and-resilience-secret"


# --- Cases to work on ---------------------------------------------------------------------------------


def store_bundle() -> ProcessBundle:
    """The small flow the load and resilience runs use: a note (a social worker), an e-mail to the referrer
    (the shipped letters handler), a timer, then a follow-up (their team manager). Stored once."""
    from app.engine import specs

    files = {f"{FLOW}.bpmn": DIAGRAM.read_text(encoding="utf-8")}
    forms = {"check_note": json.loads(FORM.read_text(encoding="utf-8"))}
    digest = specs.bundle_hash(files, forms)
    found = db.session.scalar(select(ProcessBundle).where(ProcessBundle.hash == digest))
    if found is not None:
        return found
    bundles.check(FLOW, files, forms)
    row = ProcessBundle(flow=FLOW, hash=digest, files=files, forms=forms)
    db.session.add(row)
    db.session.commit()
    return row


def start_cases(count: int, follow_up_after: str, prefix: str = "R") -> list[int]:
    """`count` cases, each waiting on its note; the follow-up's timer is due `follow_up_after` (an ISO 8601
    duration) after the note is saved, and the worker fires it."""
    bundle = store_bundle()
    creator = users.find("demo.fpoc")
    ids = []
    first = db.session.scalar(select(func.count()).select_from(Case)) or 0  # references stay unique across calls
    for n in range(first, first + count):
        case = Case(reference=f"{prefix}-{n:06d}", source="phone", created_by_id=creator.id)
        db.session.add(case)
        db.session.flush()
        data = {
            "referrer": {"name": f"Referrer {n}", "email": f"referrer{n}@example.org"},
            "children": [],
            "decisions": [],
            "follow_up_after": follow_up_after,
        }
        workflow.start_instance(case, bundle, None, data=data)
        ids.append(case.id)
    db.session.commit()
    return ids


@dataclass
class Person:
    username: str
    own: list[str]  # task ids claimed for them


def prepare_load(people: int, own_each: int, shared: int) -> tuple[list[Person], list[str]]:
    """`people` social workers of one team, each with `own_each` notes claimed for them, and `shared`
    unclaimed notes in the team's tray. The timers are a year away: only the web is measured."""
    from app.roles import ROLES

    team = ROLES["ssw"].team
    made = [users.create_user(f"load.{n}", f"Load tester {n}", PASSWORD, ["ssw"], team) for n in range(people)]
    db.session.commit()
    start_cases(people * own_each + shared, "P365D", prefix="L")
    notes = list(db.session.scalars(select(Task.id).where(Task.bpmn_id == "note").order_by(Task.case_id)))
    crowd = []
    for n, user in enumerate(made):
        own = notes[n * own_each : (n + 1) * own_each]
        for task_id in own:
            claims.claim(user, task_id)
        crowd.append(Person(user.username, own))
    return crowd, notes[people * own_each :]


# --- A browser -------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: str
    location: str | None


class Browser:
    """One person's browser: keeps the session cookie, follows no redirects, one connection per request
    (so a server killed and started again is met afresh, never through a dead kept-alive socket)."""

    def __init__(self, base: str, timeout: float = 60.0):
        host, _, port = base.removeprefix("http://").partition(":")
        self.host, self.port, self.timeout = host, int(port), timeout
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Answer:
        headers = {"User-Agent": "compass-load/1", "Connection": "close"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = urlencode(form) if form is not None else None
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            for header in response.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(header).items():
                    if morsel.value:
                        self.cookies[name] = morsel.value
                    else:
                        self.cookies.pop(name, None)
            return Answer(response.status, text, response.headers.get("Location"))
        finally:
            conn.close()

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post_form(self, path: str, fields: dict[str, str], page: Answer | None = None) -> Answer:
        """Post a form with the CSRF token of its page (fetched now unless given)."""
        page = page or self.get(path)
        token = CSRF.search(page.body)
        if token is None:
            raise AssertionError(f"no CSRF token on {path} ({page.status})")
        return self.request("POST", path, {**fields, "csrf_token": token[1]})

    def sign_in(self, username: str, password: str) -> None:
        answer = self.post_form("/login", {"username": username, "password": password})
        if answer.status != 302:
            raise AssertionError(f"{username} could not sign in ({answer.status})")


# --- The web server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def app_environment(database_url: str) -> dict[str, str]:
    """The environment of the production processes (docker-compose.yml), on the given database."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "COMPASS_DEMO": "0",
        "PYTHONUNBUFFERED": "1",
    }


def start_web(
    database_url: str, port: int, log: Path, workers: int = 2, threads: int = 1, preload: bool = False
) -> subprocess.Popen[bytes]:
    """gunicorn on the WSGI app, in a process group of its own so that one signal stops master and workers.
    With `preload` the app is imported once, before the workers start, so all of them are ready together
    (the app opens no database connection at import, so none is shared across the fork)."""
    import gunicorn

    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    if threads > 1:
        command += ["--threads", str(threads)]
    if preload:
        command.append("--preload")
    if gunicorn.version_info >= (25,):
        command.append("--no-control-socket")  # one server's control socket is not another's to take over
    command.append("app.wsgi:app")
    with log.open("ab") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=app_environment(database_url), stdout=out, stderr=out, start_new_session=True
        )


def wait_until_serving(process: subprocess.Popen[bytes], port: int, log: Path, seconds: float = 90) -> None:
    """Poll (a real process on the real clock) until the sign-in page answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the web server stopped at start:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if Browser(f"http://127.0.0.1:{port}", timeout=5).get("/login").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"the web server did not start:\n{log.read_text(errors='replace')[-3000:]}")


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the whole process group: the master and every worker die at once, as in a crash."""
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)


# --- The load --------------------------------------------------------------------------------------


@dataclass
class Figures:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    completed: int = 0
    taken_first: int = 0  # 409: a shared task someone else saved first
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    def report(self, users: int) -> str:
        count = len(self.latencies)
        rate = count / self.seconds if self.seconds else 0.0
        return (
            f"load: {users} users for {self.seconds:.1f} s: {count} requests, {rate:.1f} requests/s; "
            f"latency p50 {self.percentile(50) * 1000:.0f} ms, p95 {self.percentile(95) * 1000:.0f} ms, "
            f"p99 {self.percentile(99) * 1000:.0f} ms; {self.completed} tasks saved, "
            f"{self.taken_first} told someone else saved first (409), {len(self.errors)} errors"
        )


def _timed(figures: Figures, what: str, call: Callable[[], Answer], expected: set[int]) -> Answer | None:
    began = time.perf_counter()
    try:
        answer = call()
    except (OSError, http.client.HTTPException) as err:
        with figures.lock:
            figures.errors.append(f"{what}: {type(err).__name__}: {err}")
        return None
    elapsed = time.perf_counter() - began
    with figures.lock:
        figures.latencies.append(elapsed)
        if answer.status not in expected:
            figures.errors.append(f"{what}: {answer.status}")
            return None
    return answer


def _one_user(
    base: str, person: Person, shared: list[str], seconds: float, ready: threading.Barrier, figures: Figures, seed: int
) -> None:
    rng = random.Random(seed)
    browser = Browser(base)
    # Everyone signs in first; the measured spell starts when the last has.
    try:
        browser.sign_in(person.username, PASSWORD)
        signed_in = True
    except (OSError, http.client.HTTPException, AssertionError) as err:
        with figures.lock:
            figures.errors.append(f"sign in: {err}")
        signed_in = False
    ready.wait(300)
    if not signed_in:
        return
    until = time.monotonic() + seconds
    own = list(person.own)
    rounds = 0
    while time.monotonic() < until:
        rounds += 1
        if _timed(figures, "my tasks", lambda: browser.get("/tasks"), {200}) is None:
            continue
        if _timed(figures, "team tasks", lambda: browser.get("/tasks/team"), {200}) is None:
            continue
        # Every third round a task from the team's shared pool, which others may be saving too.
        from_pool = rounds % 3 == 0 and bool(shared)
        if from_pool:
            task_id = rng.choice(shared)
        elif own:
            task_id = own.pop()
        else:
            continue  # nothing of their own left: they go on reading their trays
        path = f"/tasks/{task_id}"
        page = _timed(figures, "task page", partial(browser.get, path), {200, 409} if from_pool else {200})
        if page is None or page.status == 409:
            if page is not None:
                with figures.lock:
                    figures.taken_first += 1
            continue
        case = CASE_LINK.search(page.body)
        if case is not None:
            _timed(figures, "case page", partial(browser.get, f"/cases/{case[1]}"), {200})
        fields = {"finding": f"checked by {person.username}"}
        save = partial(browser.post_form, path, fields, page)
        saved = _timed(figures, "save task", save, {302, 409} if from_pool else {302})
        if saved is not None:
            with figures.lock:
                if saved.status == 302:
                    figures.completed += 1
                else:
                    figures.taken_first += 1


def run_load(base: str, people: list[Person], shared: list[str], seconds: float) -> Figures:
    """Every person in a thread of their own: all sign in, then each goes round for `seconds`."""
    figures = Figures()
    began: list[float] = []
    ready = threading.Barrier(len(people), action=lambda: began.append(time.monotonic()))
    threads = [
        threading.Thread(target=_one_user, args=(base, p, shared, seconds, ready, figures, n), daemon=True)
        for n, p in enumerate(people)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 600)
    figures.seconds = time.monotonic() - began[0] if began else 0.0
    return figures


def main() -> None:
    people_count = int(os.environ.get("USERS", "50"))
    seconds = float(os.environ.get("SECONDS", "60"))
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/load.db"
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}
    )
    with app.app_context():
        db.drop_all()
        db.create_all()
        bundles.import_shipped()
        users.seed_demo()
        people, shared = prepare_load(people_count, own_each=max(2, int(seconds // 5)), shared=people_count)
        db.session.remove()
    port = free_port()
    log = Path(tempfile.mkdtemp()) / "gunicorn.log"
    web = start_web(url, port, log, workers=4, threads=4, preload=True)
    try:
        wait_until_serving(web, port, log)
        figures = run_load(f"http://127.0.0.1:{port}", people, shared, seconds)
    finally:
        kill(web)
    print(f"database: {url.split('://')[0]}")
    print(figures.report(people_count))
    for error in figures.errors[:20]:
        print(f"  error: {error}")


if __name__ == "__main__":
    main()
