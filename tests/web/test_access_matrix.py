"""Need to know (DOMAIN.md §13): every route of the app against every role, as access_matrix.csv says by hand.

The matrix names exactly the app's routes. One world holds a case of each kind, with real ids. Each role's demo
user signs in (and holds an API token) and asks for every page and action: a `yes` must be answered (not
refused, not sent to sign in), a `no` refused with 403 or 404, never showing the record it guards, and a
refused form or API call changes nothing. The roles that see a case only through a task they hold then try
other cases' ids, in pages and in the API, and are refused each one; the process owner and the administrator
open no case at all; an information request and a restricted record stay with those who may read them. Last,
work named for one person is not seen by a colleague in the same role and team.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from support import SCENARIO_START, diagram_files, duration, user
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from app.engine import specs
from app.extensions import db
from app.models import Case, CasePerson, OutboxItem, Person, ProcessBundle, ProcessInstance, Task, User
from app.models.lado import LadoAllegation
from app.models.strategy import StrategyDiscussion
from app.roles import ROLES
from app.services import api_tokens, bundles, claims, records_import, scenarios, users, workflow
from app.services.restricted import restrict

MATRIX = Path(__file__).with_name("access_matrix.csv")
SEVEN_YEARS_AGO = SCENARIO_START.replace(year=SCENARIO_START.year - 7)
REFUSED = {403, 404}
NOT_ROUTES = {"HEAD", "OPTIONS"}
# Roles that see a case only through a task of their own (the LADO also through an allegation they manage).
THROUGH_A_TASK = ["police", "health", "partner", "early_help", "allocated_worker", "lead_professional", "lado"]
# Who made a contact is confidential (§13): of these roles only the allocated worker, who must answer them
# (§4.15), sees the referrer.
SEES_THE_REFERRER = {"allocated_worker"}
# Roles that see no case at all (DOMAIN.md: the administrator sees no case content by virtue of the role).
NO_CASE = ["process_owner", "admin"]


# --- The matrix ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    method: str
    rule: str
    allowed: dict[str, bool]
    why: str


def read_matrix() -> list[Row]:
    with MATRIX.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["method", "rule", *ROLES, "why"], "the header names every role, in order"
        rows = []
        for line in reader:
            cells = {role: line[role] for role in ROLES}
            bad = {role: cell for role, cell in cells.items() if cell not in ("yes", "no")}
            assert not bad, f"{line['method']} {line['rule']}: every cell is yes or no, not {bad}"
            assert line["why"].strip(), f"{line['method']} {line['rule']}: say why"
            rows.append(Row(line["method"], line["rule"], {r: c == "yes" for r, c in cells.items()}, line["why"]))
    return rows


def app_routes(flask_app: Flask) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in flask_app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in NOT_ROUTES
    }


def test_the_matrix_names_every_route_of_the_app_and_no_other(app: Flask) -> None:
    written = [(row.method, row.rule) for row in read_matrix()]
    twice = sorted({pair for pair in written if written.count(pair) > 1})
    assert twice == [], f"rows written twice: {twice}"
    missing = sorted(app_routes(app) - set(written))
    removed = sorted(set(written) - app_routes(app))
    assert missing == [], f"routes with no row in {MATRIX.name}: {missing}"
    assert removed == [], f"rows for routes the app no longer has: {removed}"


# --- The world -------------------------------------------------------------------------------------------


@dataclass
class World:
    contact: int  # an open contact, its review waiting for a senior social worker: nobody else holds a task
    review: str  # that review's task id
    letter_case: int  # a closed contact with a paper letter to a parent waiting to be posted
    restricted: int  # a closed contact a team manager has restricted
    past_its_time: int  # a contact closed seven years ago, due for its retention review
    letter: int
    information_request: int  # the request's case id
    allegation: int
    allegation_case: int
    discussion: int
    discussion_case: int
    person: int  # the contact's child
    other_person: int  # another child, to compare with
    holds: dict[str, tuple[int, str]] = field(default_factory=dict)  # role -> (case, task) where it holds one
    alike: dict[str, list[int]] = field(default_factory=dict)  # role -> cases of the same kinds, its part done
    cases: list[int] = field(default_factory=list)
    secrets: dict[int, list[str]] = field(default_factory=dict)  # case id -> its reference and people's names


def _scenario(flow: str, stem: str, clock: Any, steps: int | None = None) -> int:
    """A shipped scenario run on the fake clock, whole or only its first `steps` steps; returns its case id."""
    scenario = json.loads(_scenario_file(flow, stem))
    if steps is not None:
        scenario["steps"], scenario["expect"] = scenario["steps"][:steps], {}
    result = scenarios.run(scenario, advance=lambda text: clock.shift(duration(text)))
    assert result.mismatches == [], (stem, result.mismatches)
    return result.case_id


def _partner_checks() -> tuple[int, int]:
    """No shipped flow has a partner agency's lane yet, so a test diagram's police lane is named `partner`:
    real workflows whose first steps wait for the partner agency. On the second case the partner has answered."""
    files, forms = diagram_files("parallel_checks")
    files = {name: text.replace('name="police"', 'name="partner"') for name, text in files.items()}
    bundles.check("parallel_checks", files, forms)
    bundle = ProcessBundle(flow="parallel_checks", hash=specs.bundle_hash(files, forms), files=files, forms=forms)
    db.session.add(bundle)
    cases = []
    for reference in ("T-partner-1", "T-partner-2"):
        case = Case(reference=reference, source="phone", created_by_id=user("ssw").id)
        db.session.add(case)
        db.session.flush()
        workflow.start_instance(case, bundle, user("ssw"))
        db.session.commit()
        cases.append(case.id)
    workflow.complete_task(user("partner"), _task(cases[1], "partner"), {"finding": "Not known to probation"})
    return cases[0], cases[1]


def _task(case_id: int, lane: str) -> str:
    task = db.session.scalar(select(Task).where(Task.case_id == case_id, Task.lane == lane))
    assert task is not None, (case_id, lane)
    return task.id


def referrer_of(case_id: int) -> list[str]:
    """Who made the contact, as the case holds it: their name, e-mail and phone."""
    found = db.session.scalars(
        select(CasePerson).where(CasePerson.case_id == case_id, CasePerson.role == "referrer")
    ).all()
    return [
        value
        for referrer in found
        for value in (referrer.person.name, referrer.details.get("email"), referrer.details.get("phone"))
        if isinstance(value, str) and len(value) > 3
    ]


def _children(case_id: int) -> list[int]:
    query = select(CasePerson.person_id).where(CasePerson.case_id == case_id, CasePerson.role == "child")
    return list(db.session.scalars(query.order_by(CasePerson.id)))


def records_to_merge(role: str) -> tuple[int, int]:
    """Two records of one child known to the council's record system by two closed referrals: for `role` to
    merge, so each merge is made on records of its own."""
    name = f"Rowan {role.replace('_', ' ').title().replace(' ', '')}"
    rows = [
        (
            n,
            {
                "external_id": f"REF-{role}-{n}",
                "kind": "referral",
                "status": "closed",
                "name": name,
                "date_of_birth": f"2014-0{n}-01",
                "started_on": "2025-01-06",
                "ended_on": "2025-02-03",
            },
        )
        for n in (1, 2)
    ]
    report = records_import.import_rows(rows, source="test")
    assert all(row.accepted for row in report.rows), report.rows
    found = list(db.session.scalars(select(Person.id).where(Person.name == name).order_by(Person.id)))
    assert len(found) == 2, (role, found)
    return found[0], found[1]


def build_world(clock: Any) -> World:
    with time_machine.travel(SEVEN_YEARS_AGO, tick=False) as then:
        past_its_time = _scenario("initial_contact", "below_threshold_advice", then)
    contact = _scenario("initial_contact", "below_threshold_advice", clock, steps=0)
    letter_case = _scenario("initial_contact", "s17_consent_refused", clock)
    domestic_abuse = _scenario("da_triage", "level_2_letter_to_a_safe_address", clock)
    # Two Multi Agency Triage items: on one the police have shared what they hold, on the other health has.
    police_done = _scenario("mat", "an_item_arriving_at_the_meeting_waits_for_the_next_days_meeting", clock, 4)
    health_done = _scenario("mat", "further_checks_then_progress_to_referral", clock, steps=3)
    lado = _scenario("initial_contact", "allegation_against_a_teacher_goes_to_the_lado", clock)
    request = _scenario("information_request", "cafcass_court_order_disclosed_in_full", clock, steps=0)
    strategy = _scenario("strategy_discussion", "neither_enquiry_nor_investigation_no_further_action", clock)
    early_help = _scenario("initial_contact", "early_help_request_goes_to_the_hub", clock, steps=0)
    open_case = _scenario("initial_contact", "open_case_goes_to_the_allocated_worker", clock, steps=0)
    consultation = _scenario("da_triage", "early_help_medium_risk_goes_to_the_lead_professional", clock, steps=1)
    # Cases of the same kinds where that role's part is done: it holds no task on them any more.
    early_help_done = _scenario("initial_contact", "early_help_request_advice_only", clock)
    consulted = _scenario("da_triage", "early_help_high_risk_is_referred_and_the_lead_professional_told", clock)
    # After the one above: its records make a child open to social care.
    open_case_done = _scenario("da_triage", "open_case_goes_to_the_allocated_worker", clock)
    partner, partner_done = _partner_checks()
    restricted = _scenario("initial_contact", "early_help_declined", clock)
    restrict(user("team_manager"), restricted, "The family of a member of staff")

    letter = db.session.scalar(
        select(OutboxItem).where(
            OutboxItem.case_id == letter_case, OutboxItem.channel == "letter", OutboxItem.recipient_role == "parent"
        )
    )
    assert letter is not None and letter.status == "pending"
    allegation = db.session.scalar(select(LadoAllegation).where(LadoAllegation.case_id == lado))
    discussion = db.session.scalar(select(StrategyDiscussion).where(StrategyDiscussion.case_id == strategy))
    assert allegation is not None and discussion is not None
    children = _children(contact)
    others = [
        p
        for case in (letter_case, domestic_abuse, police_done, health_done, lado, strategy)
        for p in _children(case)
        if p not in children
    ]
    assert others, "a second child to compare with"
    cases = list(db.session.scalars(select(Case.id).order_by(Case.id)))
    secrets = {}
    for case in db.session.scalars(select(Case)):
        secrets[case.id] = [case.reference] + [p.person.name for p in case.people if p.role != "referrer"]
    return World(
        contact=contact,
        review=_task(contact, "ssw"),
        letter_case=letter_case,
        restricted=restricted,
        past_its_time=past_its_time,
        letter=letter.id,
        information_request=request,
        allegation=allegation.id,
        allegation_case=lado,
        discussion=discussion.id,
        discussion_case=strategy,
        person=children[0],
        other_person=others[0],
        holds={
            "police": (health_done, _task(health_done, "police")),
            "health": (police_done, _task(police_done, "health")),
            "partner": (partner, _task(partner, "partner")),
            "early_help": (early_help, _task(early_help, "early_help")),
            "allocated_worker": (open_case, _task(open_case, "allocated_worker")),
            "lead_professional": (consultation, _task(consultation, "lead_professional")),
            "lado": (lado, _task(lado, "lado")),
        },
        alike={
            "police": [police_done, domestic_abuse],
            "health": [health_done, domestic_abuse],
            "partner": [partner_done],
            "early_help": [early_help_done],
            "allocated_worker": [open_case_done],
            "lead_professional": [consulted],
            "lado": [contact],  # a contact with no allegation
        },
        cases=cases,
        secrets=secrets,
    )


def _undone_migration(world: World) -> int:
    """A move of the contact's flow to another version, already undone: undoing it again is let in and refused
    in plain words, changing nothing."""
    from app.models import InstanceMigration
    from app.models.types import utcnow

    found = db.session.scalar(select(InstanceMigration.id))
    if found is None:
        instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == world.contact))
        assert instance is not None
        row = InstanceMigration(
            instance_id=instance.id,
            case_id=world.contact,
            flow=instance.flow,
            from_bundle_id=instance.bundle_id,
            to_bundle_id=instance.bundle_id,
            state_before=instance.state,
            version_before=instance.version,
            version_after=instance.version,
            changes=[],
            reverted_at=utcnow(),
        )
        db.session.add(row)
        db.session.commit()
        found = row.id
    return int(found)


def url_for_rule(rule: str, world: World) -> str | None:
    """The rule with a real record's ids; None when it has a placeholder this test does not know yet."""
    values = {
        "<int:case_id>": world.contact,
        "<task_id>": world.review,
        "<int:person_id>": world.person,
        "<int:other_id>": world.other_person,
        "<path:filename>": "govuk-frontend.min.css",
        "<flow>": "initial_contact",
        "<form_id>": "ssw_review",
    }
    if rule.startswith("/cases/<int:case_id>/letters/"):
        values |= {"<int:case_id>": world.letter_case, "<int:item_id>": world.letter}
    elif rule == "/cases/<int:case_id>/open":
        values["<int:case_id>"] = world.restricted
    elif rule.startswith("/retention/"):
        values["<int:case_id>"] = world.past_its_time
    elif rule.startswith("/information-requests/"):
        values["<int:case_id>"] = world.information_request
    elif rule.startswith("/lado/"):
        values["<int:item_id>"] = world.allegation
    elif rule.startswith("/strategy-discussions/"):
        values["<int:item_id>"] = world.discussion
    elif rule.startswith("/letters-to-post/"):
        values["<int:item_id>"] = world.letter
    elif rule.startswith("/failed-steps/"):
        # The contact's own flow: a step that has not failed, so a retry is let in and runs nothing.
        query = select(ProcessInstance.id).where(ProcessInstance.case_id == world.contact)
        values["<int:instance_id>"] = db.session.scalar(query)
    elif rule.startswith("/processes/migrations/"):
        values["<int:migration_id>"] = _undone_migration(world)
    url = rule
    for placeholder, value in values.items():
        url = url.replace(placeholder, str(value))
    return None if "<" in url else url


