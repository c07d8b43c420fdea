"""Trays read the task mirror only (DESIGN.md rule 2): each row's clock colour and waiting time, sorting,
filters that leave unknown values off, pagination and counts.

The rows are written straight to the mirror, on an instance whose saved state is not a workflow at all: a tray
that tried to restore one would fail here."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select
from support import user

from app.extensions import db
from app.models import Case, ProcessBundle, ProcessInstance, Task, User
from app.services import trays, users

# A Tuesday in November: London is on GMT, so London and UTC read the same here.
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def instance(fresh) -> ProcessInstance:
    return new_instance("T-TRAYS")


def new_instance(reference: str) -> ProcessInstance:
    case = Case(reference=reference, source="phone", created_by_id=user("fpoc").id)
    db.session.add(case)
    db.session.flush()
    bundle = db.session.scalars(select(ProcessBundle)).first()
    row = ProcessInstance(case_id=case.id, bundle_id=bundle.id, flow="initial_contact", state="not a workflow")
    db.session.add(row)
    db.session.commit()
    return row


def mirror(instance: ProcessInstance, **fields: object) -> Task:
    values: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "instance_id": instance.id,
        "case_id": instance.case_id,
        "flow": "initial_contact",
        "bpmn_id": "ssw_review",
        "name": "Review the contact",
        "subject": "",
        "lane": "ssw",
        "team": "compass",
        "created_at": NOW - HOUR,
        "contact_made_at": db.session.get(Case, instance.case_id).created_at,
    }
    values |= fields
    task = Task(**values)
    db.session.add(task)
    db.session.commit()
    return task


def ids(page: trays.TrayPage) -> list[str]:
    return [row.task.id for row in page.rows]


# --- The clock's colour and the time waited -------------------------------------------------------------


@pytest.mark.parametrize(
    ("due", "colour"),
    [
        (None, None),
        (NOW - timedelta(days=3), "red"),
        (NOW - timedelta(seconds=1), "red"),
        (NOW, "red"),  # due now: no time left
        (NOW + timedelta(seconds=1), "amber"),
        (NOW + 2 * HOUR, "amber"),
        (NOW + 13 * HOUR + timedelta(minutes=59), "amber"),  # 23:59 the same London day
        (NOW + 14 * HOUR, "green"),  # midnight: tomorrow, and more than two hours away
        (NOW + timedelta(days=2), "green"),
    ],
)
def test_the_colour_of_a_clock(due: datetime | None, colour: str | None) -> None:
    assert trays.rag(due, NOW) == colour


def test_amber_within_two_hours_even_across_midnight() -> None:
    late = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)
    assert trays.rag(late + 2 * HOUR, late) == "amber"  # 00:30 tomorrow
    assert trays.rag(late + 2 * HOUR + timedelta(seconds=1), late) == "green"


def test_today_means_the_london_day_not_the_utc_one() -> None:
    # 1 July: London is on BST, an hour ahead of UTC.
    just_after_midnight_in_london = datetime(2026, 7, 1, 23, 30, tzinfo=UTC)  # 00:30 on 2 July in London
    assert trays.rag(datetime(2026, 7, 2, 20, 0, tzinfo=UTC), just_after_midnight_in_london) == "amber"
    midday = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert trays.rag(datetime(2026, 7, 1, 23, 30, tzinfo=UTC), midday) == "green"  # 00:30 tomorrow in London


@pytest.mark.parametrize(
    ("ago", "words"),
    [
        (timedelta(0), "less than a minute"),
        (timedelta(seconds=59), "less than a minute"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(minutes=59, seconds=59), "59 minutes"),
        (HOUR, "1 hour"),
        (timedelta(hours=23, minutes=59), "23 hours"),
        (timedelta(days=1), "1 day"),
        (timedelta(hours=50), "2 days"),
    ],
)
def test_how_long_a_task_has_waited_in_words(ago: timedelta, words: str) -> None:
    assert trays.waited(NOW - ago, NOW) == words


def test_the_tray_follows_the_clock(instance: ProcessInstance) -> None:
    due = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    task = mirror(instance, due_at=due, created_at=NOW)
    seen = []
    for moment in (NOW, due - 90 * timedelta(minutes=1), due):
        with time_machine.travel(moment, tick=False):
            (row,) = trays.tray(user("ssw"), "mine", {}).rows
        assert row.task.id == task.id
        seen.append((row.rag, row.waited))
    assert seen == [("green", "less than a minute"), ("amber", "21 hours"), ("red", "23 hours")]


# --- Sorting ------------------------------------------------------------------------------------------


def test_sorted_by_due_time_with_tasks_without_one_last(instance: ProcessInstance) -> None:
    none_old = mirror(instance, created_at=NOW - 9 * HOUR)
    later = mirror(instance, due_at=NOW + 5 * HOUR)
    overdue = mirror(instance, due_at=NOW - HOUR)
    soon = mirror(instance, due_at=NOW + HOUR)
    none_new = mirror(instance, created_at=NOW - HOUR)
    page = trays.tray(user("ssw"), "mine", {}, now=NOW)
    assert ids(page) == [overdue.id, soon.id, later.id, none_old.id, none_new.id]
    assert ids(trays.tray(user("ssw"), "mine", {"sort": "due"}, now=NOW)) == ids(page)


def test_sorted_by_time_waited(instance: ProcessInstance) -> None:
    newest = mirror(instance, created_at=NOW - HOUR, due_at=NOW)
    oldest = mirror(instance, created_at=NOW - 30 * HOUR)
    middle = mirror(instance, created_at=NOW - 3 * HOUR, due_at=NOW + HOUR)
    page = trays.tray(user("ssw"), "mine", {"sort": "waited"}, now=NOW)
    assert ids(page) == [oldest.id, middle.id, newest.id]


def test_sorted_by_the_childs_name(instance: ProcessInstance) -> None:
    zoe = mirror(instance, subject="Zoe Adams")
    nobody = mirror(instance, subject="")
    amy = mirror(instance, subject="amy Brown")  # as typed: the order ignores case
    ben = mirror(instance, subject="Ben Carter")
    page = trays.tray(user("ssw"), "mine", {"sort": "child"}, now=NOW)
    assert ids(page) == [amy.id, ben.id, zoe.id, nobody.id]


# --- Filters ------------------------------------------------------------------------------------------


def test_filter_by_flow_and_task(instance: ProcessInstance) -> None:
    review = mirror(instance)
    decide = mirror(instance, bpmn_id="ssw_decision", name="Decide threshold and outcome")
    mat = mirror(instance, flow="mat", bpmn_id="mat_review", name="Review in MAT")
    ssw = user("ssw")
    page = trays.tray(ssw, "mine", {}, now=NOW)
    assert page.options["flow"] == [("initial_contact", "Initial contact"), ("mat", "Multi Agency Triage")]
    assert page.options["task"] == [
        ("ssw_decision", "Decide threshold and outcome"),
        ("mat_review", "Review in MAT"),
        ("ssw_review", "Review the contact"),
    ]
    assert set(ids(trays.tray(ssw, "mine", {"flow": "mat"}, now=NOW))) == {mat.id}
    assert set(ids(trays.tray(ssw, "mine", {"flow": "initial_contact"}, now=NOW))) == {review.id, decide.id}
    assert set(ids(trays.tray(ssw, "mine", {"task": "ssw_decision"}, now=NOW))) == {decide.id}
    assert ids(trays.tray(ssw, "mine", {"flow": "mat", "task": "ssw_review"}, now=NOW)) == []


def test_filter_by_due(instance: ProcessInstance) -> None:
    overdue = mirror(instance, due_at=NOW - HOUR)
    tonight = mirror(instance, due_at=NOW + 13 * HOUR)  # 23:00 London
    tomorrow = mirror(instance, due_at=NOW + 14 * HOUR)  # midnight London
    no_time = mirror(instance)
    ssw = user("ssw")
    assert ids(trays.tray(ssw, "mine", {"due": "overdue"}, now=NOW)) == [overdue.id]
    assert ids(trays.tray(ssw, "mine", {"due": "today"}, now=NOW)) == [overdue.id, tonight.id]
    everything = [overdue.id, tonight.id, tomorrow.id, no_time.id]
    assert ids(trays.tray(ssw, "mine", {"due": "all"}, now=NOW)) == everything


def test_filter_by_team(instance: ProcessInstance) -> None:
    hub = mirror(instance, team="compass")
    anyone = mirror(instance, team=None)  # a task for the role whatever the team
    ssw = user("ssw")
    page = trays.tray(ssw, "mine", {}, now=NOW)
    assert set(ids(page)) == {hub.id, anyone.id}
    assert page.options["team"] == [("compass", "Compass hub")]
    assert ids(trays.tray(ssw, "mine", {"team": "compass"}, now=NOW)) == [hub.id]
    # The team tray holds only the user's own team: another team is no choice there, so it is left off.
    team = trays.tray(ssw, "team", {"team": "police"}, now=NOW)
    assert ids(team) == [hub.id] and team.filters.team == "" and len(team.ignored) == 1


def test_unknown_values_are_left_off_with_a_plain_message(instance: ProcessInstance) -> None:
    task = mirror(instance)
    args = {"flow": "no_such_flow", "task": "<script>", "due": "soonish", "sort": "random", "page": "two"}
    page = trays.tray(user("ssw"), "mine", args, now=NOW)
    assert ids(page) == [task.id]
    assert page.filters == trays.Filters()
    assert len(page.ignored) == 5
    assert all("<script>" not in message for message in page.ignored)


# --- Pages and counts ---------------------------------------------------------------------------------


def test_twenty_five_to_a_page(instance: ProcessInstance) -> None:
    made = [mirror(instance, created_at=NOW - n * timedelta(minutes=1)) for n in range(30)]
    ssw = user("ssw")
    first = trays.tray(ssw, "mine", {"sort": "waited"}, now=NOW)
    second = trays.tray(ssw, "mine", {"sort": "waited", "page": "2"}, now=NOW)
    assert (first.total, first.pages, len(first.rows), second.page, len(second.rows)) == (30, 2, 25, 2, 5)
    assert ids(first) + ids(second) == [t.id for t in reversed(made)]
    past_the_end = trays.tray(ssw, "mine", {"sort": "waited", "page": "9"}, now=NOW)
    assert past_the_end.page == 2 and ids(past_the_end) == ids(second)
    assert second.filters.args(page=1) == {"sort": "waited"}  # the link to page 1 keeps the order


def test_counts_and_who_holds_each_task(instance: ProcessInstance) -> None:
    ssw = user("ssw")
    colleague = users.create_user("colleague.ssw", "Colleague SSW", "colleague-password", ["ssw"], "compass")
    db.session.commit()
    free = mirror(instance)
    mine = mirror(instance, assignee_id=ssw.id, claimed_at=NOW - HOUR)
    theirs = mirror(instance, assignee_id=colleague.id, claimed_at=NOW - HOUR)
    mirror(instance, lane="police", team="police")  # another team's work
    assert trays.counts(ssw) == {"mine": 2, "team": 3}
    assert set(ids(trays.tray(ssw, "mine", {}, now=NOW))) == {free.id, mine.id}
    rows = {row.task.id: row for row in trays.tray(ssw, "team", {}, now=NOW).rows}
    assert set(rows) == {free.id, mine.id, theirs.id}
    summary = {
        task_id: (row.holder, row.mine, row.may_open, row.may_claim, row.may_release, row.may_reassign)
        for task_id, row in rows.items()
    }
    assert summary == {
        free.id: (None, False, True, True, False, False),
        mine.id: ("Demo senior social worker", True, True, False, True, False),
        theirs.id: ("Colleague SSW", False, False, False, False, False),
    }
    manager = user("team_manager")
    as_manager = {row.task.id: row for row in trays.tray(manager, "team", {}, now=NOW).rows}
    assert as_manager[theirs.id].may_reassign and as_manager[theirs.id].may_release
    assert as_manager[free.id].may_reassign and not as_manager[free.id].may_claim


def test_a_partner_tray_holds_none_of_the_hub_work(instance: ProcessInstance) -> None:
    mirror(instance)
    partner: User = user("partner")
    assert trays.tray(partner, "mine", {}, now=NOW).rows == []
    assert trays.tray(partner, "team", {}, now=NOW).rows == []
    assert trays.counts(partner) == {"mine": 0, "team": 0}
