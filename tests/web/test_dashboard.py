"""/dashboard, the managers' view of every case in flight: overdue work first, counts by flow and step, each
team's and worker's workload, filters that narrow all of it (a bad one is explained, with what was typed kept),
pages of fifty, the same list as CSV, and what a manager may not see left out: a LADO allegation's work for a
team manager, a restricted record's names, a voided contact."""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import pytest
import time_machine
from sqlalchemy import delete, select
from support import user

from app.extensions import db
from app.models import AuditEvent, Case, Task, TaskClock
from app.services import bundles, case_actions, claims, contacts, dashboard, scenarios, workflow
from app.services.restricted import restrict

# November: London keeps GMT, so these moments are London times too. 23 November 2026 is a Monday.
MON = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TUE = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
# Tuesday's other contacts come a few minutes apart, so that no two tasks tie on their due time.
TUE_LATER = TUE + timedelta(minutes=5)
TUE_LAST = TUE + timedelta(minutes=10)
TUE_AFTERNOON = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
WED = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
LOOK = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # when the managers look: Wednesday at noon


def _scenario(flow: str, stem: str) -> dict[str, Any]:
    path = bundles.PROCESSES_DIR / flow / "scenarios" / f"{stem}.json"
    return copy.deepcopy(json.loads(path.read_text(encoding="utf-8")))


def at(moment: datetime) -> Any:
    return time_machine.travel(moment, tick=False)


def record(
    moment: datetime, name: str, born: str, source: str | None = None, stem: str = "below_threshold_advice"
) -> Case:
    """A contact about one child, made by phone at `moment`: the senior social worker's review waits for it."""
    start = _scenario("initial_contact", stem)["start"]
    start["children"] = [{**start["children"][0], "name": name, "date_of_birth": born}]
    if source:
        start["referrer"]["source"] = source
    with at(moment):
        return contacts.record_contact(user("fpoc"), start)


def two_children(moment: datetime) -> Case:
    """Two children on one contact: the first decided (no further action), the second still pending review."""
    scenario = _scenario("initial_contact", "two_children_decided_apart_unsafe_address")
    text = json.dumps(scenario).replace("Amy Example", "Gil Decided").replace("Ben Example", "Hal Pending")
    scenario = json.loads(text)
    scenario["steps"], scenario["expect"] = scenario["steps"][:2], {}
    with at(moment):
        result = scenarios.run(scenario)
    assert result.mismatches == []
    return db.session.get(Case, result.case_id)


def allegation(moment: datetime) -> Case:
    """A contact raising an allegation against a teacher: the LADO's consideration waits beside the review."""
    start = _scenario("initial_contact", "allegation_against_a_teacher_goes_to_the_lado")["start"]
    start["children"] = [{**start["children"][0], "name": "Eve Allegation", "date_of_birth": "2013-05-05"}]
    with at(moment):
        return contacts.record_contact(user("fpoc"), start)


def task_of(case: Case, bpmn_id: str = "ssw_review") -> Task:
    task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == bpmn_id))
    assert task is not None
    return task


@dataclass
class World:
    ada: Case  # Monday's contact, from a school, due Tuesday 10:00: overdue
    ben: Case  # Tuesday's, from the police, due Wednesday 10:00: overdue
    cal: Case  # Tuesday afternoon's, due Wednesday 15:00: due today
    dee: Case  # Wednesday's, due Thursday 11:00: on time
    eve: Case  # Tuesday's allegation: a review and the LADO's consideration, both overdue
    gil: Case  # Tuesday's two children, one decided


@pytest.fixture
def world(fresh) -> World:
    found = World(
        ada=record(MON, "Ada Overdue", "2015-01-01", source="2A"),
        ben=record(TUE, "Ben Late", "2015-02-02", source="6"),
        cal=record(TUE_AFTERNOON, "Cal Today", "2015-03-03"),
        dee=record(WED, "Dee Later", "2015-04-04"),
        eve=allegation(TUE_LATER),
        gil=two_children(TUE_LAST),
    )
    # One working day each, as the diagram sets it.
    dues = {name: task_of(getattr(found, name)).due_at for name in ("ada", "ben", "cal", "dee")}
    assert dues == {
        "ada": datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
        "ben": datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
        "cal": datetime(2026, 11, 25, 15, 0, tzinfo=UTC),
        "dee": datetime(2026, 11, 26, 11, 0, tzinfo=UTC),
    }
    return found