def secrets_of(rule: str, world: World) -> list[str]:
    """What a refusal must not show: the guarded case's reference and its people's names."""
    if rule.startswith("/cases/<int:case_id>/letters/") or rule.startswith("/letters-to-post/"):
        return world.secrets[world.letter_case]
    if rule == "/cases/<int:case_id>/open":
        return world.secrets[world.restricted]
    if rule.startswith("/retention/"):
        return world.secrets[world.past_its_time]
    if rule.startswith("/information-requests/<"):
        return world.secrets[world.information_request]
    if rule.startswith("/lado/<"):
        return world.secrets[world.allegation_case]
    if rule.startswith("/strategy-discussions/<"):
        return world.secrets[world.discussion_case]
    if "<int:case_id>" in rule or "<task_id>" in rule or "<int:person_id>" in rule:
        return world.secrets[world.contact]  # the contact, its review, and its child
    return []


# --- Callers ---------------------------------------------------------------------------------------------


class Caller:
    """A user of one role (its demo user unless named): signed in on the web with a CSRF token, and holding an
    API token of its own."""

    def __init__(self, flask_app: Flask, role: str, username: str = "", password: str = ""):
        self.role = role
        username, password = username or f"demo.{role}", password or users.DEMO_PASSWORD
        self.web: FlaskClient = flask_app.test_client()
        sign_in = {"username": username, "password": password, "csrf_token": self._token("/login")}
        signed_in = self.web.post("/login", data=sign_in)
        assert signed_in.status_code == 302, (username, signed_in.status_code)
        self.csrf = self._token("/tasks")  # a new session on signing in: a new token
        # Every scope, so what decides is the role, never the token.
        self.bearer = api_tokens.create(username, f"access matrix as {role}", tuple(api_tokens.SCOPES)).secret
        self.api: FlaskClient = flask_app.test_client()

    def _token(self, url: str) -> str:
        match = re.search(r'name="csrf_token" value="([^"]+)"', self.web.get(url).get_data(as_text=True))
        assert match, f"no CSRF token on {url} for {self.role}"
        return match.group(1)

    def get(self, url: str) -> TestResponse:
        if url.startswith("/api/"):
            return self.api.get(url, headers={"Authorization": f"Bearer {self.bearer}"})
        return self.web.get(url)

    def post(self, url: str, data: Any) -> TestResponse:
        if url.startswith("/api/"):
            headers = {"Authorization": f"Bearer {self.bearer}"}
            if data is None:
                return self.api.post(url, headers=headers)
            return self.api.post(url, json=data, headers=headers)
        pairs = list(data.items()) if isinstance(data, dict) else list(data or [])
        return self.web.post(url, data=MultiDict([*pairs, ("csrf_token", self.csrf)]))


