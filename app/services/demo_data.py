"""Demo data at scale: years of front-door cases, written in bulk so that 200,000 take minutes.

Two kinds of case are made.

- **Closed history** (most of them): contacts, domestic-abuse notifications and information requests that
  ran their course, written straight into the tables with bulk inserts — the case, its children with their
  thresholds and outcomes, parents and referrer, referrals with their outcomes, one finished process
  instance per flow the case went through, the flows' own records (strategy discussions, MAT decisions, DA
  triage decisions, LADO allegations, information requests) and the clocks each decision ran.
- **Open work**: a real case is first taken through the app's own services, step by step, along the shipped
  scenarios (processes/<flow>/scenarios); after each step everything it then holds is copied as a template.
  Each open case made in bulk is a copy of such a template with fresh ids, fresh task UUIDs throughout its
  saved workflow state (so each copy's tasks are its own), other names and moved times. A generated open
  task is therefore a real engine task: opening and completing it runs the diagram as for any other case.

A finished instance keeps a real finished state (of a template of its flow), so re-opening a closed contact
or drawing its diagram reads a state the engine wrote; it is the template's state, not one that matches the
generated case's own answers.

No audit events are written for the generated history: every audit event is sealed into its case's hash chain
as it commits, and a made-up trail would be a record of things no one did. One event, DEMO_DATA_GENERATED,
records the run itself. The template cases were made through the services, so their audit trail is real.

Ids are given by the generator (the next free ones), so run it while no one is recording cases; on
PostgreSQL each table's id sequence is moved past them at the end.
"""

from __future__ import annotations

import importlib
import json
import random
import re
import time
import uuid
from bisect import bisect
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Date, Table, func, insert, select, text

from app.extensions import db
from app.models import Case, ProcessInstance, Task, User
from app.models.types import UTCDateTime, utcnow
from app.roles import ROLES
from app.services import audit, bundles, figures_days, people, scenarios, users, workflow

audit.register({"DEMO_DATA_GENERATED": {"cases", "open_tasks", "template_cases"}})

LONDON = ZoneInfo("Europe/London")
CHUNK = 5_000  # cases written per transaction
PER_WORKING_DAY = 55  # Shropshire's contacts a working day (DOMAIN.md "Scale")

# The scenarios walked to make the templates of open work: between them they stop at every user task of
# every flow that can be reached without moving the clock. A scenario that first imports records from the
# main record system is left out (its people would be matched to the imported ones).
TEMPLATE_SCENARIOS: list[tuple[str, str]] = [
    ("initial_contact", "s17_consent_given"),
    ("initial_contact", "s17_consent_sought_and_given"),
    ("initial_contact", "early_help_request_goes_to_the_hub"),
    ("initial_contact", "notification_of_private_fostering"),
    ("initial_contact", "person_posing_a_risk_goes_to_assessment"),
    ("initial_contact", "more_information_is_asked_at_most_three_times"),
    ("initial_contact", "urgent_phone_referral_waits_for_its_marf_and_is_chased"),
    ("initial_contact", "below_threshold_advice"),
    ("mat", "further_checks_then_progress_to_referral"),
    ("strategy_discussion", "police_investigation_only_chaired_by_a_team_manager"),
    ("strategy_discussion", "s47_and_police_investigation_chaired_by_the_senior_social_worker"),
    ("lado", "two_meetings_unsubstantiated"),
    ("information_request", "fostering_consent_given_disclosed"),
    ("da_triage", "level_4_section_47_strategy_discussion"),
    ("da_triage", "level_3_early_offer_of_help_with_health_action"),
    ("da_triage", "level_2_unsafe_address_contact_made_safely"),
]

# The tables a case's records live in, copied with a template; the audit trail, letters, drafts, reasons
# for opening restricted records and sharing records stay with the template case (they record acts).
CLONED_TABLES = [
    "case_record",
    "person",
    "case_person",
    "person_relationship",
    "case_event",
    "consent_record",
    "process_instance",
    "handover",
    "referral",
    "task",
    "task_clock",
    "mat_decision",
    "strategy_discussion",
    "da_notification",
    "da_triage_decision",
    "lado_allegation",
    "information_request",
]
ID_TABLES = [t for t in CLONED_TABLES if t != "task"] + ["person_name_part"]

# --- Made-up people --------------------------------------------------------------------------------------


def _words(text_: str, sep: str | None = None) -> list[str]:
    return text_.split(sep)


GIRLS = _words(
    "Olivia Amelia Isla Ava Mia Ivy Lily Isabella Rosie Sophia Grace Freya Willow Evie Poppy Ella Florence Daisy "
    "Sienna Harper Millie Emily Ruby Phoebe Evelyn Maya Erin Matilda Esme Chloe Holly Lola Layla Zara Aisha Nora"
)
BOYS = _words(
    "Noah Oliver George Leo Arthur Muhammad Harry Oscar Archie Henry Theodore Jack Charlie Freddie Alfie Finley "
    "Thomas Jacob Lucas Isaac Tommy Max Teddy Reggie Joshua Ethan Mason Logan Riley Harrison Kai Jaxon Ryan Zain"
)
ADULTS = _words(
    "Sarah Emma Laura Gemma Kelly Claire Rebecca Hayley Lisa Donna Jade Stacey Danielle Kerry Michelle Amy "
    "James David Daniel Mark Paul Lee Craig Darren Jason Wayne Ryan Carl Dean Scott Stuart Gareth"
)
SURNAMES = _words(
    "Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Thompson Wright "
    "Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood Turner Martin Cooper Hill "
    "Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott Phillips Watson Davis Parker Price "
    "Bennett Young Griffiths Mitchell Kelly Cook Carter Richardson Bailey Collins Bell Shaw Murphy Miller Cox "
    "Richards Khan Marshall Anderson Simpson Ellis Adams Singh Begum Wilkinson Foster Chapman Powell Webb Rogers "
    "Gray Mason Ali Hunt Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes Knight Lloyd Butler Russell"
)
STREETS = _words(
    "High Street|Church Road|Station Road|Mill Lane|Castle Street|Abbey Foregate|Whitchurch Road|Longden Road|"
    "Wenlock Road|Meole Crescent|Oak Lane|Severn Way|Monkmoor Road|Holyhead Road|Park Avenue|Queen Street",
    "|",
)
TOWNS = [
    ("Shrewsbury", "SY1"),
    ("Shrewsbury", "SY2"),
    ("Shrewsbury", "SY3"),
    ("Oswestry", "SY11"),
    ("Ludlow", "SY8"),
    ("Market Drayton", "TF9"),
    ("Bridgnorth", "WV16"),
    ("Whitchurch", "SY13"),
]

# --- How often things happen -----------------------------------------------------------------------------


class Weighted:
    """A choice with weights, drawn quickly many times."""

    def __init__(self, weights: dict[Any, float]):
        self.values = list(weights)
        self.cumulative = list(accumulate(weights.values()))

    def pick(self, rng: random.Random) -> Any:
        return self.values[bisect(self.cumulative, rng.random() * self.cumulative[-1])]