def signed_in(web: Any, role: str) -> Any:
    with at(LOOK):
        return web.another().login(role)


def look(client: Any, url: str = "/dashboard", expect: int = 200) -> str:
    with at(LOOK):
        return client.get(url, expect=expect)


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def work_rows(html: str) -> list[str]:
    """The open work table's rows, in order, as plain text."""
    return [text(row) for row in re.findall(r'<tr class="govuk-table__row" id="task-.*?</tr>', html, re.S)]


def children_listed(html: str) -> list[str]:
    names = ("Ada Overdue", "Ben Late", "Cal Today", "Dee Later", "Eve Allegation", "Gil Decided")
    return [next((n for n in names if n in row), row) for row in work_rows(html)]


def test_overdue_work_comes_first_then_by_due_time_with_its_tag(world: World, web) -> None:
    page = look(signed_in(web, "service_manager"))
    rows = work_rows(page)
    assert len(rows) == 7
    # Overdue: Ada's review (due Tuesday), then Wednesday morning's four by their due times, then today's, then
    # tomorrow's.
    assert children_listed(page) == [
        "Ada Overdue",
        "Ben Late",
        "Eve Allegation",
        "Eve Allegation",
        "Gil Decided",
        "Cal Today",
        "Dee Later",
    ]
    assert rows[0].startswith(world.ada.reference)
    assert "24 November 2026, 10:00 Overdue" in rows[0] and "2 days" in rows[0]
    assert "25 November 2026, 10:10 Overdue" in rows[4]
    assert "25 November 2026, 15:00 Due today" in rows[5] and "21 hours" in rows[5]
    assert "26 November 2026, 11:00 On time" in rows[6] and "1 hour" in rows[6]
    assert "Gil Decided, Hal Pending" in rows[4]  # every child of the contact
    assert f'href="/cases/{world.ada.id}"' in page
    assert "Compass hub" in rows[0] and "Not claimed" in rows[0] and "Review the contact Initial contact" in rows[0]


def running_clocks() -> dict[str, datetime]:
    open_clocks = select(TaskClock).where(TaskClock.met_at.is_(None), TaskClock.stopped_at.is_(None))
    return {clock.task_id: clock.due_at for clock in db.session.scalars(open_clocks)}


def test_each_open_tasks_due_time_is_its_running_clocks_even_after_the_mirror_is_rebuilt(world: World) -> None:
    """The dashboard reads when a task is due, and so whether its clock is overdue, from the task mirror: it
    must be the statutory clock's own due time, for every open task, and stay so when the mirror is rebuilt
    from the saved workflows a day later (flask reindex)."""
    due = {task.id: task.due_at for task in db.session.scalars(select(Task))}
    assert len(due) == 7 and due == running_clocks()
    with at(LOOK + timedelta(days=1)):
        db.session.execute(delete(Task))
        db.session.commit()
        workflow.rebuild_mirror()
        db.session.expire_all()
        rebuilt = {task.id: task.due_at for task in db.session.scalars(select(Task))}
        work = dashboard.in_flight(user("service_manager"), dashboard.Filters())
    assert rebuilt == due == running_clocks()
    assert [(row.task_id, row.due_at, row.clock) for row in work.rows][-1] == (
        task_of(world.dee).id,
        datetime(2026, 11, 26, 11, 0, tzinfo=UTC),
        "overdue",
    )


def test_counts_by_flow_and_step_with_how_many_are_overdue(world: World, web) -> None:
    manager = user("service_manager")
    with at(LOOK):
        steps = dashboard.by_step(manager, dashboard.Filters())
        flows = dashboard.by_flow(manager, dashboard.Filters())
    assert [(s.flow_title, s.step, s.tasks, s.overdue) for s in steps] == [
        ("Initial contact", "Review the contact", 6, 4),
        ("LADO allegation", "Consider the allegation", 1, 1),
    ]
    assert [(f.title, f.cases, f.tasks, f.overdue) for f in flows] == [
        ("Initial contact", 6, 6, 4),
        ("LADO allegation", 1, 1, 1),
    ]
    page = text(look(signed_in(web, "service_manager")))
    assert "Initial contact 6 6 4" in page
    assert "Initial contact Review the contact 6 4 overdue" in page
    assert "LADO allegation Consider the allegation 1 1 overdue" in page


