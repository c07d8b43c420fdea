"""The steering-group figures counted day by day, each past day's counts kept, so a quarter at a large council
is added up from about ninety rows instead of being counted again from its ten thousand child contacts.

A day's counts are kept only once they can no longer change by the clock alone: the one figure that depends on
the moment of the report (referral decisions within one working day) leaves out a referral still inside its
working day, so a day is kept only after the working day following it has ended. Later days are counted
afresh on every report; there are few of them.

They change when a record they count changes. Every flush notes the London days its changes touch (and so
does every change written by a plain statement instead, through `note_written`): a contact's
day for its case and children (and, through "became a referral", for a referral of them), a referral's day of
acceptance, a strategy discussion's day, a triage decision's day, and every one of a case's days when it is
voided or its source, kind or date changes. Before the transaction commits, each noted day that may have been
kept gets its counts cleared and its version raised, in the same transaction as the change. A report keeps the
counts it worked out only if the day's version is still the one it read first, and does so one day per
transaction, so it never holds one day's row while waiting for another's: a change that commits while a report
is counting therefore always wins, and the two never wait on each other in a circle.

Changes made by SQL rather than through the session (erasing a case at the end of its retention, the bulk demo
data) say so themselves: `case_removed` and `forget_all`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timedelta
from functools import partial
from itertools import chain
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import case, delete, event, func, inspect, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.orm.session import SessionTransaction

from app.config import LONDON
from app.engine.calendar import Calendar
from app.extensions import db
from app.models import Case, CasePerson, FiguresDay, Referral
from app.models.domestic_abuse import DaTriageDecision
from app.models.mat import MatDecision
from app.models.strategy import StrategyDiscussion
from app.models.types import utcnow
from app.referral_sources import UNKNOWN
from app.services.periods import Period, london_midnight

NOT_DECIDED = "pending"
DAYS = "figures_days.days"  # session.info: London days a flush touched
CONTACT_DAYS = "figures_days.contacts"  # session.info: cases whose contact day a flush touched
WHOLE_CASES = "figures_days.cases"  # session.info: cases all of whose days a flush touched
# A writer clears a day that will be kept within this long, not only one already kept: a transaction that began
# before a day settled must not leave a report free to keep that day without its change. No transaction lasts
# an hour; a longer margin would have every change to today's contacts write today's row in the evening, one
# row that every writer would then wait on in turn.
MARGIN = timedelta(hours=1)
CASE_FIELDS = ("created_at", "voided_at", "request_type", "referral_source")


# --- Noting what changed ---------------------------------------------------------------------------------


def _moments(obj: Any, name: str) -> Iterator[datetime]:
    """The attribute's value now and, when this flush changed it, before."""
    history = inspect(obj).attrs[name].history
    for value in chain(history.added or (), history.unchanged or (), history.deleted or ()):
        if isinstance(value, datetime):
            yield value