# What kind of case arrives (the flow it starts): contacts, police domestic-abuse notifications, requests
# for information from other agencies.
KINDS = Weighted({"contact": 83, "da_notification": 14, "information_request": 3})
REQUEST_TYPES = Weighted({"concern": 88, "early_help": 8, "notification": 3, "pprc": 1})
HOW_RECEIVED = Weighted({"phone": 40, "marf": 60})
# Contacts by census referral source, roughly as England's Children in Need census reports referrals.
REFERRAL_SOURCES = Weighted(
    {
        "1A": 4,
        "1B": 2,
        "1C": 1,
        "1D": 2,
        "2A": 19,
        "2B": 2,
        "3A": 3,
        "3B": 3,
        "3C": 1,
        "3D": 2,
        "3E": 3,
        "3F": 4,
        "4": 3,
        "5A": 5,
        "5B": 3,
        "5C": 2,
        "5D": 3,
        "6": 25,
        "7": 2,
        "8": 6,
        "9": 3,
        "10": 2,
    }
)
CHILDREN = Weighted({1: 60, 2: 25, 3: 10, 4: 5})
PARENTS = Weighted({0: 5, 1: 55, 2: 40})
THRESHOLDS = Weighted({"below_early_help": 30, "early_help": 35, "s17": 22, "s47": 13})
OUTCOMES = {
    "below_early_help": Weighted(
        {"provision_of_information_advice": 60, "no_further_action": 30, "referral_to_other_agency": 10}
    ),
    "early_help": Weighted(
        {"referral_to_other_agency": 55, "provision_of_information_advice": 35, "no_further_action": 10}
    ),
    "s17": Weighted(
        {
            "progress_to_referral": 75,
            "provision_of_information_advice": 15,
            "link_to_existing_referral": 5,
            "no_further_action": 5,
        }
    ),
    "s47": Weighted({"progress_to_referral": 90, "link_to_existing_referral": 10}),
}
NOTIFICATION_OUTCOMES = Weighted(
    {"private_fostering_assessment": 40, "ola_lac": 25, "ola_cp_notification": 20, "non_agency_adoption": 15}
)
REFERRAL_OUTCOMES = {
    "s17": Weighted({"assessment": 60, "early_help": 15, "services": 10, "no_further_action": 15}),
    "s47": Weighted({"strategy_discussion": 80, "assessment": 20}),
}
STRATEGY_DECISIONS = Weighted(
    {"s47_and_police": 35, "s47": 35, "police": 5, "s17_assessment": 15, "early_help": 4, "no_further_action": 6}
)
MAT_OUTCOMES = Weighted({"no_action": 40, "strategy_discussion": 20, "further_checks": 40})
DA_LEVELS = Weighted({1: 35, 2: 30, 3: 25, 4: 10})
DASH_RISK = {1: "standard", 2: "standard", 3: "medium", 4: "high"}
LADO_OUTCOMES = Weighted({"substantiated": 30, "unsubstantiated": 30, "unfounded": 20, "false": 15, "malicious": 5})
INFO_AGENCIES = Weighted({"cafcass": 45, "probation": 20, "fostering": 15, "other_la": 15, "police": 5})
INFO_GROUNDS = Weighted({"court_order": 40, "safeguarding": 30, "consent": 20, "legal_obligation": 10})
INFO_DECISIONS = Weighted({"disclose_all": 55, "disclose_part": 30, "refuse": 15})

# Of contacts: the share also handed to Multi Agency Triage and the LADO; of referrals, those re-referred.
MAT_SHARE, LADO_SHARE, RE_REFERRAL, VOIDED, RESTRICTED = 0.04, 0.012, 0.22, 0.01, 0.004
CLAIMED = 0.3  # of open tasks, those a named person has picked up


@dataclass
class Report:
    cases: int = 0  # written in bulk
    template_cases: int = 0  # taken through the services to make the templates
    template_case_ids: list[int] = field(default_factory=list)
    open_cases: int = 0
    open_tasks: int = 0
    rows: Counter[str] = field(default_factory=Counter)
    instances: Counter[str] = field(default_factory=Counter)  # by flow
    open_by_step: Counter[str] = field(default_factory=Counter)  # "flow/bpmn_id"
    closed_only: list[str] = field(default_factory=list)  # flows with no open template
    first_created: datetime | None = None
    last_created: datetime | None = None
    seconds: float = 0.0

    def lines(self) -> list[str]:
        out = [
            f"demo data: {self.cases} cases in bulk ({self.open_cases} with open work, {self.open_tasks} open tasks)"
            f" and {self.template_cases} template cases through the services, in {self.seconds:.1f} s",
        ]
        if self.first_created and self.last_created:
            out.append(f"contacts from {self.first_created:%d %b %Y} to {self.last_created:%d %b %Y}")
        out.append("rows: " + ", ".join(f"{t} {n}" for t, n in sorted(self.rows.items())))
        out.append("instances by flow: " + ", ".join(f"{f} {n}" for f, n in sorted(self.instances.items())))
        if self.open_by_step:
            out.append("open tasks by step: " + ", ".join(f"{s} {n}" for s, n in sorted(self.open_by_step.items())))
        if self.closed_only:
            out.append("closed history only (no open template reached): " + ", ".join(self.closed_only))
        return out


# --- Templates of open work ------------------------------------------------------------------------------

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
DUE = r'(?<="compass_due":")[^"]+'


@dataclass
class Compiled:
    """A text cut where a copy says something of its own: task UUIDs, names, references, due times."""

    parts: list[str]
    slots: list[str]  # the matched text at each cut; the filler decides what it becomes

    def fill(self, replace: Callable[[str], str]) -> str:
        out = [self.parts[0]]
        for slot, part in zip(self.slots, self.parts[1:], strict=True):
            out.append(replace(slot))
            out.append(part)
        return "".join(out)


@dataclass
class Template:
    """Everything one real case held at one moment of its flows, to copy."""

    key: tuple[tuple[str, tuple[str, ...]], ...]  # each running flow with its ready task ids
    rows: dict[str, list[dict[str, Any]]]
    states: dict[int, Compiled]  # by process instance id
    pattern: re.Pattern[str]
    swaps: dict[str, str]  # template text -> what it stands for ("name:<person id>", "first:<id>", ...)
    created_at: datetime
    tasks: int

    @property
    def steps(self) -> list[str]:
        return [f"{flow}/{bpmn}" for flow, ready in self.key for bpmn in ready]


def _run_scenario_steps(scenario: dict[str, Any], on_step: Callable[[int], None]) -> int:
    """Take a scenario through the services as far as it goes without moving the clock, calling `on_step`
    with the case id after the contact is recorded and after each step. Returns the case id."""
    start_with = scenario.get("start_with", "contact")
    module, _, name = scenarios.STARTERS[start_with].partition(":")
    starter = getattr(importlib.import_module(module), name)
    case = starter(scenarios.demo_user(scenario.get("start_as", "fpoc")), scenario["start"])
    on_step(case.id)
    for step in scenario.get("steps", []):
        if "advance" in step:
            break
        if "task" not in step:
            continue
        query = select(Task).where(Task.case_id == case.id, Task.bpmn_id == step["task"])
        if "subject" in step:
            query = query.where(Task.subject == step["subject"])
        task = db.session.scalars(query.order_by(Task.created_at)).first()
        if task is None:
            break
        workflow.complete_task(scenarios.demo_user(step["as"]), task.id, step.get("data", {}))
        on_step(case.id)
    return int(case.id)