def test_workload_per_team_and_worker_after_a_claim(world: World, web) -> None:
    with at(TUE + timedelta(hours=1)):
        claims.claim(user("ssw"), task_of(world.ada).id)
    manager = signed_in(web, "service_manager")
    with at(LOOK):
        load = dashboard.workload(user("service_manager"), dashboard.Filters())
    assert [(w.label, w.tasks, w.overdue, w.waited) for w in load.workers] == [
        ("Not claimed", 6, 4, "1 day"),
        ("Demo senior social worker", 1, 1, "2 days"),
    ]
    assert [(t.label, t.tasks, t.overdue, t.waited) for t in load.teams] == [
        ("Compass hub", 6, 4, "2 days"),
        ("LADO", 1, 1, "1 day"),
    ]
    page = look(manager)
    assert "Demo senior social worker" in work_rows(page)[0]
    assert "Demo senior social worker 1 1 2 days" in text(page)
    mine = look(manager, f"/dashboard?worker={user('ssw').id}")
    assert children_listed(mine) == ["Ada Overdue"]
    assert len(work_rows(look(manager, "/dashboard?worker=none"))) == 6


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("flow=lado", ["Eve Allegation"]),
        (
            "flow=initial_contact&step=Review+the+contact",
            ["Ada Overdue", "Ben Late", "Eve Allegation", "Gil Decided", "Cal Today", "Dee Later"],
        ),
        ("step=Consider+the+allegation", ["Eve Allegation"]),
        ("team=lado", ["Eve Allegation"]),
        ("source=2A", ["Ada Overdue"]),
        ("source=6", ["Ben Late"]),
        ("outcome=no_further_action", ["Gil Decided"]),
        (
            "outcome=pending",
            ["Ada Overdue", "Ben Late", "Eve Allegation", "Eve Allegation", "Gil Decided", "Cal Today", "Dee Later"],
        ),
        ("from=2026-11-25", ["Dee Later"]),
        ("to=2026-11-23", ["Ada Overdue"]),
        (
            "from=24%2F11%2F2026&to=2026-11-24",
            ["Ben Late", "Eve Allegation", "Eve Allegation", "Gil Decided", "Cal Today"],
        ),
        ("source=2A&from=2026-11-24", []),
    ],
)
def test_each_filter_narrows_the_list_the_counts_and_the_workload(
    world: World, web, query: str, expected: list[str]
) -> None:
    page = look(signed_in(web, "service_manager"), f"/dashboard?{query}")
    assert children_listed(page) == expected
    if expected:
        assert f"{len(expected)} open task{'' if len(expected) == 1 else 's'}, overdue first" in text(page)
    else:
        assert "No open work matches these filters." in text(page)
    with at(LOOK):
        form = dashboard.read_filters(user("service_manager"), dict(parse_qsl(query)))
        assert form.errors == {}
        steps = dashboard.by_step(user("service_manager"), form.filters)
        load = dashboard.workload(user("service_manager"), form.filters)
    assert (
        sum(s.tasks for s in steps)
        == sum(t.tasks for t in load.teams)
        == sum(w.tasks for w in load.workers)
        == len(expected)
    )


def test_the_contact_date_is_a_london_date(fresh) -> None:
    """In summer, half past eleven at night in UTC is already the next day in London."""
    late = record(datetime(2026, 6, 1, 23, 30, tzinfo=UTC), "Ivy Summer", "2016-06-06")
    manager = user("service_manager")
    with at(LOOK):
        on_the_second = dashboard.in_flight(
            manager, dashboard.Filters(date_from=date(2026, 6, 2), date_to=date(2026, 6, 2))
        )
        on_the_first = dashboard.in_flight(manager, dashboard.Filters(date_to=date(2026, 6, 1)))
    assert [r.case_id for r in on_the_second.rows] == [late.id]
    assert on_the_first.rows == []


