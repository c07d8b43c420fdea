"""The managers' dashboard: every open task of every case in flight, overdue clocks first, counted by flow and
step, and each team's and worker's workload.

Everything here reads the task mirror and the case tables beside it (task, case_record, case_person), never a
saved workflow (DESIGN.md rule 2): counts are GROUP BY queries, the list is paged by the database, and a page's
cases and children are read in one query for the whole page. A large authority holds a few hundred thousand
cases and some ten thousand open tasks; each query starts from the open tasks, which stay few, and reads a
case only by its primary key. A task's due time is its statutory clock's (see _overdue_count), so the clocks
table, which keeps every clock ever run, is not read at all.

What a manager may not see is left out before anything is counted: a voided contact is not in flight, a LADO
allegation's work is need-to-know (policy.can_see_timeline_entry), and an information request is for the
register's readers (policy.can_see_information_requests).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import NamedTuple, TypeVar

from sqlalchemy import ColumnElement, Select, exists, func, select
from sqlalchemy import case as when

from app import policy
from app.config import LONDON
from app.extensions import db
from app.models import Case, CasePerson, Person, Task, User
from app.models.types import utcnow
from app.referral_sources import SOURCES
from app.roles import CONTACT_OUTCOMES, FLOWS, TEAMS
from app.services import audit
from app.services.trays import flow_title, waited

audit.register({"DASHBOARD_EXPORTED": {"rows"}})

# A query of any columns over the open tasks, narrowed by the helpers below.
Query = TypeVar("Query", bound=Select)  # type: ignore[type-arg]
Key = TypeVar("Key")

PAGE_SIZE = 50
CASES_AT_ONCE = 100  # an export reads its cases this many at a time
NOBODY = "none"  # the worker filter's value for work nobody has claimed
PENDING = "pending"  # the outcome filter's value for a child not yet decided
NOT_CLAIMED = "Not claimed"
OUTCOME_CHOICES: dict[str, str] = {PENDING: "Pending (no outcome yet)", **CONTACT_OUTCOMES}
CLOCK_TAGS = {"overdue": "Overdue", "today": "Due today", "on_time": "On time"}
# The years a contact's date could fall in; anything outside is a typing slip.
EARLIEST_YEAR, LATEST_YEAR = 1900, 2999


# --- Filters ---------------------------------------------------------------------------------------------


@dataclass
class Filters:
    """What the list is narrowed to, every value checked; empty means any."""

    flow: str = ""
    step: str = ""  # a step's name, as the task mirror holds it
    team: str = ""
    worker: str = ""  # a user's id, or NOBODY
    source: str = ""  # a census referral source code
    outcome: str = ""  # one of the nine outcomes, or PENDING
    date_from: date | None = None  # the contact was made on or after this London day
    date_to: date | None = None  # ... and on or before this one

    def args(self) -> dict[str, str]:
        """Query parameters for a link to the same view (the next page, the CSV), empty ones left out."""
        values = {
            "flow": self.flow,
            "step": self.step,
            "team": self.team,
            "worker": self.worker,
            "source": self.source,
            "outcome": self.outcome,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
        }
        return {k: v for k, v in values.items() if v}


# The filters' names in the query string, in the order the page shows them.
FIELDS = ("flow", "step", "team", "worker", "source", "outcome", "from", "to")


@dataclass
class FilterForm:
    """The filters as asked for: the values as typed (shown back on the page), those that passed the checks,
    and a message for each that did not (field id -> words). A value that fails is not applied."""

    typed: dict[str, str]
    filters: Filters
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Choices:
    """What each choice filter offers: (value, label)."""

    flow: list[tuple[str, str]]
    step: list[tuple[str, str]]
    team: list[tuple[str, str]]
    worker: list[tuple[str, str]]
    source: list[tuple[str, str]]
    outcome: list[tuple[str, str]]


def choices(user: User, work: Board | None = None) -> Choices:
    """The filters' choices. Steps and workers come from the open work the user may see (`work`, read
    unfiltered, when the caller has it), so a step of a flow they may not see is never offered."""
    work = work or board(user)
    steps = {(g.flow, g.step) for g in work.groups}
    flows = {f: flow_title(f) for f in FLOWS if f not in _hidden_flows(user)}
    flows |= {f: flow_title(f) for f, _ in steps}
    holders = sorted({(g.holder or "", g.assignee_id) for g in work.groups if g.assignee_id is not None})
    return Choices(
        flow=sorted(flows.items(), key=lambda item: item[1]),
        step=[(name, name) for name in sorted({name for _, name in steps}, key=str.lower)],
        team=sorted(TEAMS.items(), key=lambda item: item[1]),
        worker=[(NOBODY, NOT_CLAIMED), *((str(uid), name) for name, uid in holders)],
        source=[(code, f"{code}: {words}") for code, words in SOURCES.items()],
        outcome=list(OUTCOME_CHOICES.items()),
    )


def read_filters(user: User, args: Mapping[str, str], offered: Choices | None = None) -> FilterForm:
    """Check each filter as typed; a bad one gets a message in plain words and is left off."""
    typed = {name: (args.get(name) or "").strip() for name in FIELDS}
    offered = offered or choices(user)
    form = FilterForm(typed=typed, filters=Filters())
    listed = {
        "flow": ({v for v, _ in offered.flow}, "Choose a flow from the list"),
        "step": ({v for v, _ in offered.step}, "No open work is at that step now: choose a step from the list"),
        "team": (set(TEAMS), "Choose a team from the list"),
        "source": (set(SOURCES), "Choose who made the contact from the list of referral sources"),
        "outcome": (set(OUTCOME_CHOICES), "Choose an outcome from the list"),
    }
    # In the order the page shows the fields, so the error summary reads down the form.
    for name in FIELDS:
        value = typed[name]
        if not value:
            continue
        if name in listed:
            allowed, message = listed[name]
            if value in allowed:
                setattr(form.filters, name, value)
            else:
                form.errors[name] = message
        elif name == "worker":
            if value == NOBODY or (value.isascii() and value.isdigit() and len(value) < 10 and _user_exists(value)):
                form.filters.worker = value
            else:
                form.errors[name] = "Choose a worker from the list"
        else:
            day = parse_day(value)
            if day is None:
                form.errors[name] = f"Enter the date the contact was made {name} as a real date, for example 2026-11-24"
            elif name == "from":
                form.filters.date_from = day
            else:
                form.filters.date_to = day
    if form.filters.date_from and form.filters.date_to and form.filters.date_from > form.filters.date_to:
        form.errors["to"] = "The date the contact was made to must be the same as or after the date from"
        form.filters.date_to = None
    return form


def _user_exists(user_id: str) -> bool:
    return db.session.scalar(select(User.id).where(User.id == int(user_id))) is not None


def parse_day(text: str) -> date | None:
    """A London day as typed, 2026-11-24 or 24/11/2026, in a year the records could hold."""
    text = text.strip()
    if len(text) > 10 or ("/" not in text and len(text) != 10):
        return None
    try:
        if "/" in text:
            day, month, year = (int(part) for part in text.split("/"))
            found = date(year, month, day)
        else:
            found = date.fromisoformat(text)
    except ValueError:
        return None
    return found if EARLIEST_YEAR <= found.year <= LATEST_YEAR else None


# --- Who sees what ---------------------------------------------------------------------------------------


def _hidden_flows(user: User) -> set[str]:
    hidden = {flow for flow in policy.RESTRICTED_TIMELINES if not policy.can_see_timeline_entry(user, flow)}
    if not policy.can_see_information_requests(user):
        hidden.add("information_request")
    return hidden


def _open_work(query: Query, user: User, filters: Filters | None = None) -> Query:
    """`query` over the open tasks of cases in flight that `user` may see, narrowed by `filters`.

    The contact's date and source are the task's own copies. A child's outcome is asked of the task's case by
    its primary key, in one look-up per task, and never by joining the case table: the open tasks are few and
    the cases many, so the case table is read through its index whatever the planner guesses, and the
    case's people through theirs."""
    filters = filters or Filters()
    on_task: list[ColumnElement[bool]] = []
    # Nothing is asked of the case unless a filter asks it: a voided contact's tasks are deleted when it is
    # voided (app/services/case_actions.py), and an information request runs only its own flow, which
    # `_hidden_flows` leaves out for those who may not see the register. So the page without filters reads
    # the open tasks alone, however many cases there are.
    on_case = _asked_of_the_case(filters)
    hidden = _hidden_flows(user)
    if hidden:
        on_task.append(Task.flow.not_in(sorted(hidden)))
    if filters.flow:
        on_task.append(Task.flow == filters.flow)
    if filters.step:
        on_task.append(Task.name == filters.step)
    if filters.team:
        on_task.append(Task.team == filters.team)
    if filters.worker == NOBODY:
        on_task.append(Task.assignee_id.is_(None))
    elif filters.worker:
        on_task.append(Task.assignee_id == int(filters.worker))
    if filters.source:
        on_task.append(Task.referral_source == filters.source)
    if filters.date_from:
        on_task.append(Task.contact_made_at >= _london_midnight(filters.date_from))
    if filters.date_to:
        on_task.append(Task.contact_made_at < _london_midnight(filters.date_to + timedelta(days=1)))
    if on_case:
        case_fits = select(Case.id).where(Case.id == Task.case_id, *on_case).scalar_subquery()
        on_task.append(case_fits.is_not(None))
    return query.select_from(Task).where(*on_task)


