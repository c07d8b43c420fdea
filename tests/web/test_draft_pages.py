"""Drafts over HTTP: saved by the page's script with the form's own fields and CSRF token, offered back when
the form is opened again, and gone once the form is sent."""

from __future__ import annotations

import html
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from support import user
from test_contact_to_decision import CONTACT
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.models import Draft, Task
from app.services import drafts

REVIEW_TYPED = [
    ("next_step", "more_information"),
    ("ask_whom", "parent"),
    ("question", "Who collects Amy from school?"),
]


def save_draft(web, form_page: str, fields: list[tuple[str, str]]):
    """Post a draft as the script does: the form's fields, its CSRF token and which form it is."""
    token = web.token(form_page)
    response = web.client.post("/drafts", data=MultiDict([*fields, ("csrf_token", token)]))
    db.session.expire_all()
    return response


def review_task_id(web) -> str:
    web.login("fpoc").post("/contacts/new", CONTACT, expect=302)
    web.client.post("/logout", data={"csrf_token": web.token("/tasks")})
    task_id = db.session.scalars(select(Task.id).where(Task.bpmn_id == "ssw_review")).first()
    assert task_id is not None
    return task_id


def test_a_draft_is_saved_with_the_forms_own_fields_and_answered_in_json(web) -> None:
    web.login("fpoc")
    response = save_draft(web, "/contacts/new", [("_draft", "contact"), *CONTACT[:6]])
    assert response.status_code == 200 and response.is_json
    answer = response.get_json()
    saved_at = datetime.fromisoformat(answer["saved_at"])
    assert answer["shown"] == saved_at.astimezone(ZoneInfo("Europe/London")).strftime("%H:%M")
    row = db.session.scalar(select(Draft))
    assert row.kind == "contact" and row.data["referrer"]["name"] == "Sam Teacher"
    assert row.data["referrer"]["kind"] == "professional"


def test_a_draft_needs_the_csrf_token(web) -> None:
    web.login("fpoc")
    response = web.client.post("/drafts", data={"_draft": "contact", "concern": "No token"})
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Draft)) == 0


def test_a_stranger_is_sent_to_sign_in(web) -> None:
    token = web.token("/login")
    for url in ("/drafts", "/drafts/discard"):
        response = web.client.post(url, data={"_draft": "contact", "concern": "x", "csrf_token": token})
        assert response.status_code == 302 and "/login" in response.headers["Location"], url
    assert db.session.scalar(select(func.count()).select_from(Draft)) == 0


def test_no_draft_of_someone_elses_task(web) -> None:
    task_id = review_task_id(web)
    police = web.another().login("police")
    response = save_draft(police, "/tasks", [("_draft", f"task:{task_id}"), *REVIEW_TYPED])
    assert response.status_code == 403 and "not yours" in response.get_json()["message"]
    fpoc = web.another().login("fpoc")
    assert save_draft(fpoc, "/tasks", [("_draft", f"task:{task_id}"), *REVIEW_TYPED]).status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Draft)) == 0


def test_a_form_that_is_not_there_or_too_large_is_refused_plainly(web) -> None:
    web.login("ssw")
    never = save_draft(web, "/tasks", [("_draft", "task:00000000-0000-0000-0000-000000000000")])
    assert never.status_code == 404 and never.get_json()["message"] == "There is no form here to keep a draft of."
    nonsense = save_draft(web, "/tasks", [("_draft", "case:12")])
    assert nonsense.status_code == 404 and nonsense.is_json
    big = save_draft(web, "/contacts/new", [("_draft", "contact"), ("concern", "x" * (drafts.MAX_BYTES + 10))])
    assert big.status_code == 413 and "too large" in big.get_json()["message"]
    assert db.session.scalar(select(func.count()).select_from(Draft)) == 0