def got(response: TestResponse) -> str:
    if 300 <= response.status_code < 400:
        return f"{response.status_code} to {response.headers.get('Location', '?')}"
    return str(response.status_code)


def answered(response: TestResponse) -> bool:
    """The role got the page: not refused, not failed, not sent to sign in."""
    if response.status_code >= 400:
        return False
    return not (response.status_code >= 300 and "/login" in response.headers.get("Location", ""))


def acted_on(response: TestResponse) -> bool:
    """A form the role may send: any answer but a refusal, a failure or being sent to sign in (an empty
    form's 400 is its own answer)."""
    if response.status_code in REFUSED or response.status_code >= 500:
        return False
    return not (300 <= response.status_code < 400 and "/login" in response.headers.get("Location", ""))


def text(response: TestResponse) -> str:
    return response.get_data().decode("utf-8", errors="replace")  # a PDF is bytes


def leaked(response: TestResponse, secrets: list[str]) -> list[str]:
    body = text(response)
    return [s for s in secrets if s and s in body]


KEPT_OUT = {"audit_event", "audit_chain", "login_guard", "user_account", "api_token"}


def records() -> dict[str, Any]:
    """What a refused request must leave as it was: how many rows each record table holds, and who holds each
    task, each case's state, each letter's, each person's merge and each workflow's version. (Reading and
    signing in are recorded in the audit and on the user and token, which a refusal may well touch.)"""
    db.session.rollback()  # read what the web's own connections committed
    tables = [table for table in db.metadata.sorted_tables if table.name not in KEPT_OUT]
    row = db.session.execute(
        select(*(select(func.count()).select_from(t).scalar_subquery().label(t.name) for t in tables))
    ).one()
    counts = dict(row._mapping)
    state = {
        "tasks": db.session.execute(select(Task.id, Task.assignee_id).order_by(Task.id)).all(),
        "cases": db.session.execute(
            select(Case.id, Case.status, Case.voided_at, Case.restricted).order_by(Case.id)
        ).all(),
        "letters": db.session.execute(select(OutboxItem.id, OutboxItem.status).order_by(OutboxItem.id)).all(),
        "people": db.session.execute(select(Person.id, Person.merged_into_id).order_by(Person.id)).all(),
        "workflows": db.session.execute(
            select(ProcessInstance.id, ProcessInstance.version, ProcessInstance.status).order_by(ProcessInstance.id)
        ).all(),
    }
    return {**counts, **state}


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return sorted(key for key in before if before[key] != after[key])


