"""Reading a case for its page. Reading a case is an audited event too."""

from dataclasses import dataclass

from sqlalchemy import select

from app import policy
from app.extensions import db
from app.models import Case, CaseEvent, CasePerson, OutboxItem, ProcessInstance, Task, User
from app.services import audit, clocks, person_records, sharing
from app.services.errors import Forbidden, NotFound, ReasonNeeded
from app.services.trays import case_context


@dataclass
class CaseView:
    case: Case
    children: list[CasePerson]
    parents: list[CasePerson]
    others: list[CasePerson]  # household members and an alleged perpetrator
    subjects: list[CasePerson]  # whom an information request is about
    referrer: CasePerson | None
    events: list[CaseEvent]
    tasks: list[Task]
    letters: list[OutboxItem]
    instances: list[ProcessInstance]
    earlier: dict
    reopened_from: Case | None
    reopened_as: list[Case]
    duplicates: dict[str, list]  # each child's records that may be the same child
    clocks: list[clocks.ClockView]
    sharing: list[sharing.SharingLine]


def for_user(user: User, case_id: int) -> CaseView:
    """The case as `user` may see it. Showing it to them is a look on the record: `record_case_view`, once the
    page (or the API's answer) is made and before it is sent."""
    case = db.session.get(Case, case_id)
    if case is None:
        raise NotFound(case_id)
    if policy.needs_reason(user, case):
        raise ReasonNeeded(case.id)
    if not policy.can_see_case(user, case):
        raise Forbidden("You do not have access to this case.")
    people = case.people
    instances = list(
        db.session.scalars(
            select(ProcessInstance).where(ProcessInstance.case_id == case.id).order_by(ProcessInstance.id)
        )
    )
    # A need-to-know flow's work (a LADO allegation) shows only to that flow's readers: its tasks, clocks,
    # letters and the episode itself, as well as its timeline entries.
    hidden = {i.id for i in instances if not policy.can_see_timeline_entry(user, i.flow)}
    return CaseView(
        case=case,
        children=[p for p in people if p.role == "child"],
        parents=[p for p in people if p.role == "parent"],
        others=[p for p in people if p.role in ("household", "alleged_perpetrator")],
        subjects=[p for p in people if p.role == "subject"],
        referrer=next((p for p in people if p.role == "referrer"), None),
        events=[e for e in case.events if policy.can_see_timeline_entry(user, e.flow)],
        tasks=[
            t
            for t in db.session.scalars(select(Task).where(Task.case_id == case.id).order_by(Task.created_at))
            if t.instance_id not in hidden
        ],
        letters=[
            i
            for i in db.session.scalars(select(OutboxItem).where(OutboxItem.case_id == case.id).order_by(OutboxItem.id))
            if i.instance_id not in hidden
        ],
        instances=[i for i in instances if i.id not in hidden],
        earlier=case_context(case.id).earlier,
        reopened_from=db.session.get(Case, case.reopened_from_id) if case.reopened_from_id else None,
        reopened_as=list(db.session.scalars(select(Case).where(Case.reopened_from_id == case.id).order_by(Case.id))),
        duplicates={
            c.key: person_records.possible_duplicates(c.person)
            for c in people
            if c.role == "child" and policy.can_search_people(user)
        },
        clocks=[c for c in clocks.for_case(case.id) if policy.can_see_timeline_entry(user, c.flow)],
        sharing=sharing.for_case(case, lambda flow: policy.can_see_timeline_entry(user, flow)),
    )


def reference_of(case_id: int) -> Case:
    case = db.session.get(Case, case_id)
    if case is None:
        raise NotFound(case_id)
    return case


# A look is recorded once its page is made, just before it is sent: committed first, it would leave every
# record the page goes on to read expired, each to be read again from the database.


def record_case_view(user: User, case_id: int) -> None:
    """A look at a case, on the record (committed) before its page is sent."""
    audit.record("CASE_VIEWED", user.id, case_id=case_id)
    db.session.commit()


def record_task_view(user: User, task: Task) -> None:
    """Opening a task shows its case's details: on the record like a look at the case."""
    audit.record("TASK_VIEWED", user.id, case_id=task.case_id, task_id=task.id)
    db.session.commit()


def recent_for_user(user: User, limit: int = 50) -> list[Case]:
    if not user.roles & policy.HUB_ROLES:
        return []
    # A restricted record is never listed; it is reached by its reference, with a reason.
    query = select(Case).where(Case.restricted.is_(False)).order_by(Case.id.desc()).limit(limit)
    if not policy.can_see_information_requests(user):
        query = query.where(Case.request_type != "information_request")
    return list(db.session.scalars(query))
