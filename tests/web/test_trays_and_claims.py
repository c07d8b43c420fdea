"""The trays and claims through the web: what a row shows, filters and pages that never fail, claim, release
and reassign with their banners, who holds a task shown to colleagues, and the plain 403 and 409 answers."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import select
from support import user

from app.extensions import db
from app.models import AuditEvent, Task, User
from app.services import bundles, contacts, users

SCENARIO = json.loads(
    (bundles.PROCESSES_DIR / "initial_contact" / "scenarios" / "below_threshold_advice.json").read_text(
        encoding="utf-8"
    )
)
CHILD = SCENARIO["start"]["children"][0]["name"]
# A Tuesday in November: London is on GMT. Tests that move the clock sign in at this moment too.
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def at(moment: datetime) -> Any:
    return time_machine.travel(moment, tick=False)


@pytest.fixture
def review(fresh) -> Task:
    """The senior social worker's review of a contact recorded at 10:00, due at 11:00."""
    with time_machine.travel(NOW, tick=False):
        case = contacts.record_contact(user("fpoc"), SCENARIO["start"])
    task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "ssw_review"))
    task.due_at = NOW + timedelta(hours=1)  # the mirror's due time, set here so the test fixes the clock
    db.session.commit()
    return task


def colleague(web: Any) -> tuple[User, Any]:
    """Another senior social worker in the hub, signed in on a client of their own."""
    made = users.create_user("colleague.ssw", "Colleague SSW", "colleague-password", ["ssw"], "compass")
    db.session.commit()
    client = web.another()
    client.post("/login", {"username": "colleague.ssw", "password": "colleague-password"}, expect=302)
    return made, client


def press(client: Any, page: str, action: str, data: dict[str, Any] | None = None) -> Any:
    """Press a button on a page: post its form, with the page's CSRF token, as the browser would."""
    token = client.token(page)
    response = client.client.post(action, data={**(data or {}), "csrf_token": token})
    db.session.expire_all()
    return response


def events(name: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.name == name)))


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_row_shows_the_child_the_task_its_wait_due_time_and_clock(review: Task, web) -> None:
    with at(NOW):
        ssw = web.another().login("ssw")
    with at(NOW + timedelta(minutes=30)):
        assert "Due soon" in ssw.get("/tasks") and "30 minutes" in ssw.get("/tasks")
    with at(NOW + timedelta(hours=3)):
        page = text(ssw.get("/tasks"))
    assert "My tasks (1)" in page and "Team tasks (1)" in page
    row = page[page.index("Who") :]
    for shown in (CHILD, "Review the contact", review.case.reference, "3 hours", "24 November 2026, 11:00", "Overdue"):
        assert shown in row, shown


def test_claim_from_the_tray_returns_to_it_with_its_filters_and_a_banner(review: Task, web) -> None:
    ssw = web.another().login("ssw")
    tray = "/tasks?sort=child"
    response = press(ssw, tray, f"/tasks/{review.id}/claim", {"next": tray})
    assert response.status_code == 302 and response.headers["Location"] == tray
    page = text(ssw.get(tray))
    assert f"You have claimed “Review the contact: {CHILD}”" in page
    assert "Claimed by you" in page
    (event,) = events("TASK_CLAIMED")
    assert (event.user_id, event.task_id) == (user("ssw").id, review.id)
    assert db.session.get(Task, review.id).assignee_id == user("ssw").id


def test_colleagues_see_who_has_a_task_and_cannot_take_or_open_it(review: Task, web) -> None:
    with at(NOW):
        ssw = web.another().login("ssw")
        _, other = colleague(web)
    with at(NOW + timedelta(minutes=5)):
        press(ssw, "/tasks", f"/tasks/{review.id}/claim")
    team = other.get("/tasks/team")
    assert "Claimed by <strong>Demo senior social worker</strong>" in team
    assert f"/tasks/{review.id}/claim" not in team and f'href="/tasks/{review.id}"' not in team
    assert f"/tasks/{review.id}/claim" not in other.get("/tasks")  # not in their own tray at all
    with at(NOW + timedelta(hours=1)):
        refused = other.get(f"/tasks/{review.id}", expect=403)
        late = press(other, "/tasks", f"/tasks/{review.id}/claim")
    assert "Claimed by Demo senior social worker at 10:05." in refused
    assert late.status_code == 409
    assert "Claimed by Demo senior social worker at 10:05." in late.get_data(as_text=True)
    assert len(events("TASK_CLAIMED")) == 1


def test_the_claimant_releases_it_from_the_task_page(review: Task, web) -> None:
    ssw = web.another().login("ssw")
    task_page = f"/tasks/{review.id}"
    assert "Nobody has claimed this task" in ssw.get(task_page)
    press(ssw, task_page, f"/tasks/{review.id}/claim", {"next": task_page})
    page = ssw.get(task_page)
    assert "You have claimed this task" in page and f"/tasks/{review.id}/release" in page
    response = press(ssw, task_page, f"/tasks/{review.id}/release", {"next": task_page})
    assert response.status_code == 302 and response.headers["Location"] == task_page
    page = text(ssw.get(task_page))
    assert "is back with the team for anyone to claim" in page and "Nobody has claimed this task" in page
    assert db.session.get(Task, review.id).assignee_id is None and len(events("TASK_RELEASED")) == 1