def test_the_task_page_offers_the_draft_back_and_completing_the_task_removes_it(web) -> None:
    task_id = review_task_id(web)
    web.login("ssw")
    blank = web.get(f"/tasks/{task_id}")
    assert "Restored your draft" not in blank and "Who collects Amy" not in blank
    assert f'data-draft-target="task:{task_id}"' in blank and 'aria-live="polite"' in blank
    assert save_draft(web, f"/tasks/{task_id}", [("_draft", f"task:{task_id}"), *REVIEW_TYPED]).status_code == 200

    page = web.get(f"/tasks/{task_id}")
    saved_at = db.session.scalar(select(Draft.saved_at))
    shown = saved_at.astimezone(ZoneInfo("Europe/London")).strftime("%-d %B %Y, %H:%M")
    assert f"Restored your draft saved at {shown}." in page
    assert "Who collects Amy from school?</textarea>" in page
    assert re.search(r'value="more_information"[^>]* checked', page) and re.search(r'value="parent"[^>]* checked', page)

    web.post(f"/tasks/{task_id}", [("next_step", "decide")], expect=302)
    assert db.session.scalar(select(func.count()).select_from(Draft)) == 0
    # A save that was still on its way finds the task done, and keeps nothing.
    late = save_draft(web, "/tasks", [("_draft", f"task:{task_id}"), *REVIEW_TYPED])
    assert late.status_code == 409 and "completed by Demo senior social worker" in late.get_json()["message"]
    assert db.session.scalar(select(func.count()).select_from(Draft)) == 0


def test_someone_elses_draft_of_the_same_task_is_not_shown(web) -> None:
    task_id = review_task_id(web)
    theirs = Draft(
        user_id=user("coordinator").id,
        key=drafts.task_key(task_id),
        kind="task",
        task_id=task_id,
        form_id="ssw_review",
        data={"question": "Someone else's words"},
    )
    db.session.add(theirs)
    db.session.commit()
    page = web.login("ssw").get(f"/tasks/{task_id}")
    assert "Someone else&#39;s words" not in page and "Restored your draft" not in page


def test_the_new_contact_form_offers_the_draft_back_until_it_is_discarded(web) -> None:
    web.login("fpoc")
    typed = [("_draft", "contact"), ("children.0._item", "1"), ("children.0.name", "Amy Example")]
    typed += [("children.0.date_of_birth-day", "2"), ("children.0.date_of_birth-month", "4")]
    typed += [("concern", "Amy said she is frightened to go home")]
    assert save_draft(web, "/contacts/new", typed).status_code == 200

    page = web.get("/contacts/new")
    assert "Restored your draft saved at" in page
    assert 'value="Amy Example"' in page and "Amy said she is frightened to go home</textarea>" in page
    # The half-typed date of birth comes back as typed, to be finished.
    assert re.search(r'name="children.0.date_of_birth-month"[^>]*value="4"', page)

    token = web.token("/contacts/new")
    response = web.client.post("/drafts/discard", data={"_draft": "contact", "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith("/contacts/new")
    page = web.get("/contacts/new")
    assert "Restored your draft" not in page and "Amy Example" not in page


def test_recording_the_contact_removes_its_draft_and_a_late_save_from_that_page_is_refused(web) -> None:
    web.login("fpoc")
    assert save_draft(web, "/contacts/new", [("_draft", "contact"), ("concern", "First words")]).status_code == 200
    page = web.get("/contacts/new")
    page_id = html.unescape(re.search(r'name="_draft_page" value="([^"]+)"', page).group(1))
    web.post("/contacts/new", [*CONTACT, ("_draft_page", page_id)], expect=302)
    assert "Restored your draft" not in web.get("/contacts/new")

    late = save_draft(web, "/contacts/new", [("_draft", "contact"), ("_draft_page", page_id), *CONTACT])
    assert late.status_code == 409
    assert "Restored your draft" not in web.get("/contacts/new")


def test_the_script_is_served_and_nothing_else_beside_it(web) -> None:
    response = web.client.get("/assets/compass-drafts.js")
    assert response.status_code == 200 and "javascript" in response.content_type
    assert "sendBeacon" in response.get_data(as_text=True)
    response.close()
    assert web.client.get("/assets/drafts.py").status_code == 404
    assert web.client.get("/assets/static_own/compass-drafts.js").status_code == 404