def _asked_of_the_case(filters: Filters) -> list[ColumnElement[bool]]:
    """What a filter asks of a child of the case: the one thing the task mirror does not keep (the contact's
    date and source are copied onto each task; a child's outcome changes as the case goes on)."""
    if not filters.outcome:
        return []
    outcome = CasePerson.outcome.is_(None) if filters.outcome == PENDING else CasePerson.outcome == filters.outcome
    return [exists().where(CasePerson.case_id == Case.id, CasePerson.role == "child", outcome)]


def _london_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LONDON)


# --- The open work, counted once -------------------------------------------------------------------------


class _Group(NamedTuple):
    """Open tasks alike in everything a count on the page is by: flow, step, team and holder."""

    flow: str
    step: str
    team: str | None
    assignee_id: int | None
    holder: str | None  # the assignee's name
    tasks: int
    overdue: int
    oldest: datetime  # when the longest-waiting of them became ready


@dataclass(frozen=True)
class Board:
    """The open work a user may see, narrowed by the filters, counted once for the whole page.

    One GROUP BY of the open tasks by flow, step, team and holder gives every count the page shows (by step,
    by team, by worker, the total, and the filters' choices of step and worker) and a second counts each
    flow's cases, which no finer count can give. Before, each count read the open tasks again: at 10,000
    open tasks each read costs about ten milliseconds."""

    user: User
    filters: Filters
    now: datetime
    groups: list[_Group]

    def narrowed(self, filters: Filters) -> Board:
        """The same work narrowed by `filters` (this board must be the unfiltered one). A filter by what the
        groups are of (flow, step, team, worker) picks among them; any other is asked of the database."""
        if not filters.args():
            return self
        if filters.source or filters.outcome or filters.date_from or filters.date_to:
            return board(self.user, filters, self.now)
        return Board(self.user, filters, self.now, [g for g in self.groups if _fits(g, filters)])

    @property
    def tasks(self) -> int:
        return sum(g.tasks for g in self.groups)