def _case_rows(case_id: int) -> dict[str, list[dict[str, Any]]]:
    tables = db.metadata.tables
    rows: dict[str, list[dict[str, Any]]] = {}
    for name in CLONED_TABLES:
        if name in ("case_record", "person"):
            continue
        table = tables[name]
        rows[name] = [dict(r._mapping) for r in db.session.execute(select(table).where(table.c.case_id == case_id))]
    case_table = tables["case_record"]
    rows["case_record"] = [
        dict(r._mapping) for r in db.session.execute(select(case_table).where(case_table.c.id == case_id))
    ]
    person_ids = {r["person_id"] for r in rows["case_person"]}
    person_ids |= {r["person_id"] for r in rows["person_relationship"]} | {
        r["child_id"] for r in rows["person_relationship"]
    }
    person = tables["person"]
    rows["person"] = [dict(r._mapping) for r in db.session.execute(select(person).where(person.c.id.in_(person_ids)))]
    return rows


def _swaps(rows: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """The strings a copy says differently: each person's name (and a child's or parent's first name, as the
    free text of a concern uses it), a child's date of birth, the case reference, a police reference."""
    found: dict[str, str] = {}
    names = {p["id"]: p["name"] for p in rows["person"]}
    roles = {cp["person_id"]: cp["role"] for cp in rows["case_person"]}
    for person_id, name in names.items():
        if roles.get(person_id) == "referrer" or not name.strip():
            continue  # the referrer is a professional whose own name the copies keep
        found[name] = f"name:{person_id}"
    for person_id, name in names.items():
        first = name.split()[0] if name.split() else ""
        if roles.get(person_id) in ("child", "parent", "subject") and len(first) >= 3 and first not in found:
            found[first] = f"first:{person_id}"
    for p in rows["person"]:
        if p["date_of_birth"] is not None and roles.get(p["id"]) in ("child", "subject"):
            found.setdefault(p["date_of_birth"].isoformat(), f"dob:{p['id']}")
    found[rows["case_record"][0]["reference"]] = "reference"
    for row in rows["da_notification"]:
        found[row["police_reference"]] = "police_reference"
    return found


def _pattern(swaps: dict[str, str]) -> re.Pattern[str]:
    words = sorted(swaps, key=len, reverse=True)
    alternatives = [UUID, DUE] + [rf"(?<![\w-]){re.escape(w)}(?![\w-])" for w in words]
    return re.compile("|".join(f"(?:{a})" for a in alternatives))


def _compile(text_: str, pattern: re.Pattern[str]) -> Compiled:
    parts, slots, last = [], [], 0
    for match in pattern.finditer(text_):
        parts.append(text_[last : match.start()])
        slots.append(match.group(0))
        last = match.end()
    parts.append(text_[last:])
    return Compiled(parts, slots)


# The templates made in this process, by database: a second run on the same database copies them again
# rather than walking the scenarios anew, as long as the template cases are still there as they were.
_made: dict[
    tuple[Any, ...], tuple[list[Template], dict[str, tuple[str, int, int]], list[tuple[int, str, datetime]]]
] = {}


def templates(
    walk: list[tuple[str, str]] | None = None,
) -> tuple[list[Template], dict[str, tuple[str, int, int]], list[int]]:
    """The templates of open work and the finished states (see `harvest`), and how many cases were made for
    them now (none when this process made them earlier for the same database)."""
    walk = walk or TEMPLATE_SCENARIOS
    url = (db.engine.url.render_as_string(hide_password=True), *walk)
    found = _made.get(url)
    if found is not None and all(
        db.session.scalar(select(Case.created_at).where(Case.id == case_id, Case.reference == reference)) == at
        for case_id, reference, at in found[2]
    ):
        return found[0], found[1], []
    made, finished, case_ids = harvest(walk)
    marks = {(t.rows["case_record"][0]["id"], t.rows["case_record"][0]["reference"], t.created_at) for t in made}
    _made[url] = (made, finished, sorted(marks))
    return made, finished, case_ids


def harvest(walk: list[tuple[str, str]]) -> tuple[list[Template], dict[str, tuple[str, int, int]], list[int]]:
    """Walk the scenarios `walk` (flow, file name) through the services. Returns the templates of open work
    (one per distinct set of ready tasks), a finished state for each flow (text, tree depth, bundle id: the
    smallest seen), and the cases it made."""
    templates: dict[tuple[Any, ...], Template] = {}
    finished: dict[str, tuple[str, int, int]] = {}
    made: list[int] = []

    def snapshot(case_id: int) -> None:
        db.session.expire_all()
        instances = db.session.scalars(select(ProcessInstance).where(ProcessInstance.case_id == case_id)).all()
        for instance in instances:
            if instance.status == "completed":
                kept = finished.get(instance.flow)
                if kept is None or len(instance.state) < len(kept[0]):
                    finished[instance.flow] = (instance.state, instance.tree_depth, instance.bundle_id)
        ready = defaultdict(list)
        for task in db.session.scalars(select(Task).where(Task.case_id == case_id)):
            ready[task.instance_id].append(task.bpmn_id)
        if not ready:
            return
        flows = {i.id: i.flow for i in instances}
        key = tuple(sorted((flows[i], tuple(sorted(ids))) for i, ids in ready.items()))
        if key in templates:
            return
        rows = _case_rows(case_id)
        swaps = _swaps(rows)
        pattern = _pattern(swaps)
        templates[key] = Template(
            key=key,
            rows=rows,
            states={r["id"]: _compile(r["state"], pattern) for r in rows["process_instance"]},
            pattern=pattern,
            swaps=swaps,
            created_at=rows["case_record"][0]["created_at"],
            tasks=len(rows["task"]),
        )

    for flow, stem in walk:
        path = bundles.PROCESSES_DIR / flow / "scenarios" / f"{stem}.json"
        if not path.exists():
            continue
        made.append(_run_scenario_steps(json.loads(path.read_text(encoding="utf-8")), snapshot))
    return list(templates.values()), finished, made


# --- Writing in bulk ------------------------------------------------------------------------------------


class Writer:
    """Rows gathered per table and written in chunks with multi-row inserts, parents before children."""

    def __init__(self, report: Report):
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.report = report
        self.order = [t.name for t in db.metadata.sorted_tables]

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.rows[table].append(row)

    def flush(self) -> None:
        if not self.rows:
            return
        with db.engine.begin() as connection:
            postgresql = connection.dialect.name == "postgresql"
            if postgresql and _has_lz4(connection):
                # Saved states are tens of kilobytes each: PostgreSQL's default compression (pglz) of them is most
                # of the time at scale, lz4 a fifth of it. Only how this run's values are stored; any server with
                # lz4 reads them as any other.
                connection.exec_driver_sql("SET LOCAL default_toast_compression = 'lz4'")
            for name in self.order:
                batch = self.rows.get(name)
                if not batch:
                    continue
                table: Table = db.metadata.tables[name]
                if name == "process_instance" and postgresql:
                    # Finished instances share a few states: each is sent once a chunk, not once a row.
                    shared: dict[str, list[dict[str, Any]]] = defaultdict(list)
                    for row in batch:
                        if row["status"] != "running":
                            shared[row["state"]].append(row)
                    for state, rows in shared.items():
                        _insert_sharing_state(connection, rows, state)
                    rest = [row for row in batch if row["status"] == "running"]
                else:
                    rest = batch
                # One write per set of keys: every row of a COPY or an executemany gives the same columns.
                by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
                for row in rest:
                    by_keys[tuple(row)].append(row)
                for keys, same in by_keys.items():
                    if postgresql:
                        _copy(connection, table, keys, same)
                    else:
                        for start in range(0, len(same), 2_000):
                            connection.execute(insert(table), same[start : start + 2_000])
                self.report.rows[name] += len(batch)
        self.rows.clear()


_lz4: dict[str, bool] = {}


def _has_lz4(connection: Any) -> bool:
    url = str(connection.engine.url)
    if url not in _lz4:
        values = connection.exec_driver_sql(
            "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
        ).scalar()
        _lz4[url] = bool(values) and "lz4" in values
    return _lz4[url]


SHARED_COLUMNS = (
    *("id", "case_id", "bundle_id", "flow", "status", "version", "tree_depth"),
    *("started_at", "updated_at", "completed_at"),
)
SHARED_TYPES = ("int", "int", "int", "text", "text", "int", "int", "timestamptz", "timestamptz", "timestamptz")


def _insert_sharing_state(connection: Any, rows: list[dict[str, Any]], state: str) -> None:
    """Finished instances that all keep one state: one statement, the state sent once, the rest as arrays."""
    columns = ", ".join(SHARED_COLUMNS)
    arrays = ", ".join(f"%s::{kind}[]" for kind in SHARED_TYPES)
    connection.exec_driver_sql(
        f"INSERT INTO process_instance ({columns}, state) "  # noqa: S608 (our own column names)
        f"SELECT *, %s FROM unnest({arrays})",
        (state, *([row[c] for row in rows] for c in SHARED_COLUMNS)),
    )


def _copy(connection: Any, table: Table, keys: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    """PostgreSQL's COPY: many times faster than inserts for rows by the hundred thousand. Values are given
    as the column types would bind them (JSON as its text, moments in UTC)."""
    convert: list[Callable[[Any], Any] | None] = []
    for key in keys:
        kind = table.c[key].type
        if isinstance(kind, JSON):
            convert.append(lambda v: None if v is None else json.dumps(v))
        elif isinstance(kind, UTCDateTime):
            convert.append(lambda v: None if v is None else v.astimezone(UTC))
        else:
            convert.append(None)
    columns = ", ".join(f'"{k}"' for k in keys)
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table.name} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[k] if c is None else c(row[k]) for k, c in zip(keys, convert, strict=True)])