# --- The walk --------------------------------------------------------------------------------------------


def attempt(rule: str, world: World) -> Any:
    """What a role that may not do a thing would send to do it: a whole, valid request where one is short."""
    review = _step("initial_contact", "below_threshold_advice", "ssw_review")
    bodies: dict[str, Any] = {
        "/api/v1/cases": {"flow": "initial_contact", "data": _start("initial_contact", "below_threshold_advice")},
        "/api/v1/notifications/domestic-abuse": {
            **_start("da_triage", "level_2_letter_to_a_safe_address"),
            "police_reference": "DA/2026/990001",
        },
        "/api/v1/tasks/<task_id>/complete": {"data": review},
        "/tasks/<task_id>": list(review.items()),
        "/tasks/<task_id>/reassign": {"to": str(user("ssw").id)},
        "/cases/<int:case_id>/void": {"reason": "Recorded in error: the wrong family"},
        "/cases/<int:case_id>/further-information": {"caller_name": "Sam Caller", "information": "The same again"},
        "/drafts": {"_draft": "contact"},
        "/cases/<int:case_id>/restriction": {"reason": "The family of a member of staff"},
        "/cases/<int:case_id>/open": {"reason": "Asked by the senior social worker to check the history"},
        "/retention/<int:case_id>": {
            "decision": "delete",
            "reason": "Past its time and not needed",
            "confirm": world.secrets[world.past_its_time][0],
        },
    }
    return bodies.get(rule, {})