def _changed(obj: Any, names: Iterable[str]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


@event.listens_for(Session, "after_flush")
def _note(session: Session, flush_context: Any) -> None:
    gone = set(session.deleted)
    for obj in chain(session.new, session.dirty, gone):
        if obj in session.dirty and not session.is_modified(obj, include_collections=False):
            continue
        # A row just made has no "before": only a row read and changed can have changed its case's days.
        changed = _nothing_changed if obj in session.new else partial(_changed, obj)
        _note_one(session, obj, moments=partial(_moments, obj), changed=changed, gone=obj in gone)


def _nothing_changed(names: Iterable[str]) -> bool:
    return False


def note_written(session: Session, obj: Any, before: dict[str, Any]) -> None:
    """A change to a row written by a plain statement rather than a flush, noted as a flush would note it:
    the object already holds what was written, and `before` what the changed columns held."""

    def moments(name: str) -> Iterator[datetime]:
        for value in (getattr(obj, name), before.get(name)):
            if isinstance(value, datetime):
                yield value

    _note_one(session, obj, moments=moments, changed=lambda names: any(name in before for name in names))


def _note_one(
    session: Session,
    obj: Any,
    moments: Callable[[str], Iterable[datetime]],
    changed: Callable[[Iterable[str]], bool],
    gone: bool = False,
) -> None:
    """The days one changed row touches: `moments` gives a date column's values (now and before the change),
    `changed` whether any of the named columns changed."""
    days: set[date] = session.info.setdefault(DAYS, set())
    contacts: set[int] = session.info.setdefault(CONTACT_DAYS, set())
    whole: set[int] = session.info.setdefault(WHOLE_CASES, set())
    if isinstance(obj, Case):
        days.update(_day(m) for m in moments("created_at"))
        if gone or changed(CASE_FIELDS):
            whole.add(obj.id)
    elif isinstance(obj, CasePerson):
        contacts.add(obj.case_id)
    elif isinstance(obj, Referral):
        days.update(_day(m) for m in moments("accepted_at"))
        contacts.add(obj.case_id)  # whether the child's contact became a referral
    elif isinstance(obj, StrategyDiscussion):
        days.update(_day(m) for m in moments("held_at"))
    elif isinstance(obj, MatDecision | DaTriageDecision):
        days.update(_day(m) for m in moments("decided_at"))


@event.listens_for(Session, "before_commit")
def _clear(session: Session) -> None:
    session.flush()  # the commit's own flush comes after this: its changes must be noted first
    if not (session.info.get(DAYS) or session.info.get(CONTACT_DAYS) or session.info.get(WHOLE_CASES)):
        return
    days: set[date] = session.info.pop(DAYS, set())
    contacts: set[int] = session.info.pop(CONTACT_DAYS, set())
    whole: set[int] = session.info.pop(WHOLE_CASES, set())
    days |= _days_of_cases(session, whole)
    days |= _contact_days(session, contacts - whole)
    now = utcnow()
    calendar = _calendar()
    _raise_versions(session, sorted(d for d in days if settles_at(d, calendar) <= now + MARGIN))


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:
        for key in (DAYS, CONTACT_DAYS, WHOLE_CASES):
            session.info.pop(key, None)


def _contact_days(session: Session, case_ids: set[int]) -> set[date]:
    """The days the contacts were made: from the cases the session holds, and one query for the rest."""
    days: set[date] = set()
    unknown = []
    for case_id in case_ids:
        case = session.identity_map.get(inspect(Case).identity_key_from_primary_key((case_id,)))
        if case is not None and "created_at" in case.__dict__:
            days.add(_day(case.created_at))
        else:
            unknown.append(case_id)
    if unknown:
        found = session.execute(select(Case.created_at).where(Case.id.in_(unknown))).scalars()
        days |= {_day(moment) for moment in found}
    return days


def _days_of_cases(session: Session, case_ids: Iterable[int]) -> set[date]:
    """Every day any figure counts one of these cases on."""
    ids = sorted(case_ids)
    if not ids:
        return set()
    moments = [
        (Case.created_at, Case.id),
        (Referral.accepted_at, Referral.case_id),
        (StrategyDiscussion.held_at, StrategyDiscussion.case_id),
        (MatDecision.decided_at, MatDecision.case_id),
        (DaTriageDecision.decided_at, DaTriageDecision.case_id),
    ]
    days: set[date] = set()
    for moment, case_id in moments:
        found = session.execute(select(moment).where(case_id.in_(ids), moment.is_not(None))).scalars()
        days |= {_day(m) for m in found if m is not None}
    return days


def _raise_versions(session: Session, days: list[date]) -> None:
    """Clear each day's counts and raise its version, making its row when there is none yet, so a report
    counting the day meanwhile cannot keep what it counted (the row stays locked until this commits)."""
    if not days:
        return
    table = FiguresDay.__table__
    maker = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    upsert = maker(table).values([{"day": day, "counts": None, "version": 1} for day in days])
    upsert = upsert.on_conflict_do_update(
        index_elements=[table.c.day],
        set_={"counts": None, "worked_out_at": None, "version": table.c.version + 1},
    )
    session.execute(upsert)


def case_removed(case_id: int) -> None:
    """A case is about to be erased by SQL: its days are worked out again (call before its rows go)."""
    days = sorted(_days_of_cases(db.session(), [case_id]))
    _raise_versions(db.session(), days)


def forget_all() -> None:
    """Records were written by SQL in bulk (the demo data): every day is worked out again."""
    db.session.execute(delete(FiguresDay))


# --- Days ------------------------------------------------------------------------------------------------


def _day(moment: datetime) -> date:
    return moment.astimezone(LONDON).date()


def _calendar() -> Calendar:
    return Calendar.from_settings(current_app.config if has_app_context() else {})


def settles_at(day: date, calendar: Calendar) -> datetime:
    """When a day's counts stop changing by the clock alone: the end of the working day after it, by which
    every referral accepted that day is decided or out of time."""
    return calendar.add_working_days(london_midnight(day + timedelta(days=1)), 1)


def _runs(days: list[date]) -> Iterator[tuple[date, date]]:
    """Consecutive days, as (first, last) ranges."""
    start = previous = None
    for day in sorted(days):
        if previous is not None and day == previous + timedelta(days=1):
            previous = day
            continue
        if start is not None and previous is not None:
            yield start, previous
        start = previous = day
    if start is not None and previous is not None:
        yield start, previous


# --- Reading and keeping ---------------------------------------------------------------------------------


def counts(period: Period, now: datetime | None = None) -> dict[date, dict[str, Any]]:
    """The period's counts in pieces, each keyed by its first day and inside one month: a settled day is a
    piece of its own (as kept, or worked out and then kept); the days not yet settled are counted afresh
    together, a piece for each month they touch.

    `now` is the moment of the report; a day is kept, or read as kept, only once it is settled by both it and
    the clock, which is what the notes of changed days go by."""
    clock = utcnow()
    now = now or clock
    settled_by = min(now, clock)
    calendar = _calendar()
    kept = {
        day: (found, version)
        for day, found, version in db.session.execute(
            select(FiguresDay.day, FiguresDay.counts, FiguresDay.version).where(
                FiguresDay.day >= period.first, FiguresDay.day <= period.last
            )
        ).tuples()
    }
    every_day = [period.first + timedelta(days=n) for n in range((period.last - period.first).days + 1)]
    found: dict[date, dict[str, Any]] = {}
    to_keep, unsettled = [], []
    for day in every_day:
        counted, _version = kept.get(day, (None, 0))
        if settles_at(day, calendar) > settled_by:
            unsettled.append(day)
        elif counted is None:
            to_keep.append(day)
        else:
            found[day] = counted
    for first, last in _runs(to_keep):
        found |= _work_out(
            first, last, now, calendar, pieces=[first + timedelta(days=n) for n in range((last - first).days + 1)]
        )
    for first, last in _runs(unsettled):
        months = [day for day in every_day if first < day <= last and day.day == 1]
        found |= _work_out(first, last, now, calendar, pieces=[first, *months])
    if to_keep:
        db.session.commit()  # the reading ends here; each day is kept in a transaction of its own
        for day in to_keep:
            if not _keep(day, found[day], kept.get(day), now):
                break
    return found


def _keep(day: date, counted: dict[str, Any], seen: tuple[Any, int] | None, now: datetime) -> bool:
    """Keep a day's counts if no change to it has come since they were read; False if the database said no."""
    table = FiguresDay.__table__
    try:
        if seen is None:
            maker = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
            db.session.execute(
                maker(table)
                .values(day=day, counts=counted, version=0, worked_out_at=now)
                .on_conflict_do_nothing(index_elements=[table.c.day])
            )
        else:
            db.session.execute(
                table.update()
                .where(table.c.day == day, table.c.version == seen[1])
                .values(counts=counted, worked_out_at=now)
            )
        db.session.commit()
    except DBAPIError:
        # Keeping is only a saving for the next report: this one's figures stand, worked out as they are.
        db.session.rollback()
        current_app.logger.warning("the figures of %s were not kept", day, exc_info=True)
        return False
    return True


# --- Working a range of days out -------------------------------------------------------------------------


def _counted_case() -> Any:
    """A case the figures count: not recorded in error, and about a child's welfare (not a §12 request)."""
    return (Case.voided_at.is_(None)) & (Case.request_type != "information_request")


def _piece_number(moment: Any, pieces: list[date]) -> Any:
    """Which piece a moment falls in, counted from 0, as the database works it out: London days begin at
    different UTC hours through the year, so each piece's start is given."""
    if len(pieces) == 1:
        return literal(0, literal_execute=True)
    return case(*((moment < london_midnight(day), n) for n, day in enumerate(pieces[1:])), else_=len(pieces) - 1)


def _piece_of(moment: datetime, pieces: list[date]) -> date:
    day = _day(moment)
    return next(piece for piece in reversed(pieces) if piece <= day)


def _empty() -> dict[str, Any]:
    return {
        "contacts": [],  # [source, outcome, child contacts]
        "referred": [],  # [source, child contacts that became a referral]
        "records": 0,
        "referrals": 0,
        "re_referrals": 0,
        "within": [0, 0],  # [decided within one working day, counted]
        "discussions": 0,
        "mat": {},
        "da": {},
    }


def _work_out(
    first: date, last: date, now: datetime, calendar: Calendar, pieces: list[date]
) -> dict[date, dict[str, Any]]:
    """Every figure from `first` to `last`, from the records, in pieces: each piece runs from its day (the
    first is `first`) to the day before the next. One read of each kind of record for the whole range, each
    through its date's index, grouped by piece in the database where the rows are many."""
    starts, ends = london_midnight(first), london_midnight(last + timedelta(days=1))
    days: dict[date, dict[str, Any]] = {piece: _empty() for piece in pieces}
    source = Case.referral_source
    in_range = (Case.created_at >= starts) & (Case.created_at < ends)
    day_of = _piece_number(Case.created_at, pieces)
    children = (
        select(day_of.label("day"), source.label("source"), CasePerson.outcome.label("outcome"))
        .join(Case, Case.id == CasePerson.case_id)
        .where(CasePerson.role == "child", _counted_case(), in_range)
    )
    # Grouped by the database: a range's contacts are thousands of rows at a large council, their groups few.
    each = children.subquery()
    grouped = select(each.c.day, each.c.source, each.c.outcome, func.count()).group_by(
        each.c.day, each.c.source, each.c.outcome
    )
    for n, code, outcome, count in db.session.execute(grouped).tuples():
        days[pieces[n]]["contacts"].append([code or UNKNOWN, outcome or NOT_DECIDED, count])
    # Asked apart from the children above: asking there whether each became a referral leads PostgreSQL to
    # read every referral ever made.
    became = select(Referral.id).where(Referral.child_id == CasePerson.id, Referral.accepted_at.is_not(None))
    each = children.where(became.exists()).subquery()
    grouped = select(each.c.day, each.c.source, func.count()).group_by(each.c.day, each.c.source)
    for n, code, count in db.session.execute(grouped).tuples():
        days[pieces[n]]["referred"].append([code or UNKNOWN, count])
    each = select(day_of.label("day")).where(_counted_case(), in_range).subquery()
    for n, count in db.session.execute(select(each.c.day, func.count()).group_by(each.c.day)).tuples():
        days[pieces[n]]["records"] += count
    referrals = (
        select(Referral.accepted_at, Referral.outcome_at, Referral.re_referral)
        .join(Case, Case.id == Referral.case_id)
        .where(_counted_case(), Referral.accepted_at >= starts, Referral.accepted_at < ends)
    )
    for accepted_at, outcome_at, again in db.session.execute(referrals).tuples():
        if accepted_at is None:  # the query asks for accepted referrals; this only tells the type checker
            continue
        day = days[_piece_of(accepted_at, pieces)]
        day["referrals"] += 1
        day["re_referrals"] += 1 if again else 0
        due = calendar.add_working_days(accepted_at, 1)
        if outcome_at is None and due > now:
            continue  # still inside its working day: neither met nor missed yet
        day["within"][1] += 1
        if outcome_at is not None and outcome_at <= due:
            day["within"][0] += 1
    discussions = (
        select(StrategyDiscussion.held_at)
        .join(Case, Case.id == StrategyDiscussion.case_id)
        .where(_counted_case(), StrategyDiscussion.held_at >= starts, StrategyDiscussion.held_at < ends)
    )
    for held_at in db.session.execute(discussions).scalars():
        if held_at is not None:
            days[_piece_of(held_at, pieces)]["discussions"] += 1
    for model, part in ((MatDecision, MatDecision.outcome), (DaTriageDecision, DaTriageDecision.level)):
        decisions = (
            select(model.decided_at, part)
            .join(Case, Case.id == model.case_id)
            .where(_counted_case(), model.decided_at >= starts, model.decided_at < ends)
        )
        key = "mat" if model is MatDecision else "da"
        for decided_at, value in db.session.execute(decisions).tuples():
            tally = days[_piece_of(decided_at, pieces)][key]
            tally[str(value)] = tally.get(str(value), 0) + 1
    for day in days.values():  # the same order whichever way the database grouped them
        day["contacts"].sort()
        day["referred"].sort()
    return days
