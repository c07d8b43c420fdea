"""Who may see what and do what: the one place access is decided (DESIGN.md rule 10).

Every route declares its check with one of the decorators below; a test walks the URL map and fails on a
route that declares none.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import exists, select

from app.extensions import db
from app.roles import ROLES

if TYPE_CHECKING:
    from app.models import Case, Task, User

F = TypeVar("F", bound=Callable[..., Any])

# The hub's own staff and its managers see every front-door case; partners see only what they take part in.
HUB_ROLES = frozenset(
    {
        "fpoc",
        "coordinator",
        "ssw",
        "team_manager",
        "compass_sw",
        "ce_missing_lead",
        "business_support",
        "service_manager",
    }
)
CONTACT_RECORDERS = frozenset({"fpoc", "coordinator", "ssw"})
# Voiding a contact (recorded in error) takes it out of every figure: a decision for the decision makers.
CONTACT_VOIDERS = frozenset({"ssw", "team_manager", "service_manager"})


def declare(check: str) -> Callable[[F], F]:
    """Mark a view with the check it applies (public, login, or a named policy decision)."""

    def mark(view: F) -> F:
        view.policy_check = check  # type: ignore[attr-defined]
        return view

    return mark


public = declare("public")
login_only = declare("login")


def can_record_contact(user: User) -> bool:
    return bool(user.roles & CONTACT_RECORDERS)


def can_see_referrer(user: User) -> bool:
    """Who made a contact is confidential (§13): the hub, and the allocated worker who must answer them
    (§4.15), see it; a partner or the Early Help hub sees the concern without it."""
    return bool(user.roles & (HUB_ROLES | {"allocated_worker"}))


def can_see_outbox(user: User) -> bool:
    """Failed deliveries and the local sink's e-mails: managers follow up what did not reach a family."""
    return bool(user.roles & {"service_manager", "team_manager"})


def can_post_letters(user: User) -> bool:
    """Business support prints and posts the paper letters (DESIGN.md rule 4); their team manager covers."""
    return bool(user.roles & {"business_support", "team_manager"})


def can_merge_people(user: User) -> bool:
    """Merging two records into one changes every contact about that child: a decision maker's to make."""
    return bool(user.roles & CONTACT_VOIDERS)


def can_void_case(user: User) -> bool:
    return bool(user.roles & CONTACT_VOIDERS)


def can_search_people(user: User) -> bool:
    """The hub's staff and managers, who see every front-door case; partners only see what they take part in."""
    return bool(user.roles & HUB_ROLES) and any(ROLES[r].sees_cases for r in user.roles if r in ROLES)


def can_see_case(user: User, case: Case) -> bool:
    """May see the case now: one they may see, and, when the record is restricted, opened with a reason."""
    if not may_open_restricted(user, case):
        return False
    return not case.restricted or has_opened_restricted(user, case.id)


def needs_reason(user: User, case: Case) -> bool:
    """A restricted record this user may open, once they say why."""
    return case.restricted and may_open_restricted(user, case) and not has_opened_restricted(user, case.id)


# Restricting a record, and reading who looked at one, are for the managers who answer for the record.
RECORD_MANAGERS = frozenset({"team_manager", "service_manager"})
# An opening of a restricted record holds for the working day; after that the reason is asked again.
OPENING_HOURS = 10


def can_restrict_case(user: User) -> bool:
    return bool(user.roles & RECORD_MANAGERS)


def can_review_retention(user: User) -> bool:
    """Keeping a record longer or deleting it at the end of its time: the service manager's decision."""
    return "service_manager" in user.roles


def can_see_access_log(user: User) -> bool:
    return bool(user.roles & RECORD_MANAGERS)


def has_opened_restricted(user: User, case_id: int) -> bool:
    from app.models import CaseAccessReason
    from app.models.types import utcnow

    since = utcnow() - timedelta(hours=OPENING_HOURS)
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    CaseAccessReason.case_id == case_id,
                    CaseAccessReason.user_id == user.id,
                    CaseAccessReason.kind == "opened",
                    CaseAccessReason.at > since,
                )
            )
        )
    )