def empty(rule: str) -> Any:
    """What a role that may do a thing sends to check it is let in without doing it: a request with no answers,
    well-formed enough to reach the check (a draft names its form; an API call is a JSON object)."""
    bodies: dict[str, Any] = {
        "/api/v1/cases": {"flow": "initial_contact", "data": {}},
        "/api/v1/notifications/domestic-abuse": {},
        "/api/v1/tasks/<task_id>/complete": {"data": {}},
        "/drafts": {"_draft": "contact"},
    }
    return bodies.get(rule, {})


@cache
def _scenario_file(flow: str, stem: str) -> str:
    return (bundles.PROCESSES_DIR / flow / "scenarios" / f"{stem}.json").read_text(encoding="utf-8")


def _start(flow: str, stem: str) -> dict[str, Any]:
    return dict(json.loads(_scenario_file(flow, stem))["start"])


def _step(flow: str, stem: str, task: str) -> dict[str, Any]:
    steps = json.loads(_scenario_file(flow, stem))["steps"]
    return dict(next(s["data"] for s in steps if s.get("task") == task))


def _claimed_by_the_ssw(world: World) -> bool:
    db.session.rollback()
    task = db.session.get(Task, world.review)
    if task is None or task.assignee_id is not None:
        return False  # gone only if a refusal failed, which is reported
    claims.claim(user("ssw"), world.review)
    return True