class Ids:
    """The next free id of each table, handed out by the generator so rows can point at each other before
    they are written."""

    def __init__(self) -> None:
        self.next: dict[str, int] = {}
        for name in ID_TABLES:
            table = db.metadata.tables[name]
            self.next[name] = (db.session.scalar(select(func.max(table.c.id))) or 0) + 1

    def take(self, table: str) -> int:
        value = self.next[table]
        self.next[table] = value + 1
        return value


def _catch_up_sequences() -> None:
    """PostgreSQL hands out ids from a sequence that knows nothing of ids given here: move each past them."""
    if db.engine.dialect.name != "postgresql":
        return
    with db.engine.begin() as connection:
        for name in ID_TABLES:
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "  # noqa: S608 (our own table names)
                    f"GREATEST((SELECT COALESCE(MAX(id), 0) FROM {name}), 1))"
                )
            )


# --- Made-up moments ------------------------------------------------------------------------------------


def _moments(count: int, first_day: date, last_day: date, rng: random.Random) -> list[datetime]:
    """`count` moments between two days, shaped like a front door's week: mostly weekdays in office hours
    (a peak mid-morning), a few at night and at weekends. Sorted, so ids rise with time as they would."""
    days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
    weights = Weighted({d: (1.0 if d.weekday() < 5 else 0.08) for d in days})
    found = []
    for _ in range(count):
        day = weights.pick(rng)
        # Nine in ten in office hours, busiest mid-morning; the rest at any hour (the police, hospitals).
        office = rng.random() < 0.9
        minutes = int(rng.triangular(8.5 * 60, 17.5 * 60, 10.5 * 60)) if office else rng.randrange(24 * 60)
        local = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, rng.randrange(60), tzinfo=LONDON)
        found.append(local.astimezone(UTC))
    found.sort()
    return found


def _working_day_after(moment: datetime) -> datetime:
    """About one working day on (a Friday's work is due on Monday): the shape of a one-working-day clock."""
    due = moment + timedelta(days=1)
    while due.astimezone(LONDON).weekday() >= 5:
        due += timedelta(days=1)
    return due


# --- Closed history -------------------------------------------------------------------------------------