def board(user: User, filters: Filters | None = None, now: datetime | None = None) -> Board:
    """The open work `user` may see, narrowed by `filters`, counted as the dashboard counts it at `now`."""
    now = now or utcnow()
    filters = filters or Filters()
    # Overdue means past its due time. The task mirror's due time is its statutory clock's: both are set from
    # the one moment the engine works out when the task becomes ready and keeps in the task's data
    # (app/engine/runtime.py), so a rebuilt mirror has it too, and a task has a running clock exactly when it
    # has a due time (tests/web/test_dashboard.py checks the two agree).
    overdue = func.coalesce(func.sum(when((Task.due_at < now, 1), else_=0)), 0)
    keys = (Task.flow, Task.name, Task.team, Task.assignee_id)
    query = _open_work(select(*keys, func.count(Task.id), overdue, func.min(Task.created_at)), user, filters)
    found = db.session.execute(query.group_by(*keys)).tuples().all()
    # The holders' names are read apart, for the few holders: joined, each open task would be matched to its
    # user before being counted.
    holders = {row[3] for row in found if row[3] is not None}
    names: dict[int, str] = {}
    if holders:
        names = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(holders))).tuples().all())
    groups = [
        _Group(flow, step, team, uid, names.get(uid) if uid else None, *sums) for flow, step, team, uid, *sums in found
    ]
    return Board(user, filters, now, groups)


def _fits(group: _Group, filters: Filters) -> bool:
    """Whether tasks pass the filters that ask only of the task itself."""
    if filters.flow and group.flow != filters.flow:
        return False
    if filters.step and group.step != filters.step:
        return False
    if filters.team and group.team != filters.team:
        return False
    if filters.worker == NOBODY:
        return group.assignee_id is None
    return not filters.worker or group.assignee_id == int(filters.worker)


# --- The list of open work -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenTask:
    task_id: str
    case_id: int
    reference: str
    children: list[str]  # as a list may show them: a restricted record's names never
    flow: str
    flow_title: str
    step: str
    team: str
    worker: str
    due_at: datetime | None
    clock: str | None  # a key of CLOCK_TAGS; None when the diagram sets no due time
    contact_made: datetime
    case_age: str
    source: str | None