def _unclaimed(world: World) -> bool:
    db.session.rollback()
    task = db.session.get(Task, world.review)
    if task is None or task.assignee_id is None:
        return False
    claims.release(db.session.get(User, task.assignee_id), world.review)
    return True


# Rows whose "yes" does real work, walked last in this order; what each needs set up before every check.
LAST = [
    "/tasks/<task_id>/claim",
    "/tasks/<task_id>/release",
    "/letters-to-post/<int:item_id>/posted",
    "/people/<int:person_id>/compare/<int:other_id>",
    "/logout",  # the very last: each role signs out
]
BEFORE: dict[str, Callable[[World], bool]] = {
    "/tasks/<task_id>/claim": _unclaimed,
    "/tasks/<task_id>/release": _claimed_by_the_ssw,
}


def walk_gets(rows: list[Row], callers: dict[str, Caller], world: World, wrong: list[str]) -> None:
    for row in rows:
        url = url_for_rule(row.rule, world)
        if url is None:
            wrong.append(f"{row.method} {row.rule}: this test does not know how to fill in the rule yet")
            continue
        for role, caller in callers.items():
            response = caller.get(url)
            expected = row.allowed[role]
            if expected and not answered(response):
                wrong.append(f"{role} GET {url}: expected yes, got {got(response)}")
            elif not expected and response.status_code not in REFUSED:
                wrong.append(f"{role} GET {url}: expected no, got {got(response)}")
            elif not expected and (shown := leaked(response, secrets_of(row.rule, world))):
                wrong.append(f"{role} GET {url}: refused, but the page shows {shown}")
            elif expected:
                wrong.extend(lists_leak(row, role, response, world, rows))


def lists_leak(row: Row, role: str, response: TestResponse, world: World, rows: list[Row]) -> list[str]:
    """A list a role may open shows none of the records the matrix says it may not open."""
    body = text(response)
    allowed = {r.method + " " + r.rule: r.allowed[role] for r in rows}
    shown = []
    if row.rule == "/cases":
        if re.search(rf"/cases/{world.restricted}(?!\d)", body):
            shown.append(f"restricted record {world.restricted}")  # reached by its reference, with a reason
        if not allowed["GET /cases/<int:case_id>"] and re.search(rf"/cases/{world.contact}(?!\d)", body):
            shown.append(f"case {world.contact}")
        if not allowed["GET /information-requests/<int:case_id>"] and re.search(
            rf"/cases/{world.information_request}(?!\d)", body
        ):
            shown.append(f"information request {world.information_request}")
    if row.rule in ("/tasks", "/api/v1/tasks"):
        opens = "GET /tasks/<task_id>" if row.rule == "/tasks" else "GET /api/v1/tasks/<task_id>"
        if not allowed[opens] and world.review in body:
            shown.append(f"task {world.review}")
    return [f"{role} GET {row.rule}: the list shows {what}, which the role may not open" for what in shown]


def walk_posts(rows: list[Row], callers: dict[str, Caller], world: World, wrong: list[str]) -> None:
    order = {rule: n for n, rule in enumerate(LAST, start=1)}
    for row in sorted(rows, key=lambda r: (order.get(r.rule, 0), r.rule)):
        url = url_for_rule(row.rule, world)
        if url is None:
            wrong.append(f"{row.method} {row.rule}: this test does not know how to fill in the rule yet")
            continue
        prepare = BEFORE.get(row.rule, lambda _world: False)
        before = None
        for role, caller in callers.items():
            if row.allowed[role]:
                continue
            if prepare(world) or before is None:
                before = records()
            response = caller.post(url, attempt(row.rule, world))
            after = records()
            if response.status_code not in REFUSED:
                wrong.append(f"{role} POST {url}: expected no, got {got(response)}")
            if changed := changes(before, after):
                wrong.append(f"{role} POST {url}: refused or not, it changed {changed}")
            before = after
        for role, caller in callers.items():
            if not row.allowed[role]:
                continue
            prepare(world)
            target = url
            if row.rule == "/people/<int:person_id>/compare/<int:other_id>":
                keep, other = records_to_merge(role)
                target = f"/people/{keep}/compare/{other}"
            response = caller.post(target, empty(row.rule))
            if row.rule == "/logout":
                # Signing out sends one to sign in again, and nothing more is shown without it.
                after = caller.get("/tasks")
                if response.status_code != 302 or "/login" not in after.headers.get("Location", ""):
                    wrong.append(f"{role} POST /logout: expected to be signed out, got {got(response)}")
            elif not acted_on(response):
                wrong.append(f"{role} POST {target}: expected yes, got {got(response)}")