# What lists, trays and banners show in place of a restricted record's names.
RESTRICTED_NAME = "Restricted record"


def name_shown(case: Case | None, name: str | None) -> str | None:
    """A child's (or a letter's recipient's) name as a list may show it: never a restricted record's."""
    return RESTRICTED_NAME if case is not None and case.restricted and name else name


def names_shown(restricted: bool, names: list[str]) -> list[str]:
    """A case's children's names as a list may show them, from a row read as plain columns: a restricted
    record's names never appear, and it is one line whatever its number of children, since how many there
    are would be a hint."""
    if restricted:
        return [RESTRICTED_NAME] if names else []
    return names


def opened_if_restricted(user: User, case: Case) -> bool:
    """False for a restricted record this user has not opened with a reason (every page showing a case's
    details, its flows' own pages included, asks first)."""
    return not case.restricted or has_opened_restricted(user, case.id)


def may_open_restricted(user: User, case: Case) -> bool:
    """Who may see the case at all, leaving aside whether it is restricted."""
    if not any(ROLES[r].sees_cases for r in user.roles if r in ROLES):
        return False
    if case.request_type == "information_request":
        # What another agency asked about a person, and what was disclosed, is for the register's readers.
        return can_see_information_requests(user)
    if user.roles & HUB_ROLES:
        return True
    from app.models import ProcessInstance, Task

    # The LADO sees the contact that raised an allegation they manage, for as long as the record is kept.
    if "lado" in user.roles and db.session.scalar(
        select(exists().where(ProcessInstance.case_id == case.id, ProcessInstance.flow == "lado"))
    ):
        return True

    # Need to know: a partner sees a case while it holds a task for their role and team, and not one named for
    # a colleague (work named for an allocated worker is theirs and their team manager's, §4.15).
    lanes = list(user.roles)
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    Task.case_id == case.id,
                    Task.lane.in_(lanes),
                    (Task.team == user.team_key) | (Task.team.is_(None)),
                    Task.assignee_id.is_(None) | (Task.assignee_id == user.id),
                )
            )
        )
    )


def can_act_on_task(user: User, task: Task) -> bool:
    # A team manager may act on a task held by someone in their team (§4.15: "the allocated social worker
    # and his/her Team Manager"), so work named for one person is never stuck with them.
    if _manages(user, task):
        return True
    if task.lane not in user.roles:
        return False
    if task.team is not None and task.team != user.team_key:
        return False
    return task.assignee_id is None or task.assignee_id == user.id


def can_claim(user: User, task: Task) -> bool:
    """An unassigned task in one of the user's lanes and their team (or no team) may be claimed."""
    if task.assignee_id is not None or task.lane not in user.roles:
        return False
    return task.team is None or task.team == user.team_key


def can_reassign(user: User, task: Task) -> bool:
    """Only a team manager of the task's own team moves work between people."""
    return "team_manager" in user.roles and task.team is not None and task.team == user.team_key


def can_release(user: User, task: Task) -> bool:
    """The claimant gives a task back, or their team manager does it for them (someone off sick)."""
    return task.assignee_id is not None and (task.assignee_id == user.id or can_reassign(user, task))


def task_filter_for(user: User) -> Any:
    """The SQL condition for the tasks a user may act on: their lanes and team, unassigned or theirs."""
    from app.models import Task

    mine = (
        Task.lane.in_(list(user.roles))
        & ((Task.team == user.team_key) | Task.team.is_(None))
        & (Task.assignee_id.is_(None) | (Task.assignee_id == user.id))
    )
    if "team_manager" in user.roles and user.team_key is not None:
        return mine | ((Task.team == user.team_key) & Task.assignee_id.is_not(None))
    return mine