def test_the_team_manager_reassigns_to_someone_who_holds_the_role(review: Task, web) -> None:
    other, _ = colleague(web)
    manager = web.another().login("team_manager")
    form = f"/tasks/{review.id}/reassign"
    page = manager.get(form)
    options = re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', page)
    assert sorted(name.strip() for _, name in options) == ["Colleague SSW", "Demo senior social worker"]

    wrong = press(manager, form, form, {"to": str(user("coordinator").id)})
    assert wrong.status_code == 400
    assert "There is a problem" in wrong.get_data(as_text=True) and events("TASK_REASSIGNED") == []
    assert press(manager, form, form, {"to": ""}).status_code == 400

    done = press(manager, form, form, {"to": str(other.id)})
    assert done.status_code == 302 and done.headers["Location"] == "/tasks/team"
    team = text(manager.get("/tasks/team"))
    assert "has been reassigned" in team and "Claimed by Colleague SSW" in team
    (event,) = events("TASK_REASSIGNED")
    assert event.data["to_user_id"] == other.id and event.user_id == user("team_manager").id


@pytest.mark.parametrize("role", ["ssw", "partner", "police"])
def test_only_the_team_manager_may_reassign(review: Task, web, role: str) -> None:
    client = web.another().login(role)
    client.get(f"/tasks/{review.id}/reassign", expect=403)
    refused = press(client, "/tasks", f"/tasks/{review.id}/reassign", {"to": str(user("ssw").id)})
    assert refused.status_code == 403 and events("TASK_REASSIGNED") == []


def test_a_partner_may_neither_claim_nor_release(review: Task, web) -> None:
    partner = web.another().login("partner")
    assert press(partner, "/tasks", f"/tasks/{review.id}/claim").status_code == 403
    ssw = web.another().login("ssw")
    press(ssw, "/tasks", f"/tasks/{review.id}/claim")
    assert press(partner, "/tasks", f"/tasks/{review.id}/release").status_code == 403
    assert db.session.get(Task, review.id).assignee_id == user("ssw").id
    assert len(events("TASK_CLAIMED")) == 1 and events("TASK_RELEASED") == []


def test_no_claim_without_the_forms_token(review: Task, web) -> None:
    ssw = web.another().login("ssw")
    assert ssw.client.post(f"/tasks/{review.id}/claim").status_code == 400
    db.session.expire_all()
    assert db.session.get(Task, review.id).assignee_id is None


@pytest.mark.parametrize("elsewhere", ["https://example.com/tasks", "//example.com/tasks", "/cases/1"])
def test_after_a_claim_the_way_back_never_leaves_the_trays(review: Task, web, elsewhere: str) -> None:
    ssw = web.another().login("ssw")
    response = press(ssw, "/tasks", f"/tasks/{review.id}/claim", {"next": elsewhere})
    assert response.headers["Location"] == f"/tasks/{review.id}"


def test_a_missing_task_is_a_plain_not_found(fresh, web) -> None:
    ssw = web.another().login("ssw")
    assert press(ssw, "/tasks", f"/tasks/{uuid.uuid4()}/claim").status_code == 404


def test_unknown_filters_and_pages_show_the_tray_with_a_plain_message(review: Task, web) -> None:
    ssw = web.another().login("ssw")
    page = ssw.get("/tasks?flow=nope&task=%3Cb%3E&due=soonish&sort=up&page=-3&team=x")
    assert CHILD in page and "was left off" in page and "Traceback" not in page
    assert CHILD in ssw.get("/tasks/team?page=999999")


def test_a_filter_that_matches_nothing_says_so(review: Task, web) -> None:
    with at(NOW):
        ssw = web.another().login("ssw")
        assert "that match these filters" in ssw.get("/tasks?due=overdue")
        assert CHILD in ssw.get("/tasks?due=today")


def test_twenty_five_to_a_page_with_govuk_pagination(review: Task, web) -> None:
    for n in range(30):
        db.session.add(
            Task(
                id=str(uuid.uuid4()),
                instance_id=review.instance_id,
                case_id=review.case_id,
                flow="initial_contact",
                bpmn_id="ssw_review",
                name="Review the contact",
                subject=f"Child {n:02d}",
                lane="ssw",
                team="compass",
                created_at=NOW - timedelta(minutes=n),
                contact_made_at=review.contact_made_at,
            )
        )
    db.session.commit()
    ssw = web.another().login("ssw")
    first = ssw.get("/tasks?sort=child")
    assert "31 tasks waiting, page 1 of 2" in text(first) and "govuk-pagination" in first
    assert 'href="/tasks?sort=child&amp;page=2"' in first
    assert first.count('class="govuk-table__row" id="task-') == 25
    second = ssw.get("/tasks?sort=child&page=2")
    assert second.count('class="govuk-table__row" id="task-') == 6
    # Sorted by the child's name: Amy first, then Child 00 to 29, so the second page holds the last six.
    assert CHILD in first and CHILD not in second
    assert "Child 24" in second and "Child 29" in second and "Child 23" not in second


def test_a_stranger_is_sent_to_sign_in(review: Task, web) -> None:
    stranger = web.another()
    for url in ("/tasks?sort=child", "/tasks/team?page=2", f"/tasks/{review.id}/reassign"):
        response = stranger.client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url
    token = stranger.token("/login")  # a good token, so only the missing sign-in refuses these
    for action in ("claim", "release", "reassign"):
        response = stranger.client.post(f"/tasks/{review.id}/{action}", data={"csrf_token": token})
        assert response.status_code == 302 and "/login" in response.headers["Location"], action
    db.session.expire_all()
    assert db.session.get(Task, review.id).assignee_id is None