@pytest.mark.parametrize(
    ("query", "message", "kept", "listed"),
    [
        (
            "from=2026-02-30",
            "Enter the date the contact was made from as a real date",
            'value="2026-02-30"',
            ["Ada Overdue"],
        ),
        (
            "to=next+tuesday",
            "Enter the date the contact was made to as a real date",
            'value="next tuesday"',
            ["Ada Overdue"],
        ),
        (
            "from=2026-11-23&to=2026-11-01",
            "must be the same as or after the date from",
            'value="2026-11-01"',
            ["Ada Overdue"],
        ),
        (
            "from=9999-12-31",
            "Enter the date the contact was made from as a real date",
            'value="9999-12-31"',
            ["Ada Overdue"],
        ),
        ("flow=nope", "Choose a flow from the list", "", ["Ada Overdue"]),
        ("worker=%C2%B2", "Choose a worker from the list", "", ["Ada Overdue"]),
        ("worker=99999999", "Choose a worker from the list", "", ["Ada Overdue"]),
        ("outcome=%3Cb%3E", "Choose an outcome from the list", "", ["Ada Overdue"]),
        ("step=Not+a+step", "No open work is at that step now", "", ["Ada Overdue"]),
        ("source=ZZ&team=lado", "Choose who made the contact from the list", "", ["Eve Allegation"]),
    ],
)
def test_a_bad_filter_is_explained_with_what_was_typed_kept(
    world: World, web, query: str, message: str, kept: str, listed: list[str]
) -> None:
    manager = signed_in(web, "service_manager")
    url = f"/dashboard?{query}" if "source=" in query else f"/dashboard?{query}&source=2A"
    page = look(manager, url, expect=400)
    assert "There is a problem" in page and "govuk-error-summary" in page and message in page
    assert "Error: Dashboard" in page and kept in page and "Traceback" not in page
    assert children_listed(page) == listed  # what was chosen well still applies; the bad value is left off
    csv_page = look(manager, url.replace("/dashboard?", "/dashboard/export.csv?"), expect=400)
    assert message in csv_page and "There is a problem" in csv_page


def test_a_page_number_out_of_range_shows_a_page(world: World, web) -> None:
    manager = signed_in(web, "service_manager")
    assert len(work_rows(look(manager, f"/dashboard?page={10**30}"))) == 7
    assert len(work_rows(look(manager, "/dashboard?page=7"))) == 7  # past the end: the last page


def test_fifty_rows_a_page_and_the_next_keeps_the_filters(fresh, web) -> None:
    made = [
        record(
            MON + timedelta(minutes=n), f"Child {n:02d} Paged", (date(2010, 1, 1) + timedelta(days=n)).isoformat(), "2A"
        )
        for n in range(51)
    ]
    manager = signed_in(web, "service_manager")
    first = look(manager, "/dashboard?source=2A")
    assert len(work_rows(first)) == 50
    assert "51 open tasks, overdue first: page 1 of 2" in text(first)
    assert "Child 00 Paged" in first and "Child 50 Paged" not in first
    link = re.search(r'<a class="govuk-link govuk-pagination__link" href="([^"]+)" rel="next">', first)
    assert link is not None
    assert link.group(1).replace("&amp;", "&") == "/dashboard?page=2&source=2A"
    second = look(manager, "/dashboard?page=2&source=2A")
    assert [row.split(" ")[0] for row in work_rows(second)] == [made[50].reference]
    assert "Child 50 Paged" in second and 'rel="prev"' in second