def _manages(user: User, task: Task) -> bool:
    return (
        "team_manager" in user.roles
        and task.assignee_id is not None
        and task.team is not None
        and task.team == user.team_key
    )


# Information requests from external agencies (§12): logged by the hub's coordinators, business support (who
# answer routine checks, §12.2) and senior social workers; the register of requests and disclosures is for
# the hub's decision makers and managers and those who keep it. Partners never see it (§13: need to know).
INFORMATION_REQUEST_LOGGERS = frozenset({"coordinator", "business_support", "ssw"})
INFORMATION_REQUEST_READERS = frozenset({"ssw", "team_manager", "service_manager", "business_support", "coordinator"})


def can_log_information_request(user: User) -> bool:
    return bool(user.roles & INFORMATION_REQUEST_LOGGERS)


def can_see_information_requests(user: User) -> bool:
    return bool(user.roles & INFORMATION_REQUEST_READERS)


# Multi Agency Triage (§5): the hub, and the co-located police and health who sit at the daily meeting.
MAT_LIST_READERS = HUB_ROLES | {"police", "health", "service_manager"}


def can_see_mat_list(user: User) -> bool:
    return bool(user.roles & MAT_LIST_READERS)


# LADO allegations are need-to-know (§10, §13): the LADO who manages them and the service manager only.
LADO_READERS = frozenset({"lado", "service_manager"})


def can_see_lado(user: User) -> bool:
    return bool(user.roles & LADO_READERS)


# Domestic-abuse notifications (§8): the police send them; the hub's coordinators and decision makers enter
# or upload them too.
DA_NOTIFICATION_RECORDERS = frozenset({"coordinator", "ssw", "police"})


def can_receive_da_notification(user: User) -> bool:
    return bool(user.roles & DA_NOTIFICATION_RECORDERS)


def can_see_strategy_discussions(user: User) -> bool:
    """Strategy discussions (§6): the hub, its managers, and the co-located police and health who take part in
    every one. Who invited whom, by name and address, stays with those who may see the referrer."""
    return bool(user.roles & (HUB_ROLES | {"police", "health"}))


# Flows whose timeline entries are need-to-know beyond the case itself: who may read them.
RESTRICTED_TIMELINES: dict[str, Callable[[User], bool]] = {"lado": lambda user: can_see_lado(user)}


def can_see_timeline_entry(user: User, flow: str | None) -> bool:
    """An entry written by a need-to-know flow (the LADO's consideration of an adult) is shown only to that
    flow's readers; everything else on a case's timeline goes with the case."""
    check = RESTRICTED_TIMELINES.get(flow or "")
    return check is None or check(user)


# The managers who answer for the front door as a whole: every case in flight, its clocks, the figures.
MANAGERS = frozenset({"team_manager", "service_manager"})


def can_see_dashboard(user: User) -> bool:
    """Open cases by flow and step, overdue clocks first, and each team's and worker's workload."""
    return bool(user.roles & MANAGERS)


def can_see_figures(user: User) -> bool:
    """The steering-group figures (§4.11, §14): counts of children and contacts, no names."""
    return bool(user.roles & MANAGERS)


def can_export_census(user: User) -> bool:
    """The Children in Need census return names every referred child: the service manager sends it."""
    return "service_manager" in user.roles


def can_retry_failed_steps(user: User) -> bool:
    """A step whose handler failed is parked for a manager, who sees its error and runs it again."""
    return bool(user.roles & MANAGERS)


def can_see_case_diagram(user: User, case: Case) -> bool:
    """Where a case stands on its diagrams: for the managers, on a case they may see."""
    return bool(user.roles & MANAGERS) and can_see_case(user, case)


def can_edit_processes(user: User) -> bool:
    """The diagrams and forms: edited, checked, replayed and deployed by process owners, who also move
    running cases to a new version. They see flows and case numbers, never a child's details."""
    return "process_owner" in user.roles
