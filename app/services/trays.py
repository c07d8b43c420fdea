"""Work trays, read from the task mirror only: never a deserialized workflow (DESIGN.md rule 2)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy import case as when

from app import policy
from app.extensions import db
from app.models import Case, CaseEvent, CasePerson, Task, User
from app.models.types import utcnow
from app.roles import FLOWS, TEAMS
from app.services import involvement, people

LONDON = ZoneInfo("Europe/London")
PAGE_SIZE = 25
# A task due within this long is amber even when its deadline falls after midnight.
AMBER_WITHIN = timedelta(hours=2)
RAG_LABELS = {"red": "Overdue", "amber": "Due soon", "green": "On time"}
DUE_CHOICES = {"all": "Any time", "overdue": "Overdue", "today": "Due by the end of today"}
SORTS = {"due": "Due soonest", "waited": "Waiting longest", "child": "Child's name"}


def my_tasks(user: User) -> list[Task]:
    """Tasks the user may pick up: in their lanes and team, unassigned or assigned to them."""
    return list(db.session.scalars(select(Task).where(policy.task_filter_for(user)).order_by(Task.created_at)))


def team_tasks(user: User) -> list[Task]:
    """Everything waiting on the user's team, whoever it is assigned to."""
    return list(db.session.scalars(select(Task).where(Task.team == user.team_key).order_by(Task.created_at)))


def counts(user: User) -> dict[str, int]:
    mine = db.session.scalar(select(func.count()).select_from(Task).where(policy.task_filter_for(user))) or 0
    team = db.session.scalar(select(func.count()).select_from(Task).where(Task.team == user.team_key)) or 0
    return {"mine": mine, "team": team}


def rag(due_at: datetime | None, now: datetime) -> str | None:
    """A task's clock as red, amber or green: red once its due time has come, amber when it is due within
    two hours or later the same London day, green otherwise; no colour when the diagram sets no due time."""
    if due_at is None:
        return None
    if due_at <= now:
        return "red"
    if due_at - now <= AMBER_WITHIN or due_at.astimezone(LONDON).date() == now.astimezone(LONDON).date():
        return "amber"
    return "green"


