"""The figures kept day by day: a report adds up kept days, and every change to a record a kept day counts
makes the next report count that day again, so kept figures are never stale.

Each change is made the way the services make it, through the session, after a report has kept the days;
the next report must then equal one counted from nothing (every kept day thrown away) and differ from the
first as worked out by hand from figures_cases.json."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from figures_data import KNOWN, KNOWN_PERIOD, load_known_cases
from flask import current_app
from sqlalchemy import delete, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from support import seen_waiting_for_a_lock

from app.extensions import db
from app.models import Case, CasePerson, FiguresDay, Person, Referral
from app.models.mat import MatDecision
from app.models.strategy import StrategyDiscussion
from app.services import figures, figures_days, plain_sql, retention

# Two months after the known quarter ends: every day of it is settled, so every day is kept.
LATER = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
OCTOBER = figures.Period(date(2026, 10, 1), date(2026, 10, 31))


def summary(found: figures.Figures) -> dict[str, Any]:
    """Every figure of a report, as plain values."""
    return {
        "rows": figures.as_rows(found),
        "by_month": [(m.title, m.contacts, m.referrals, m.strategy_discussions) for m in found.by_month],
    }


def afresh(period: figures.Period) -> dict[str, Any]:
    """The figures counted from nothing: every kept day thrown away first."""
    db.session.execute(delete(FiguresDay))
    db.session.commit()
    return summary(figures.compute(period))


@contextmanager
def reads() -> Iterator[list[str]]:
    sent: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append(statement)

    event.listen(Engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", note)


@pytest.fixture
def kept(fresh) -> Iterator[dict[str, Any]]:
    """The known cases, reported on once two months after their quarter, which keeps all its days."""
    with time_machine.travel(LATER, tick=False):
        load_known_cases(KNOWN["cases"])
        first = summary(figures.compute(KNOWN_PERIOD))
        yield first


def case_named(name: str) -> Case:
    number = next(n for n, spec in enumerate(KNOWN["cases"], start=1) if spec["name"] == name)
    return db.session.scalar(select(Case).where(Case.reference == f"FIG-{number:03d}"))


def figure(report: dict[str, Any], measure: str, part: str = "") -> list[Any]:
    return next(row[2:] for row in report["rows"] if row[0] == measure and row[1] == part)


def test_a_settled_quarter_is_kept_and_added_up_without_reading_a_record(kept) -> None:
    days = db.session.scalars(
        select(FiguresDay).where(FiguresDay.day >= KNOWN_PERIOD.first, FiguresDay.day <= KNOWN_PERIOD.last)
    ).all()
    assert sorted(d.day for d in days) == [KNOWN_PERIOD.first + timedelta(days=n) for n in range(92)]
    assert all(d.counts is not None for d in days)
    with reads() as sent:
        again = summary(figures.compute(KNOWN_PERIOD))
    assert again == kept
    assert all("figures_day" in statement for statement in sent), sent
    # The same figures as the hand-worked ones in figures_cases.json (the figures' own tests check each).
    assert figure(kept, "contacts") == [KNOWN["expected"]["contacts"], "", KNOWN["expected"]["contacts"]]
    assert afresh(KNOWN_PERIOD) == kept


def test_days_not_yet_settled_are_counted_each_time_and_never_kept(fresh) -> None:
    # The report's moment is 4 pm on 31 December: the last days of the quarter are inside their working day.
    now = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        load_known_cases(KNOWN["cases"])
        first = summary(figures.compute(KNOWN_PERIOD))
        kept_days = set(db.session.scalars(select(FiguresDay.day).where(FiguresDay.counts.is_not(None))))
        # Whatever was accepted on 29 December was due by the close of 30 December; on 30 December, by the
        # close of 31 December (5 pm); on 31 December, by the close of 4 January (1 January is a bank holiday,
        # then a weekend).
        assert kept_days == {KNOWN_PERIOD.first + timedelta(days=n) for n in range(90)}, sorted(kept_days)[:3]
        assert summary(figures.compute(KNOWN_PERIOD)) == first
    assert first["rows"][0][0] == "measure"


# Each change, and what it moves in the known quarter's figures (figures_cases.json), worked out by hand.
CHANGES: dict[str, dict[tuple[str, str], int]] = {
    # C1 (two children, one referred on 1 October) was recorded in error.
    "void": {("contacts", ""): -2, ("contact_records", ""): -1, ("referrals", ""): -1},
    # C3's child, not decided yet, gets no further action.
    "outcome": {("contacts_by_outcome", "No further action"): 1, ("contacts_by_outcome", "Not decided yet"): -1},
    # C3 was recorded without a source; it came from a school.
    "source": {("contacts_by_source", "2A Schools"): 1, ("contacts_by_source", "10 Unknown"): -1},
    # C3's child is referred in March: the quarter's conversion counts it (referrals up to the report).
    "referral_accepted_later": {("conversion_to_referral", ""): 1, ("referrals", ""): 0},
    # C6's referral, accepted on 31 December and missed, was in fact decided within the hour.
    "referral_decided": {("referral_decisions_within_one_working_day", ""): 1},
    # A strategy discussion for C3, held on 20 October.
    "discussion_held": {("strategy_discussions", ""): 1},
    # C3's triage decision had the wrong date: 11 November is moved to 1 January.
    "mat_moved": {("mat_outcomes", "Further agency checks"): -1},
    # A second child added to C3.
    "new_child": {("contacts", ""): 1, ("contact_records", ""): 0},
    # The outcome and the source again, each written at once by a plain statement (as a completion writes a
    # child's decision and a case's closing) rather than by the session's flush.
    "outcome_written_at_once": {
        ("contacts_by_outcome", "No further action"): 1,
        ("contacts_by_outcome", "Not decided yet"): -1,
    },
    "source_written_at_once": {("contacts_by_source", "2A Schools"): 1, ("contacts_by_source", "10 Unknown"): -1},
}


def make(change: str) -> None:
    c1, c3, c6 = case_named("C1"), case_named("C3"), case_named("C6")
    child = db.session.scalar(select(CasePerson).where(CasePerson.case_id == c3.id, CasePerson.role == "child"))
    if change == "void":
        c1.voided_at, c1.void_reason = LATER, "Recorded on the wrong family"
    elif change == "outcome":
        child.outcome = "no_further_action"
    elif change == "source":
        c3.referral_source = "2A"
    elif change == "referral_accepted_later":
        db.session.add(
            Referral(
                case_id=c3.id,
                child_id=child.id,
                person_id=child.person_id,
                threshold="s17",
                route="consent_given",
                accepted_at=LATER,
                re_referral=False,
            )
        )
    elif change == "referral_decided":
        referral = db.session.scalar(select(Referral).where(Referral.case_id == c6.id))
        referral.outcome_at, referral.outcome = referral.accepted_at + timedelta(hours=1), "assessment"
    elif change == "discussion_held":
        held = datetime(2026, 10, 20, 10, 0, tzinfo=UTC)
        db.session.add(StrategyDiscussion(case_id=c3.id, chair="team_manager", held_at=held))
    elif change == "mat_moved":
        decision = db.session.scalar(select(MatDecision).where(MatDecision.case_id == c3.id))
        decision.decided_at = datetime(2027, 1, 1, 10, 0, tzinfo=UTC)
    elif change == "outcome_written_at_once":
        plain_sql.update_row(child, {"outcome": "no_further_action", "decided_at": LATER})
    elif change == "source_written_at_once":
        plain_sql.update_row(c3, {"referral_source": "2A"})
    elif change == "new_child":
        person = Person(name="Child Z", name_key="child z")
        db.session.add(CasePerson(case=c3, person=person, key="child-9", role="child", outcome=None))


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_each_change_to_a_kept_day_is_counted_on_the_next_report(kept, change: str) -> None:
    with time_machine.travel(LATER + timedelta(hours=1), tick=False):
        make(change)
        db.session.commit()
        after = summary(figures.compute(KNOWN_PERIOD))
        for (measure, part), moved in CHANGES[change].items():
            assert figure(after, measure, part)[0] - figure(kept, measure, part)[0] == moved, (measure, part)
        assert afresh(KNOWN_PERIOD) == after


def test_a_case_erased_at_the_end_of_its_retention_leaves_the_kept_figures(kept) -> None:
    c1 = case_named("C1")
    with time_machine.travel(LATER, tick=False):
        figures_days.case_removed(c1.id)
        retention._erase(c1)
        db.session.commit()
        after = summary(figures.compute(KNOWN_PERIOD))
    assert figure(after, "contacts")[0] == figure(kept, "contacts")[0] - 2
    assert afresh(KNOWN_PERIOD) == after


def test_counts_worked_out_before_a_change_are_not_kept_after_it(kept) -> None:
    """A report read a day's version, then a change to that day committed, then the report came to keep what
    it counted: the day stays to be counted again."""
    day = date(2026, 11, 10)
    row = db.session.get(FiguresDay, day)
    read_version, stale = row.version, dict(row.counts)
    with time_machine.travel(LATER, tick=False):
        c3 = case_named("C3")
        c3.referral_source = "6"
        db.session.commit()
        db.session.expire_all()
        row = db.session.get(FiguresDay, day)
        assert row.counts is None and row.version == read_version + 1
        assert figures_days._keep(day, stale, (None, read_version), LATER) is True  # the database took it ...
        db.session.expire_all()
        assert db.session.get(FiguresDay, day).counts is None  # ... but kept nothing: the version moved on
        assert figures_days._keep(day, {"fresh": 1}, (None, read_version + 1), LATER) is True
        db.session.expire_all()
        assert db.session.get(FiguresDay, day).counts == {"fresh": 1}


def test_a_change_to_a_day_not_yet_settled_writes_nothing_for_the_figures(fresh) -> None:
    """Most changes are to today's contacts, which no report keeps yet: they cost the figures nothing."""
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    with time_machine.travel(now, tick=False), reads():
        c3 = KNOWN["cases"][2]
        child = {key: value for key, value in c3["children"][0].items() if key != "mat"}
        load_known_cases([dict(c3, created_at="2026-11-25T09:00:00Z", children=[child])])
        assert db.session.scalars(select(FiguresDay)).all() == []