class History:
    """Writes the closed history, one case at a time into the writer."""

    def __init__(self, writer: Writer, ids: Ids, rng: random.Random, context: dict[str, Any]):
        self.w, self.ids, self.rng = writer, ids, rng
        self.users: dict[str, int] = context["users"]
        self.finished: dict[str, tuple[str, int, int]] = context["finished"]
        self.taken: set[str] = context["references"]
        self.report: Report = context["report"]

    # People

    def _person(self, name: str, created: datetime, dob: date | None = None, child: bool = False) -> int:
        person_id = self.ids.take("person")
        town, area = self.rng.choice(TOWNS)
        letters = "ABDEFGHJLNPQRSTUWXYZ"
        postcode = f"{area} {self.rng.randrange(1, 10)}{self.rng.choice(letters)}{self.rng.choice(letters)}"
        self.w.add(
            "person",
            {
                "id": person_id,
                "name": name,
                "name_key": people.name_key(name),
                "date_of_birth": dob,
                "address": f"{self.rng.randrange(1, 120)} {self.rng.choice(STREETS)}, {town}",
                "postcode": postcode,
                "created_at": created,
                "merged_into_id": None,
            },
        )
        if child:
            for n, part in enumerate(people.name_parts(name)):
                self.w.add(
                    "person_name_part",
                    {
                        "id": self.ids.take("person_name_part"),
                        "person_id": person_id,
                        "position": n,
                        "part": part[:80],
                        "sound": people.name_sound(part),
                    },
                )
        return person_id

    def _case_person(self, case_id: int, person_id: int, key: str, role: str, **extra: Any) -> int:
        row_id = self.ids.take("case_person")
        row = {
            "id": row_id,
            "case_id": case_id,
            "person_id": person_id,
            "key": key,
            "role": role,
            "details": extra.pop("details", {}),
            "threshold": None,
            "outcome": None,
            "handover": None,
            "decided_at": None,
        }
        row.update(extra)
        self.w.add("case_person", row)
        return row_id

    def _child_name(self, surname: str) -> tuple[str, str]:
        sex = self.rng.choice(("female", "male"))
        first = self.rng.choice(GIRLS if sex == "female" else BOYS)
        return f"{first} {surname}", sex

    def _dob(self, created: datetime) -> date:
        age_days = int(self.rng.triangular(0, 17.9 * 365, 6 * 365))
        return created.date() - timedelta(days=age_days)

    def _instance(self, case_id: int, flow: str, started: datetime, ended: datetime, status: str = "completed") -> int:
        state, depth, bundle_id = self.finished[flow]
        instance_id = self.ids.take("process_instance")
        self.w.add(
            "process_instance",
            {
                "id": instance_id,
                "case_id": case_id,
                "bundle_id": bundle_id,
                "flow": flow,
                "status": status,
                "state": state,
                "version": 1,
                "tree_depth": depth,
                "next_wake_at": None,
                "failure": None,
                "started_at": started,
                "updated_at": ended,
                "completed_at": ended if status == "completed" else None,
            },
        )
        self.report.instances[flow] += 1
        return instance_id

    def _clock(
        self,
        case_id: int,
        instance_id: int,
        flow: str,
        bpmn_id: str,
        name: str,
        lane: str,
        subject: str,
        started: datetime,
        met: datetime,
    ) -> None:
        due = _working_day_after(started)
        self.w.add(
            "task_clock",
            {
                "id": self.ids.take("task_clock"),
                "task_id": str(uuid.uuid4()),
                "case_id": case_id,
                "instance_id": instance_id,
                "flow": flow,
                "bpmn_id": bpmn_id,
                "name": name,
                "subject": subject[:200],
                "lane": lane,
                "started_at": started,
                "due_at": due,
                "met_at": met,
                "stopped_at": None,
                "missed_at": due if met > due else None,
            },
        )

    def _hours(self, low: float, high: float, mode: float) -> timedelta:
        return timedelta(hours=self.rng.triangular(low, high, mode))

    def _case(self, case_id: int, created: datetime, **fields: Any) -> dict[str, Any]:
        reference = f"CT-{case_id:06d}"
        if reference in self.taken:
            reference = f"CT-{case_id:06d}-D"
        row = {
            "id": case_id,
            "reference": reference,
            "status": "closed",
            "source": "phone",
            "referral_source": None,
            "request_type": "concern",
            "disabled_childrens_team": False,
            "concern": "",
            "immediate_protection": False,
            "consent": None,
            "created_at": created,
            "created_by_id": self.users["fpoc"],
            "closed_at": None,
            "marf_expected": False,
            "marf_received_at": None,
            "voided_at": None,
            "voided_by_id": None,
            "void_reason": None,
            "reopened_from_id": None,
            "restricted": self.rng.random() < RESTRICTED,
        }
        row.update(fields)
        return row

    def case(self, created: datetime) -> None:
        kind = KINDS.pick(self.rng)
        if kind == "da_notification":
            self.da_notification(created)
        elif kind == "information_request":
            self.information_request(created)
        else:
            self.contact(created)

    def _family(
        self, case_id: int, created: datetime, children: int, parents: int
    ) -> tuple[list[tuple[int, int, str]], list[int]]:
        """Children (case person id, person id, name) and parents' person ids of one family."""
        surname = self.rng.choice(SURNAMES)
        kids = []
        for n in range(1, children + 1):
            name, sex = self._child_name(surname)
            person_id = self._person(name, created, self._dob(created), child=True)
            cp = self._case_person(case_id, person_id, f"child-{n}", "child", details={"sex": sex})
            kids.append((cp, person_id, name))
        adults = []
        for n in range(1, parents + 1):
            person_id = self._person(f"{self.rng.choice(ADULTS)} {surname}", created)
            relationship = "Mother" if n == 1 else "Father"
            self._case_person(
                case_id,
                person_id,
                f"parent-{n}",
                "parent",
                details={"relationship": relationship, "parental_responsibility": True, "safe_to_write": True},
            )
            adults.append(person_id)
            for _cp, child_person, _name in kids:
                self.w.add(
                    "person_relationship",
                    {
                        "id": self.ids.take("person_relationship"),
                        "person_id": person_id,
                        "child_id": child_person,
                        "described_as": relationship,
                        "role": "parent",
                        "case_id": case_id,
                        "created_at": created,
                    },
                )
        return kids, adults

    def contact(self, created: datetime) -> None:
        rng = self.rng
        case_id = self.ids.take("case_record")
        request_type = REQUEST_TYPES.pick(rng)
        source = HOW_RECEIVED.pick(rng)
        referral_source = REFERRAL_SOURCES.pick(rng)
        kids, _adults = self._family(case_id, created, CHILDREN.pick(rng), PARENTS.pick(rng))
        referrer = self._person(f"{rng.choice(ADULTS)} {rng.choice(SURNAMES)}", created)
        self._case_person(case_id, referrer, "referrer", "referrer", details={"kind": "professional"})
        contact_instance = self._instance(case_id, "initial_contact", created, created)  # ended set below
        voided = rng.random() < VOIDED
        family_threshold = THRESHOLDS.pick(rng)
        ended = created
        ssw = self.users["ssw"]
        for child_cp, child_person, child_name in kids:
            threshold = family_threshold if rng.random() < 0.85 else THRESHOLDS.pick(rng)
            if request_type == "early_help":
                threshold = "early_help"
            decided = created + self._hours(0.3, 40, 3)
            if request_type == "notification":
                outcome = NOTIFICATION_OUTCOMES.pick(rng)
            else:
                outcome = OUTCOMES[threshold].pick(rng)
            if voided:
                continue
            self._update_child(child_cp, threshold, outcome, decided)
            self._clock(
                case_id,
                contact_instance,
                "initial_contact",
                "ssw_decision",
                "Decide threshold and outcome",
                "ssw",
                child_name,
                created + timedelta(minutes=20),
                decided,
            )
            ended = max(ended, decided)
            if outcome == "progress_to_referral":
                ended = max(
                    ended,
                    self._referral(case_id, child_cp, child_person, child_name, threshold, decided, contact_instance),
                )
        if not voided and rng.random() < MAT_SHARE:
            ended = max(ended, self._mat(case_id, kids[0][0], ended))
        if not voided and rng.random() < LADO_SHARE:
            ended = max(ended, self._lado(case_id, ended))
        fields: dict[str, Any] = {
            "source": source,
            "referral_source": referral_source if source == "marf" or rng.random() < 0.8 else "10",
            "request_type": request_type,
            "concern": "Concerns about the children's care at home, as the referrer described them.",
            "consent": rng.choice(("given", "given", "refused", "not_obtained")),
            "immediate_protection": family_threshold == "s47" and rng.random() < 0.4,
            "created_by_id": self.users["fpoc" if source == "phone" else "coordinator"],
            "closed_at": ended,
        }
        if voided:
            fields.update(
                status="voided",
                closed_at=None,
                voided_at=created + timedelta(hours=2),
                voided_by_id=ssw,
                void_reason="Recorded in error: the same call was recorded twice.",
            )
        self.w.add("case_record", self._case(case_id, created, **fields))
        self._end_instance(contact_instance, ended, "cancelled" if voided else "completed")

    def _end_instance(self, instance_id: int, ended: datetime, status: str) -> None:
        for row in reversed(self.w.rows["process_instance"]):
            if row["id"] == instance_id:
                row["updated_at"] = ended
                row["status"] = status
                row["completed_at"] = ended if status == "completed" else None
                return

    def _update_child(self, case_person_id: int, threshold: str | None, outcome: str | None, decided: datetime) -> None:
        for row in reversed(self.w.rows["case_person"]):
            if row["id"] == case_person_id:
                row.update(threshold=threshold, outcome=outcome, decided_at=decided)
                return

    def _referral(
        self,
        case_id: int,
        child_cp: int,
        child_person: int,
        child_name: str,
        threshold: str,
        decided: datetime,
        contact_instance: int,
    ) -> datetime:
        rng = self.rng
        accepted = decided + self._hours(0, 3, 0.2)
        acknowledged = accepted + self._hours(0.2, 40, 3)
        outcome_at = accepted + self._hours(4, 24 * 6, 30)
        re_referral = rng.random() < RE_REFERRAL
        outcome = REFERRAL_OUTCOMES[threshold].pick(rng)
        previous = (accepted - timedelta(days=rng.randrange(20, 365))).date() if re_referral else None
        self.w.add(
            "referral",
            {
                "id": self.ids.take("referral"),
                "case_id": case_id,
                "child_id": child_cp,
                "person_id": child_person,
                "threshold": threshold,
                "route": "strategy_discussion" if threshold == "s47" else "consent_given",
                "created_at": decided,
                "accepted_at": accepted,
                "waiting_for": None,
                "re_referral": re_referral,
                "previous_referral_on": previous,
                "acknowledged_at": acknowledged,
                "outcome": outcome,
                "outcome_rationale": "Decided on the information gathered from the partner agencies.",
                "next_steps": None,
                "outcome_at": outcome_at,
            },
        )
        self._clock(
            case_id,
            contact_instance,
            "initial_contact",
            "acknowledge_referral",
            "Acknowledge the referral",
            "coordinator",
            child_name,
            accepted,
            acknowledged,
        )
        ended = outcome_at
        if threshold == "s47":
            ended = max(ended, self._strategy(case_id, child_cp, child_name, accepted))
        return ended

    def _strategy(self, case_id: int, child_cp: int, child_name: str, arranged: datetime) -> datetime:
        rng = self.rng
        held = arranged + self._hours(1, 60, 8)
        instance = self._instance(case_id, "strategy_discussion", arranged, held)
        decision = STRATEGY_DECISIONS.pick(rng)
        s47 = decision in ("s47_and_police", "s47")
        held_day = held.astimezone(LONDON).date()
        self.w.add(
            "strategy_discussion",
            {
                "id": self.ids.take("strategy_discussion"),
                "case_id": case_id,
                "instance_id": instance,
                "child_id": child_cp,
                "arranged_at": arranged,
                "arranged_by_id": self.users["ssw"],
                "meeting_on": held_day,
                "meeting_time": held.astimezone(LONDON).strftime("%H:%M"),
                "meeting_place": "Compass hub",
                "chair": rng.choice(("ssw", "ssw", "team_manager")),
                "chair_name": "",
                "missing_or_exploitation": rng.random() < 0.1,
                "invitees": [{"agency": "police"}, {"agency": "health"}],
                "held_at": held,
                "how_held": rng.choice(("in_person", "phone", "phone", "written")),
                "attendees": [{"agency": "police"}, {"agency": "health"}],
                "contributions": [],
                "decision": decision,
                "s47": s47,
                "police_investigation": decision in ("s47_and_police", "police"),
                "plan": {},
                "agreed_actions": "Actions agreed at the discussion.",
                "rationale_social_care": "The threshold for significant harm is met." if s47 else "Not met.",
                "rationale_police": "As agreed.",
                "s47_started_at": held if s47 else None,
                "icpc_due_on": held_day + timedelta(days=21) if s47 else None,
                "recorded_by_id": self.users["ssw"],
            },
        )
        self._clock(
            case_id,
            instance,
            "strategy_discussion",
            "record_meeting",
            "Record the strategy discussion",
            "ssw",
            child_name,
            arranged,
            held + self._hours(0.5, 30, 2),
        )
        return held

    def _mat(self, case_id: int, child_cp: int, after: datetime) -> datetime:
        decided = after + self._hours(2, 30, 20)
        instance = self._instance(case_id, "mat", after, decided)
        outcome = MAT_OUTCOMES.pick(self.rng)
        further = outcome == "further_checks"
        self.w.add(
            "mat_decision",
            {
                "id": self.ids.take("mat_decision"),
                "case_id": case_id,
                "instance_id": instance,
                "child_id": child_cp,
                "meeting_at": decided,
                "outcome": outcome,
                "rationale": "Agreed at the daily meeting.",
                "consent_override_reason": "Checks with the school are needed to judge the risk." if further else None,
                "decided_at": decided,
                "decided_by_id": self.users["ssw"],
                "final_outcome": "no_further_action" if further else None,
                "final_rationale": "Nothing of concern found." if further else None,
                "final_decided_at": decided + timedelta(days=1) if further else None,
                "final_decided_by_id": self.users["ssw"] if further else None,
            },
        )
        return decided + (timedelta(days=1) if further else timedelta())

    def _lado(self, case_id: int, after: datetime) -> datetime:
        rng = self.rng
        considered = after + self._hours(1, 40, 6)
        closed = considered + timedelta(days=rng.randrange(5, 90))
        instance = self._instance(case_id, "lado", after, closed)
        due = _working_day_after(after)
        self.w.add(
            "lado_allegation",
            {
                "id": self.ids.take("lado_allegation"),
                "case_id": case_id,
                "instance_id": instance,
                "subject_name": f"{rng.choice(ADULTS)} {rng.choice(SURNAMES)}",
                "subject_role": rng.choice(("Teacher", "Football coach", "Nursery worker", "Foster carer")),
                "subject_employer": "A local employer",
                "subject_date_of_birth": None,
                "employer_contact_name": None,
                "employer_contact_email": None,
                "opened_at": after,
                "consideration_due_at": due,
                "considered_at": considered,
                "considered_in_time": considered <= due,
                "harm_criteria": ["harmed"],
                "initial_decision": "meeting",
                "initial_rationale": "The harm test is met.",
                "meetings": [],
                "actions": [],
                "regulator": None,
                "outcome": LADO_OUTCOMES.pick(rng),
                "outcome_rationale": "As the meeting concluded.",
                "dbs_referred_at": None,
                "closed_at": closed,
                "retain_until": None,
            },
        )
        return closed

    def da_notification(self, created: datetime) -> None:
        rng = self.rng
        case_id = self.ids.take("case_record")
        kids, _adults = self._family(case_id, created, CHILDREN.pick(rng), 1)
        perpetrator = self._person(f"{rng.choice(ADULTS)} {rng.choice(SURNAMES)}", created)
        self._case_person(case_id, perpetrator, "alleged-perpetrator", "alleged_perpetrator")
        level = DA_LEVELS.pick(rng)
        decided = created + self._hours(2, 30, 20)
        instance = self._instance(case_id, "da_triage", created, decided)
        ended = decided
        for child_cp, child_person, child_name in kids:
            if level == 4:
                threshold = "s47" if rng.random() < 0.35 else "s17"
                self._update_child(child_cp, threshold, "progress_to_referral", decided)
                ended = max(
                    ended, self._referral(case_id, child_cp, child_person, child_name, threshold, decided, instance)
                )
            else:
                outcome = "no_further_action" if level == 1 else "provision_of_information_advice"
                self._update_child(child_cp, "early_help" if level == 3 else "below_early_help", outcome, decided)
        self.w.add(
            "da_notification",
            {
                "id": self.ids.take("da_notification"),
                "case_id": case_id,
                "police_reference": f"DA/{created.year}/G{case_id:07d}",
                "received_via": rng.choice(("api", "api", "csv", "hand")),
                "incident_at": created - self._hours(2, 48, 10),
                "dash_risk": DASH_RISK[level],
                "dash_yes_count": {1: 3, 2: 6, 3: 10, 4: 15}[level] + rng.randrange(0, 3),
                "marac": level == 4,
                "repeat": rng.random() < 0.3,
                "summary": "Police attended a domestic incident at the family home.",
                "victim_name": "",
                "victim_address": None,
                "victim_safe_to_write": rng.random() < 0.7,
                "perpetrator_name": None,
                "children": [{"key": f"child-{n}"} for n in range(1, len(kids) + 1)],
                "received_at": created,
                "received_by_id": self.users["coordinator"],
                "payload_hash": uuid.uuid4().hex + uuid.uuid4().hex,
            },
        )
        self.w.add(
            "da_triage_decision",
            {
                "id": self.ids.take("da_triage_decision"),
                "case_id": case_id,
                "instance_id": instance,
                "level": level,
                "dash_risk": DASH_RISK[level],
                "risk_factors": [],
                "protective_factors": [],
                "threshold": "s47" if level == 4 and rng.random() < 0.35 else ("s17" if level == 4 else None),
                "rationale": "Agreed at the daily triage.",
                "decided_at": decided,
                "decided_by_id": self.users["ssw"],
            },
        )
        self.w.add(
            "case_record",
            self._case(
                case_id,
                created,
                source="police",
                referral_source="6",
                request_type="da_notification",
                concern="Police attended a domestic incident at the family home.",
                created_by_id=self.users["coordinator"],
                closed_at=ended,
            ),
        )

    def information_request(self, created: datetime) -> None:
        rng = self.rng
        case_id = self.ids.take("case_record")
        name, _sex = self._child_name(rng.choice(SURNAMES))
        dob = self._dob(created)
        person = self._person(name, created, dob, child=True)
        self._case_person(case_id, person, "subject-1", "subject", details={"date_of_birth": dob.isoformat()})
        decided = created + self._hours(4, 24 * 8, 30)
        self._instance(case_id, "information_request", created, decided)
        agency = INFO_AGENCIES.pick(rng)
        decision = INFO_DECISIONS.pick(rng)
        disclosed = decision != "refuse"
        self.w.add(
            "information_request",
            {
                "id": self.ids.take("information_request"),
                "case_id": case_id,
                "agency": agency,
                "agency_name": None,
                "requester_name": f"{rng.choice(ADULTS)} {rng.choice(SURNAMES)}",
                "requester_email": "requests@agency.example.org",
                "asked": "Any contacts or referrals in the last three years.",
                "why": "For the agency's own assessment.",
                "ground": INFO_GROUNDS.pick(rng),
                "received_at": created,
                "due_at": _working_day_after(created),
                "records_summary": "One earlier contact, closed with advice.",
                "checked_at": created + self._hours(1, 20, 4),
                "proportionate": disclosed,
                "decision": decision,
                "rationale": "Proportionate to the ground given." if disclosed else "Not proportionate.",
                "decided_at": decided,
                "decided_by_id": self.users["ssw"],
                "consent": None,
                "consent_recorded_at": None,
                "disclosed_text": "The records summary." if disclosed else None,
                "disclosed_at": decided if disclosed else None,
                "refusal_reason": None if disclosed else "The request was not proportionate.",
                "refused_at": None if disclosed else decided,
            },
        )
        self.w.add(
            "case_record",
            self._case(
                case_id,
                created,
                source="agency",
                request_type="information_request",
                concern="Request for information from another agency.",
                created_by_id=self.users["business_support"],
                closed_at=decided,
            ),
        )