def waited(since: datetime, now: datetime) -> str:
    """How long a task has waited, in the largest whole unit a person would say."""
    seconds = max(0, int((now - since).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return "less than a minute"


def flow_title(flow: str) -> str:
    return FLOWS.get(flow) or flow.replace("_", " ").capitalize()


@dataclass
class Filters:
    """What a tray page was asked for, after checking: anything unknown has been left off."""

    flow: str = ""
    task: str = ""  # a bpmn id
    team: str = ""
    due: str = "all"
    sort: str = "due"
    page: int = 1

    def args(self, **changes: Any) -> dict[str, Any]:
        """Query parameters for a link to this view with some changed (pagination), defaults left out."""
        values = {**self.__dict__, **changes}
        defaults = Filters().__dict__
        return {k: v for k, v in values.items() if v != defaults[k]}


@dataclass
class TrayRow:
    task: Task
    holder: str | None  # the name of whoever has the task, if anyone
    mine: bool
    rag: str | None
    waited: str
    may_open: bool
    may_claim: bool
    may_release: bool
    may_reassign: bool
    # The child the task is about, as the tray may show it: a restricted record's names stay out of trays.
    subject: str | None = None


@dataclass
class TrayPage:
    which: str  # mine or team
    rows: list[TrayRow]
    total: int
    page: int
    pages: int
    filters: Filters
    options: dict[str, list[tuple[str, str]]]  # flow, task and team choices: (value, label)
    ignored: list[str] = field(default_factory=list)  # plain words for each filter value left off


def tray(user: User, which: str, args: Mapping[str, str], now: datetime | None = None) -> TrayPage:
    """One page of a tray, filtered and sorted as asked. Unknown values are left off, never an error:
    a link someone bookmarked before a flow was retired still opens."""
    now = now or utcnow()
    base = policy.task_filter_for(user) if which == "mine" else Task.team == user.team_key
    options = _options(base)
    filters, ignored = _read(args, options)
    conditions = [base, *_conditions(filters, now)]
    total = db.session.scalar(select(func.count()).select_from(Task).where(*conditions)) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    if filters.page > pages:
        filters.page = pages  # a page past the end (tasks completed meanwhile) shows the last one
    query = (
        select(Task, User.name)
        .outerjoin(User, User.id == Task.assignee_id)
        .where(*conditions)
        .order_by(*_order(filters.sort))
        .offset((filters.page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    rows = [
        TrayRow(
            task=task,
            holder=holder,
            mine=task.assignee_id == user.id,
            rag=rag(task.due_at, now),
            waited=waited(task.created_at, now),
            may_open=policy.can_act_on_task(user, task),
            may_claim=policy.can_claim(user, task),
            may_release=policy.can_release(user, task),
            may_reassign=policy.can_reassign(user, task),
        )
        for task, holder in db.session.execute(query).unique().all()
    ]
    for row in rows:
        row.subject = policy.name_shown(row.task.case, row.task.subject)
    return TrayPage(which, rows, total, filters.page, pages, filters, options, ignored)


def _options(base: ColumnElement[bool]) -> dict[str, list[tuple[str, str]]]:
    # Choices come from what is in the tray, so a filter can never offer an empty result by design.
    flows = sorted(db.session.scalars(select(Task.flow).where(base).distinct()))
    tasks = dict(db.session.execute(select(Task.bpmn_id, func.min(Task.name)).where(base).group_by(Task.bpmn_id)).all())
    teams = sorted(t for t in db.session.scalars(select(Task.team).where(base).distinct()) if t)
    return {
        "flow": [(f, flow_title(f)) for f in flows],
        "task": sorted(tasks.items(), key=lambda item: item[1]),
        "team": [(t, TEAMS.get(t, t)) for t in teams],
    }


def _read(args: Mapping[str, str], options: dict[str, list[tuple[str, str]]]) -> tuple[Filters, list[str]]:
    filters, ignored = Filters(), []
    allowed: dict[str, set[str]] = {name: {value for value, _ in choices} for name, choices in options.items()}
    allowed |= {"due": set(DUE_CHOICES), "sort": set(SORTS)}
    words = {"flow": "flow", "task": "task", "team": "team", "due": "due", "sort": "order"}
    for name, word in words.items():
        value = (args.get(name) or "").strip()
        if not value:
            continue
        if value in allowed[name]:
            setattr(filters, name, value)
        else:
            ignored.append(f"There are no tasks here for the {word} you chose, so that choice was left off.")
    page = (args.get("page") or "").strip()
    if page:
        # Only 0 to 9 ("²" passes isdigit() but not int()), and few enough to be a page a list could have.
        if page.isascii() and page.isdigit() and len(page) < 7 and int(page) >= 1:
            filters.page = int(page)
        else:
            ignored.append("The page number was not one we know, so the first page is shown.")
    return filters, ignored


def _conditions(filters: Filters, now: datetime) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if filters.flow:
        found.append(Task.flow == filters.flow)
    if filters.task:
        found.append(Task.bpmn_id == filters.task)
    if filters.team:
        found.append(Task.team == filters.team)
    if filters.due == "overdue":
        found.append(Task.due_at <= now)
    elif filters.due == "today":
        found.append(Task.due_at < _end_of_london_day(now))
    return found


def _end_of_london_day(now: datetime) -> datetime:
    tomorrow = now.astimezone(LONDON).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=LONDON)


def _order(sort: str) -> list[Any]:
    # Each order ends on created_at and id so a page boundary never shows a task twice or skips one.
    if sort == "waited":
        return [Task.created_at, Task.id]
    if sort == "child":
        # A restricted record's rows go after the named ones, by age: ordered by its hidden names, their place
        # would hint at them.
        restricted = select(Case.restricted).where(Case.id == Task.case_id).scalar_subquery()
        name = when((restricted, ""), else_=func.lower(Task.subject))
        return [Task.subject == "", restricted, name, Task.created_at, Task.id]
    # Due soonest first, tasks without a due time last: SQLite sorts NULLs first and PostgreSQL last, so the
    # order says so itself rather than trusting either.
    return [Task.due_at.is_(None), Task.due_at, Task.created_at, Task.id]


@dataclass
class CaseContext:
    case: Case
    children: list[CasePerson]
    earlier: dict[str, list[dict[str, Any]]]
    involvement: dict[str, list[Any]]  # each child's open involvement from the main record system
    last_referral: dict[str, date | None]  # each child's last referral within twelve months
    recent: list[CaseEvent]  # what this contact has recorded lately: questions asked, answers received


def case_context(case_id: int, user: User | None = None) -> CaseContext:
    """What a practitioner needs beside a task's form: the children and what is already known of them, and
    what the case's timeline said lately (only entries `user` may read)."""
    case = db.session.get(Case, case_id)
    assert case is not None
    earlier, open_now, last = {}, {}, {}
    for child in case.children:
        dob = child.person.date_of_birth.isoformat() if child.person.date_of_birth else None
        earlier[child.key] = [c for c in people.earlier_contacts(child.person.name, dob) if c["case_id"] != case.id]
        open_now[child.key] = involvement.open_involvement(child.person_id)
        last[child.key] = involvement.previous_referral_within(child.person_id, case.created_at)
    return CaseContext(
        case=case,
        children=case.children,
        earlier=earlier,
        involvement=open_now,
        last_referral=last,
        recent=[e for e in case.events if user is None or policy.can_see_timeline_entry(user, e.flow)][-RECENT_EVENTS:][
            ::-1
        ],
    )


RECENT_EVENTS = 5