def test_the_october_figures_count_only_octobers_days(kept) -> None:
    with time_machine.travel(LATER, tick=False):
        october = figures.compute(OCTOBER)
    assert [m.title for m in october.by_month] == ["October 2026"]
    assert october.contacts == october.by_month[0].contacts
    assert afresh(OCTOBER) == summary(october)


def test_days_not_yet_settled_across_a_months_end_fall_in_their_own_months(fresh) -> None:
    """On the afternoon of 30 November the days from 30 November on are not settled: they are counted
    together, yet each month's figures hold only that month's."""
    with time_machine.travel(datetime(2026, 11, 30, 16, 0, tzinfo=UTC), tick=False):
        load_known_cases(KNOWN["cases"])
        found = figures.compute(KNOWN_PERIOD)
        kept_days = set(db.session.scalars(select(FiguresDay.day).where(FiguresDay.counts.is_not(None))))
    # Thursday 26 November settled at the close of Friday; what came in from Friday on is due by 5 pm on Monday.
    assert max(kept_days) == date(2026, 11, 26)
    counted = {m.title: [m.contacts, m.referrals, m.strategy_discussions] for m in found.by_month}
    assert counted == KNOWN["expected"]["by_month"]


@pytest.mark.postgres_only
def test_a_report_keeping_a_day_waits_for_a_change_to_it_and_keeps_nothing(pg_fresh) -> None:
    """On PostgreSQL, with the report and the change on separate connections: the change has cleared the day
    but not committed when the report comes to keep the counts it worked out before. The report waits for the
    change, then keeps nothing, and the day is counted again next time."""
    day = date(2026, 11, 10)  # C3's contact
    with time_machine.travel(LATER, tick=False):
        load_known_cases(KNOWN["cases"])
        figures.compute(KNOWN_PERIOD)
        stale = db.session.get(FiguresDay, day)
        seen = (stale.counts, stale.version)

        change = Session(bind=db.engine)
        case = change.get(Case, case_named("C3").id)
        case.referral_source = "6"
        change.flush()
        figures_days._clear(change)  # what committing does first: the day is cleared, its row held till commit

        app = current_app._get_current_object()
        kept: list[bool] = []

        def keep() -> None:
            with app.app_context():
                kept.append(figures_days._keep(day, dict(seen[0]), seen, LATER))

        report = threading.Thread(target=keep)
        report.start()
        assert seen_waiting_for_a_lock("UPDATE figures_day", report), "the report did not wait for the change"
        assert report.is_alive()
        change.commit()
        change.close()
        report.join(10)
        assert kept == [True]
        db.session.expire_all()
        row = db.session.get(FiguresDay, day)
        assert row.counts is None and row.version == seen[1] + 1
        assert figure(summary(figures.compute(KNOWN_PERIOD)), "contacts_by_source", "6 Police")[0] == 4