@dataclass(frozen=True)
class OpenWork:
    rows: list[OpenTask]
    total: int
    page: int
    pages: int


def in_flight(
    user: User, filters: Filters, page: int = 1, now: datetime | None = None, work: Board | None = None
) -> OpenWork:
    """One page of open work, overdue first, then by due time (none last), then the longest waiting."""
    work = work or board(user, filters, now)
    total = work.tasks
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)  # a page past the end (work done meanwhile) shows the last one
    rows = _open_tasks(user, filters, work.now, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return OpenWork(rows, total, page, pages)


def _open_tasks(
    user: User, filters: Filters, now: datetime, offset: int = 0, limit: int | None = None
) -> list[OpenTask]:
    # Chosen from the task mirror alone; only the chosen tasks' cases are then read, by their ids.
    query = (
        _open_work(
            select(Task.id, Task.case_id, Task.flow, Task.name, Task.subject, Task.team, Task.due_at, User.name),
            user,
            filters,
        )
        .outerjoin(User, User.id == Task.assignee_id)
        # Overdue first, then by due time, is the order of due times, those without one last (said outright:
        # SQLite and PostgreSQL differ on where NULL goes). Then the longest waiting, and the task id last, so
        # pages never overlap. The open tasks are sorted for each page: a few milliseconds at 10,000 of them.
        .order_by(Task.due_at.asc().nulls_last(), Task.created_at, Task.id)
        .offset(offset)
        .limit(limit)
    )
    found = db.session.execute(query).all()
    cases = _cases_of(sorted({row.case_id for row in found}))
    today = now.astimezone(LONDON).date()
    rows = []
    for task_id, case_id, flow, step, subject, team, due, worker in found:
        case = cases[case_id]
        rows.append(
            OpenTask(
                task_id=task_id,
                case_id=case_id,
                reference=case.reference,
                children=policy.names_shown(case.restricted, case.children or ([subject] if subject else [])),
                flow=flow,
                flow_title=flow_title(flow),
                step=step,
                team=TEAMS.get(team, team) if team else "",
                worker=worker or NOT_CLAIMED,
                due_at=due,
                clock=_clock(due, now, today),
                contact_made=case.created_at,
                case_age=waited(case.created_at, now),
                source=case.referral_source,
            )
        )
    return rows


@dataclass
class _CaseBits:
    """What a row of open work shows of its case."""

    reference: str
    restricted: bool
    created_at: datetime
    referral_source: str | None
    children: list[str] = field(default_factory=list)  # in the order the contact named them


def _cases_of(case_ids: list[int]) -> dict[int, _CaseBits]:
    """The cases of some open work with their children's names: one query for a page, and one for each hundred
    cases of an export, each reading the cases by primary key and their people by their index."""
    found: dict[int, _CaseBits] = {}
    for start in range(0, len(case_ids), CASES_AT_ONCE):
        rows = db.session.execute(
            select(Case.id, Case.reference, Case.restricted, Case.created_at, Case.referral_source, Person.name)
            .outerjoin(CasePerson, (CasePerson.case_id == Case.id) & (CasePerson.role == "child"))
            .outerjoin(Person, Person.id == CasePerson.person_id)
            .where(Case.id.in_(case_ids[start : start + CASES_AT_ONCE]))
            .order_by(Case.id, CasePerson.id)
        )
        for case_id, reference, restricted, created_at, source, child in rows:
            case = found.setdefault(case_id, _CaseBits(reference, restricted, created_at, source))
            if child is not None:
                case.children.append(child)
    return found


def _clock(due_at: datetime | None, now: datetime, today: date) -> str | None:
    if due_at is None:
        return None
    if due_at < now:
        return "overdue"
    return "today" if due_at.astimezone(LONDON).date() == today else "on_time"


# --- Counts ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowCount:
    flow: str
    title: str
    cases: int
    tasks: int
    overdue: int


@dataclass(frozen=True)
class StepCount:
    flow: str
    flow_title: str
    step: str
    tasks: int
    overdue: int


def _summed(groups: list[_Group], key: Callable[[_Group], Key]) -> dict[Key, tuple[int, int, datetime]]:
    """Tasks, overdue tasks and the oldest task's start, per key."""
    sums: dict[Key, tuple[int, int, datetime]] = {}
    for g in groups:
        k = key(g)
        if k in sums:
            tasks, late, oldest = sums[k]
            sums[k] = (tasks + g.tasks, late + g.overdue, min(oldest, g.oldest))
        else:
            sums[k] = (g.tasks, g.overdue, g.oldest)
    return sums


def _flow_order(flow: str) -> int:
    order = list(FLOWS)
    return order.index(flow) if flow in order else len(order)


def by_flow(user: User, filters: Filters, now: datetime | None = None, work: Board | None = None) -> list[FlowCount]:
    """Open cases and open tasks per flow, in the order the flows run."""
    work = work or board(user, filters, now)
    query = _open_work(select(Task.flow, func.count(func.distinct(Task.case_id))), user, filters)
    cases = {flow: count for flow, count in db.session.execute(query.group_by(Task.flow)).tuples()}
    found = [
        FlowCount(flow, flow_title(flow), cases.get(flow, 0), tasks, late)
        for flow, (tasks, late, _) in _summed(work.groups, lambda g: g.flow).items()
    ]
    return sorted(found, key=lambda c: (_flow_order(c.flow), c.title))


def by_step(user: User, filters: Filters, now: datetime | None = None, work: Board | None = None) -> list[StepCount]:
    """Open tasks, and how many are overdue, per flow and step."""
    work = work or board(user, filters, now)
    found = [
        StepCount(flow, flow_title(flow), step, tasks, late)
        for (flow, step), (tasks, late, _) in _summed(work.groups, lambda g: (g.flow, g.step)).items()
    ]
    return sorted(found, key=lambda c: (_flow_order(c.flow), c.flow_title, c.step.lower()))


@dataclass(frozen=True)
class Load:
    key: str  # the team's key, or the worker's id (NOBODY for work nobody has claimed); "" for no team
    label: str
    tasks: int
    overdue: int
    oldest: datetime  # when the longest-waiting of these tasks became ready
    waited: str


@dataclass(frozen=True)
class Workload:
    teams: list[Load]
    workers: list[Load]


def workload(user: User, filters: Filters, now: datetime | None = None, work: Board | None = None) -> Workload:
    """Open tasks, overdue ones and the longest wait, per team and per worker; most overdue first."""
    work = work or board(user, filters, now)
    team_loads = [
        # Only a team the filter knows gets a key, so the page links only to filters that work.
        _load(team if team in TEAMS else "", TEAMS.get(team, team) if team else "No team", sums, work.now)
        for team, sums in _summed(work.groups, lambda g: g.team).items()
    ]
    holders = {g.assignee_id: g.holder for g in work.groups}
    worker_loads = [
        _load(str(uid) if uid else NOBODY, (holders[uid] or "") if uid else NOT_CLAIMED, sums, work.now)
        for uid, sums in _summed(work.groups, lambda g: g.assignee_id).items()
    ]
    return Workload(_busiest_first(team_loads), _busiest_first(worker_loads))


def _load(key: str, label: str, sums: tuple[int, int, datetime], now: datetime) -> Load:
    tasks, overdue, oldest = sums
    return Load(key, label, tasks, int(overdue), oldest, waited(oldest, now))


def _busiest_first(loads: list[Load]) -> list[Load]:
    return sorted(loads, key=lambda load: (-load.overdue, -load.tasks, load.label.lower()))


# --- CSV -------------------------------------------------------------------------------------------------

CSV_HEADER = [
    "Case reference",
    "Children",
    "Flow",
    "Step",
    "Team",
    "Worker",
    "Due (London time)",
    "Clock",
    "Contact made (London date)",
    "Case age (days)",
    "Referral source",
]
# A cell a spreadsheet would run as a formula starts with one of these: it is written as text instead.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def export_csv(user: User, filters: Filters, now: datetime | None = None) -> str:
    """Every open task the filters match, in the page's order, as CSV; recorded in the audit trail."""
    now = now or utcnow()
    rows = _open_tasks(user, filters, now)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        writer.writerow(
            [
                _cell(value)
                for value in (
                    row.reference,
                    "; ".join(row.children),
                    row.flow_title,
                    row.step,
                    row.team,
                    row.worker,
                    row.due_at.astimezone(LONDON).strftime("%Y-%m-%d %H:%M") if row.due_at else "",
                    CLOCK_TAGS[row.clock] if row.clock else "",
                    row.contact_made.astimezone(LONDON).date().isoformat(),
                    str(max(0, (now - row.contact_made).days)),
                    row.source or "",
                )
            ]
        )
    audit.record("DASHBOARD_EXPORTED", user.id, rows=len(rows))
    db.session.commit()
    return out.getvalue()


def _cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value