# --- Open work: copies of the templates -----------------------------------------------------------------


class Copier:
    """Copies a template's rows with new ids, new task UUIDs, new names and moved times."""

    def __init__(self, writer: Writer, ids: Ids, rng: random.Random, context: dict[str, Any]):
        self.w, self.ids, self.rng = writer, ids, rng
        self.users: dict[str, int] = context["users"]
        self.user_teams: dict[int, str | None] = context["user_teams"]
        self.taken: set[str] = context["references"]
        self.report: Report = context["report"]
        self.foreign = {
            name: {
                c.name: next(iter(c.foreign_keys)).column.table.name
                for c in db.metadata.tables[name].columns
                if c.foreign_keys
            }
            for name in CLONED_TABLES
        }
        self.moments = {
            name: [c.name for c in db.metadata.tables[name].columns if isinstance(c.type, UTCDateTime)]
            for name in CLONED_TABLES
        }
        self.days = {
            name: [c.name for c in db.metadata.tables[name].columns if isinstance(c.type, Date)]
            for name in CLONED_TABLES
        }

    def copy(self, template: Template, created: datetime) -> int:
        rng = self.rng
        shift = created - template.created_at
        new_ids: dict[tuple[str, int], int] = {}
        uuids: dict[str, str] = {}
        case_id = self.ids.take("case_record")
        new_ids[("case_record", template.rows["case_record"][0]["id"])] = case_id
        # Who each copy's people are: a family with a surname of its own.
        surname = rng.choice(SURNAMES)
        words: dict[str, str] = {}
        dobs: dict[int, date] = {}
        for person in template.rows["person"]:
            new_ids[("person", person["id"])] = self.ids.take("person")
        roles = {cp["person_id"]: cp["role"] for cp in template.rows["case_person"]}
        for person in template.rows["person"]:
            role = roles.get(person["id"])
            if role == "referrer":
                continue
            if role in ("child", "subject"):
                first = rng.choice(GIRLS + BOYS)
                dobs[person["id"]] = created.date() - timedelta(days=int(rng.triangular(0, 17.9 * 365, 6 * 365)))
            else:
                first = rng.choice(ADULTS)
            last = surname if role in ("child", "parent", "subject", "household") else rng.choice(SURNAMES)
            words[f"name:{person['id']}"] = f"{first} {last}"
            words[f"first:{person['id']}"] = first
            words[f"dob:{person['id']}"] = dobs[person["id"]].isoformat() if person["id"] in dobs else ""
        reference = f"CT-{case_id:06d}"
        if reference in self.taken:
            reference = f"CT-{case_id:06d}-D"
        words["reference"] = reference
        words["police_reference"] = f"DA/{created.year}/G{case_id:07d}"

        def replace(found: str) -> str:
            meaning = template.swaps.get(found)
            if meaning is not None:
                value = words.get(meaning)
                return value if value else found
            if len(found) == 36 and found.count("-") == 4:
                if found not in uuids:
                    uuids[found] = str(uuid.uuid4())
                return uuids[found]
            try:  # a due time the engine fixed when the task became ready: moved with the case
                moment = datetime.fromisoformat(found)
            except ValueError:
                return found
            return (moment + shift).isoformat()

        def swap_text(value: Any) -> Any:
            if isinstance(value, str):
                return template.pattern.sub(lambda m: replace(m.group(0)), value)
            if isinstance(value, dict | list):
                dumped = json.dumps(value)
                swapped = template.pattern.sub(lambda m: replace(m.group(0)), dumped)
                return value if swapped == dumped else json.loads(swapped)
            return value

        for name in CLONED_TABLES:
            foreign, moments, days = self.foreign[name], self.moments[name], self.days[name]
            for source in template.rows[name]:
                row = dict(source)
                if name == "task":
                    row["id"] = replace(row["id"])
                elif name == "case_record":
                    row["id"] = case_id
                else:
                    new_id = self.ids.take(name)
                    new_ids[(name, source["id"])] = new_id
                    row["id"] = new_id
                for column, target in foreign.items():
                    if row[column] is not None and target in (
                        "case_record",
                        "person",
                        "case_person",
                        "process_instance",
                    ):
                        row[column] = new_ids.get((target, row[column]))
                for column in moments:
                    if row[column] is not None and not (name == "process_instance" and column == "next_wake_at"):
                        row[column] = row[column] + shift
                for column in days:
                    if row[column] is not None and column != "date_of_birth":
                        row[column] = row[column] + timedelta(days=shift.days)
                if name == "process_instance":
                    row["state"] = template.states[source["id"]].fill(replace)
                    self.report.instances[row["flow"]] += 1
                else:
                    for column, value in row.items():
                        if column != "id" and isinstance(value, str | dict | list):
                            row[column] = swap_text(value)
                if name == "person":
                    row["name"] = words.get(f"name:{source['id']}") or row["name"]
                    row["name_key"] = people.name_key(row["name"])
                    row["merged_into_id"] = None
                    if source["id"] in dobs:
                        row["date_of_birth"] = dobs[source["id"]]
                    if roles.get(source["id"]) in ("child", "subject"):
                        for n, part in enumerate(people.name_parts(row["name"])):
                            self.w.add(
                                "person_name_part",
                                {
                                    "id": self.ids.take("person_name_part"),
                                    "person_id": row["id"],
                                    "position": n,
                                    "part": part[:80],
                                    "sound": people.name_sound(part),
                                },
                            )
                if name == "case_record":
                    row.update(reference=reference, reopened_from_id=None, restricted=rng.random() < RESTRICTED)
                if name == "task":
                    self._maybe_claim(row, created)
                    self.report.open_by_step[f"{row['flow']}/{row['bpmn_id']}"] += 1
                if name == "da_notification":
                    row["payload_hash"] = uuid.uuid4().hex + uuid.uuid4().hex
                self.w.add(name, row)
        return template.tasks

    def _maybe_claim(self, row: dict[str, Any], created: datetime) -> None:
        if row["assignee_id"] is not None or self.rng.random() >= CLAIMED:
            return
        user_id = self.users.get(row["lane"])
        if user_id is None or self.user_teams.get(user_id) != row["team"]:
            return  # only someone of the task's lane and team may hold it
        row["assignee_id"] = user_id
        row["claimed_at"] = row["created_at"] + timedelta(minutes=self.rng.randrange(5, 240))