def walk_other_cases(callers: dict[str, Caller], world: World, wrong: list[str]) -> None:
    """Each role that sees a case only through its own task opens that case and task, then guesses the ids of
    every other case and its tasks, in pages and in the API: each is refused. On the cases most like its own
    (and the contact, the restricted record and the information request) it tries every case-specific page as
    well (letters, voiding, adding information, the access log, the request's record), and opening the case
    with a reason, claiming or completing its tasks is refused and changes nothing."""
    db.session.rollback()
    lado_cases = set(db.session.scalars(select(ProcessInstance.case_id).where(ProcessInstance.flow == "lado")))
    before: dict[str, Any] | None = None
    for role in THROUGH_A_TASK:
        caller = callers[role]
        own_case, own_task = world.holds[role]
        for url in (
            f"/cases/{own_case}",
            f"/tasks/{own_task}",
            f"/api/v1/cases/{own_case}",
            f"/api/v1/tasks/{own_task}",
        ):
            response = caller.get(url)
            if not answered(response):
                wrong.append(f"{role} GET {url} (its own task's): expected yes, got {got(response)}")
            elif role not in SEES_THE_REFERRER and (shown := leaked(response, referrer_of(own_case))):
                wrong.append(f"{role} GET {url} (its own task's): shows who made the contact, {shown}")
        if role not in SEES_THE_REFERRER:
            to_referrer = select(OutboxItem.id).where(
                OutboxItem.case_id == own_case, OutboxItem.recipient_role == "referrer"
            )
            for letter in db.session.scalars(to_referrer):
                for url in (f"/cases/{own_case}/letters/{letter}", f"/cases/{own_case}/letters/{letter}.pdf"):
                    if (response := caller.get(url)).status_code not in REFUSED:
                        wrong.append(f"{role} GET {url} (its own case's letter to the referrer): got {got(response)}")
        closest = {*world.alike[role], world.contact, world.restricted, world.information_request}
        assert own_case not in closest
        for case_id in world.cases:
            tasks = list(db.session.scalars(select(Task).where(Task.case_id == case_id).order_by(Task.id)))
            if any(t.lane == role for t in tasks) or (role == "lado" and case_id in lado_cases):
                continue  # a case it has a part in
            urls = [f"/cases/{case_id}", f"/api/v1/cases/{case_id}"]
            urls += [url for t in tasks for url in (f"/tasks/{t.id}", f"/api/v1/tasks/{t.id}")]
            if case_id in closest:
                letter = db.session.scalar(select(OutboxItem.id).where(OutboxItem.case_id == case_id).limit(1))
                urls += [
                    f"/cases/{case_id}/void",
                    f"/cases/{case_id}/further-information",
                    f"/cases/{case_id}/access-log",
                    f"/cases/{case_id}/restriction",
                    f"/information-requests/{case_id}",
                    *(f"/tasks/{t.id}/reassign" for t in tasks),
                ]
                if letter is not None:
                    urls += [f"/cases/{case_id}/letters/{letter}", f"/cases/{case_id}/letters/{letter}.pdf"]
            for url in urls:
                response = caller.get(url)
                if response.status_code not in REFUSED:
                    wrong.append(f"{role} GET {url} (another case): expected no, got {got(response)}")
                elif shown := leaked(response, world.secrets[case_id]):
                    wrong.append(f"{role} GET {url} (another case): refused, but the page shows {shown}")
            posts: list[tuple[str, Any]] = []
            if case_id in closest:
                posts.append((f"/cases/{case_id}/open", {"reason": "Checking what this record holds for a visit"}))
                for t in tasks:
                    posts += [(f"/tasks/{t.id}/claim", {}), (f"/api/v1/tasks/{t.id}/complete", {"data": {}})]
            for url, body in posts:
                before = before or records()
                response = caller.post(url, body)
                after = records()
                if response.status_code not in REFUSED:
                    wrong.append(f"{role} POST {url} (another case): expected no, got {got(response)}")
                if changed := changes(before, after):
                    wrong.append(f"{role} POST {url} (another case): it changed {changed}")
                before = after