def test_the_csv_holds_the_same_work_with_restricted_names_left_out(world: World, web) -> None:
    formula = record(TUE_AFTERNOON + timedelta(minutes=1), '=HYPERLINK("http://x.example")', "2012-12-12")
    restrict(user("team_manager"), world.cal.id, "The family of a member of the hub's staff")
    with at(TUE + timedelta(hours=1)):
        claims.claim(user("ssw"), task_of(world.ada).id)
    manager = signed_in(web, "service_manager")
    with at(LOOK):
        response = manager.client.get("/dashboard/export.csv?team=compass&from=2026-11-23&to=2026-11-24")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="open-work-2026-11-25.csv"'
    body = response.get_data(as_text=True)
    assert "Cal Today" not in body
    assert list(csv.reader(io.StringIO(body))) == [
        [
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
        ],
        [
            world.ada.reference,
            "Ada Overdue",
            "Initial contact",
            "Review the contact",
            "Compass hub",
            "Demo senior social worker",
            "2026-11-24 10:00",
            "Overdue",
            "2026-11-23",
            "2",
            "2A",
        ],
        [
            world.ben.reference,
            "Ben Late",
            "Initial contact",
            "Review the contact",
            "Compass hub",
            "Not claimed",
            "2026-11-25 10:00",
            "Overdue",
            "2026-11-24",
            "1",
            "6",
        ],
        [
            world.eve.reference,
            "Eve Allegation",
            "Initial contact",
            "Review the contact",
            "Compass hub",
            "Not claimed",
            "2026-11-25 10:05",
            "Overdue",
            "2026-11-24",
            "1",
            "10",
        ],
        [
            world.gil.reference,
            "Gil Decided; Hal Pending",
            "Initial contact",
            "Review the contact",
            "Compass hub",
            "Not claimed",
            "2026-11-25 10:10",
            "Overdue",
            "2026-11-24",
            "1",
            "10",
        ],
        [
            world.cal.reference,
            "Restricted record",
            "Initial contact",
            "Review the contact",
            "Compass hub",
            "Not claimed",
            "2026-11-25 15:00",
            "Due today",
            "2026-11-24",
            "0",
            "10",
        ],
        [
            formula.reference,
            '\'=HYPERLINK("http://x.example")',
            "Initial contact",
            "Review the contact",
            "Compass hub",
            "Not claimed",
            "2026-11-25 15:01",
            "Due today",
            "2026-11-24",
            "0",
            "10",
        ],
    ]
    (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.name == "DASHBOARD_EXPORTED"))
    assert (event.user_id, event.data) == (user("service_manager").id, {"rows": 6})


def test_a_restricted_record_is_listed_without_its_childs_name(world: World, web) -> None:
    restrict(user("team_manager"), world.gil.id, "The family of a member of the hub's staff")
    page = look(signed_in(web, "team_manager"))
    assert "Gil Decided" not in page and "Hal Pending" not in page
    (row,) = [r for r in work_rows(page) if r.startswith(world.gil.reference)]
    assert "Restricted record" in row and "Restricted record, Restricted record" not in row
    assert f'href="/cases/{world.gil.id}"' in page


def test_a_team_manager_does_not_see_the_lado_allegations_work(world: World, web) -> None:
    manager = signed_in(web, "team_manager")
    page = look(manager)
    assert "Consider the allegation" not in page and "LADO allegation" not in page
    assert children_listed(page).count("Eve Allegation") == 1  # the contact's own review, which the hub does
    assert "6 open tasks, overdue first" in text(page)
    assert "Initial contact 6 6 4" in text(page)
    assert "LADO 1 1" not in text(page)
    assert "There is a problem" in look(manager, "/dashboard?flow=lado", expect=400)
    assert "There is a problem" in look(manager, "/dashboard?step=Consider+the+allegation", expect=400)
    assert children_listed(look(manager, "/dashboard?team=lado")) == []
    with at(LOOK):
        body = manager.client.get("/dashboard/export.csv").get_data(as_text=True)
    assert "Consider the allegation" not in body and len(list(csv.reader(io.StringIO(body)))) == 7
    # The service manager answers for the LADO's work too.
    assert "Consider the allegation" in look(signed_in(web, "service_manager"))


def test_a_voided_contact_is_not_in_flight(world: World, web) -> None:
    with at(LOOK):
        case_actions.void(user("ssw"), world.ben.id, "Recorded in error: the wrong family")
    manager = signed_in(web, "service_manager")
    page = look(manager)
    assert "Ben Late" not in page and world.ben.reference not in page
    assert "6 open tasks, overdue first" in text(page)
    with at(LOOK):
        body = manager.client.get("/dashboard/export.csv").get_data(as_text=True)
    assert world.ben.reference not in body


def test_the_menu_and_links_for_managers_only(world: World, web) -> None:
    page = look(signed_in(web, "team_manager"))
    assert 'href="/dashboard"' in page and 'href="/failed-steps"' in page and 'href="/figures"' in page
    assert 'href="/dashboard/export.csv"' in page
    ssw = signed_in(web, "ssw")
    assert 'href="/dashboard"' not in look(ssw, "/tasks")
    look(ssw, "/dashboard", expect=403)
    look(ssw, "/dashboard/export.csv", expect=403)