def _plan_open(templates: list[Template], wanted: int, rng: random.Random) -> list[Template]:
    """Which templates to copy so the copies hold exactly `wanted` open tasks, spread over every step."""
    if wanted <= 0 or not templates:
        return []
    chosen: list[Template] = []
    total = 0
    singles = [t for t in templates if t.tasks == 1]
    while total < wanted:
        left = wanted - total
        fitting = [t for t in templates if t.tasks <= left]
        pool = fitting if fitting else singles
        if not pool:
            break
        template = rng.choice(pool)
        chosen.append(template)
        total += template.tasks
    return chosen


# --- The whole run --------------------------------------------------------------------------------------


def generate(
    cases: int,
    open_tasks: int = 0,
    seed: int | None = None,
    years: float | None = None,
    progress: Callable[[str], None] | None = None,
    walk: list[tuple[str, str]] | None = None,
) -> Report:
    """Make `cases` cases in bulk, `open_tasks` of whose user tasks are open (with their cases), plus the
    template cases walked through the services (`walk`: which scenarios, all of TEMPLATE_SCENARIOS unless
    told; fewer are quicker, with fewer kinds of open task). Returns what was made."""
    began = time.perf_counter()
    say = progress or (lambda _line: None)
    report = Report()
    rng = random.Random(seed)
    bundles.import_shipped()
    users.seed_demo()
    say("walking the template scenarios through the services")
    made, finished, report.template_case_ids = templates(walk)
    report.template_cases = len(report.template_case_ids)
    report.closed_only = sorted(
        f
        for f in ("initial_contact", "mat", "da_triage", "strategy_discussion", "lado", "information_request")
        if not any(flow == f for t in made for flow, _ in t.key)
    )
    missing = {"initial_contact", "da_triage", "information_request", "strategy_discussion", "mat", "lado"} - set(
        finished
    )
    if missing:
        raise RuntimeError(f"no finished state of {sorted(missing)} was reached to copy for closed history")
    db.session.commit()

    demo = {u.username: u for u in db.session.scalars(select(User).where(User.username.like("demo.%")))}
    context: dict[str, Any] = {
        "users": {role: demo[f"demo.{role}"].id for role in ROLES if f"demo.{role}" in demo},
        "user_teams": {u.id: u.team_key for u in demo.values()},
        "finished": finished,
        "references": set(db.session.scalars(select(Case.reference).where(Case.reference.like("CT-%")))),
        "report": report,
    }
    ids = Ids()
    writer = Writer(report)
    history = History(writer, ids, rng, context)
    copier = Copier(writer, ids, rng, context)

    plan = _plan_open(made, open_tasks, rng)
    if len(plan) > cases:
        raise ValueError(f"{open_tasks} open tasks need about {len(plan)} open cases: ask for more cases")
    closed = cases - len(plan)
    today = utcnow().astimezone(LONDON).date()
    span_days = int((years * 365) if years else max(365, closed / PER_WORKING_DAY * 7 / 5))
    moments = _moments(closed, today - timedelta(days=span_days), today - timedelta(days=1), rng)
    if moments:
        report.first_created, report.last_created = moments[0], moments[-1]
    say(f"templates: {len(made)} from {report.template_cases} cases ({time.perf_counter() - began:.0f} s)")
    say(f"writing {closed} closed cases and {len(plan)} open ones")
    for n, moment in enumerate(moments, start=1):
        history.case(moment)
        if n % CHUNK == 0:
            writer.flush()
            say(f"{n} closed cases written ({time.perf_counter() - began:.0f} s)")
    writer.flush()
    now = utcnow()
    for n, template in enumerate(plan, start=1):
        # Open work: half of it arrived in the last few days; the rest is the backlog, waiting weeks or months
        # (strategy discussions, LADO allegations, requests waiting for consent), so a quarter's contacts are
        # not crowded into its last weeks.
        days = rng.expovariate(1 / 3) if rng.random() < 0.5 else rng.expovariate(1 / 60)
        created = now - timedelta(days=min(days, 365))
        report.open_tasks += copier.copy(template, created)
        if n % CHUNK == 0:
            writer.flush()
    writer.flush()
    say(f"open cases written ({time.perf_counter() - began:.0f} s)")
    report.open_cases = len(plan)
    report.cases = closed + len(plan)
    _catch_up_sequences()
    figures_days.forget_all()  # the rows went in by SQL, unseen by the figures' notes of changed days
    audit.record(
        "DEMO_DATA_GENERATED",
        None,
        cases=report.cases,
        open_tasks=report.open_tasks,
        template_cases=report.template_cases,
    )
    db.session.commit()
    report.seconds = time.perf_counter() - began
    return report