def walk_records_kept_apart(callers: dict[str, Caller], world: World, rows: list[Row], wrong: list[str]) -> None:
    """Two records the hub's own staff do not all see. An information request is for the register's readers:
    whoever may not read its record (by the matrix) is refused its case and its task too. A restricted record
    shows nothing of itself, in pages or in the API, to someone who may open it but has not given a reason."""
    db.session.rollback()
    allowed = {(r.method, r.rule): r.allowed for r in rows}
    request_task = db.session.scalar(select(Task.id).where(Task.case_id == world.information_request))
    checks = []
    for role in ROLES:
        if not allowed[("GET", "/information-requests/<int:case_id>")][role]:
            case = world.information_request
            urls = [f"/cases/{case}", f"/api/v1/cases/{case}", f"/tasks/{request_task}"]
            checks += [(role, url, world.secrets[case]) for url in urls]
        if allowed[("POST", "/cases/<int:case_id>/open")][role]:
            case = world.restricted
            names = world.secrets[case][1:]  # the reference is how the record is asked for
            checks += [(role, url, names) for url in (f"/cases/{case}", f"/api/v1/cases/{case}")]
    for role, url, secrets in checks:
        response = callers[role].get(url)
        if response.status_code not in REFUSED:
            wrong.append(f"{role} GET {url}: expected no, got {got(response)}")
        elif shown := leaked(response, secrets):
            wrong.append(f"{role} GET {url}: refused, but the page shows {shown}")


def walk_every_case_as_no_one(callers: dict[str, Caller], world: World, wrong: list[str]) -> None:
    """The process owner and the administrator open no case and no task, whichever id they try."""
    db.session.rollback()
    for role in NO_CASE:
        for case_id in world.cases:
            tasks = db.session.scalars(select(Task.id).where(Task.case_id == case_id)).all()
            urls = [f"/cases/{case_id}", f"/api/v1/cases/{case_id}"]
            urls += [url for task in tasks for url in (f"/tasks/{task}", f"/api/v1/tasks/{task}")]
            for url in urls:
                response = callers[role].get(url)
                if response.status_code not in REFUSED:
                    wrong.append(f"{role} GET {url} (any case): expected no, got {got(response)}")
                elif shown := leaked(response, world.secrets[case_id]):
                    wrong.append(f"{role} GET {url} (any case): refused, but the page shows {shown}")


def test_every_role_gets_exactly_what_the_matrix_says_on_every_route(web, clock) -> None:
    world = build_world(clock)
    rows = read_matrix()  # a route without a row is the test above's failure; this one walks the rows
    callers = {role: Caller(web.app, role) for role in ROLES}
    wrong: list[str] = []
    walk_gets([r for r in rows if r.method == "GET"], callers, world, wrong)
    walk_other_cases(callers, world, wrong)
    walk_every_case_as_no_one(callers, world, wrong)
    walk_records_kept_apart(callers, world, rows, wrong)
    walk_posts([r for r in rows if r.method == "POST"], callers, world, wrong)
    assert wrong == [], f"{len(wrong)} answers differ from {MATRIX.name}:\n" + "\n".join(wrong)


def test_work_named_for_one_person_is_not_seen_by_a_colleague_in_the_same_role_and_team(web, clock) -> None:
    """An open case goes to the child's allocated social worker and their team manager (§4.15), and a family
    open to targeted early help to its lead professional (§8.11): work named for one person. A colleague in the
    same role and team holds no task on that case, so they see none of it, by its page, its task or the API
    (DESIGN.md rule 10: assignment is part of need to know)."""
    named = {
        "allocated_worker": _scenario("initial_contact", "open_case_goes_to_the_allocated_worker", clock, 0),
        "lead_professional": _scenario("da_triage", "early_help_medium_risk_goes_to_the_lead_professional", clock, 1),
    }
    wrong: list[str] = []
    for role, case_id in named.items():
        task = db.session.scalar(select(Task).where(Task.case_id == case_id, Task.lane == role))
        assert task is not None and task.assignee_id == user(role).id, "the work is named for the demo user"
        users.create_user(f"colleague.{role}", f"Colleague {role}", "colleague-password", [role], ROLES[role].team)
        db.session.commit()
        urls = [f"/cases/{case_id}", f"/tasks/{task.id}", f"/api/v1/cases/{case_id}", f"/api/v1/tasks/{task.id}"]
        holder = Caller(web.app, role)
        colleague = Caller(web.app, role, f"colleague.{role}", "colleague-password")
        for url in urls:
            if not answered(response := holder.get(url)):
                wrong.append(f"{role} GET {url} (named for them): expected yes, got {got(response)}")
            if (response := colleague.get(url)).status_code not in REFUSED:
                wrong.append(f"colleague {role} GET {url} (named for another): expected no, got {got(response)}")
    assert wrong == [], "\n".join(wrong)
