"""Drafts in a real browser: what a person types is saved every few seconds and when the page is left, and is
there again when they come back. The page's own timers are moved with Playwright's clock, never waited for."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from support import user

from app.extensions import db
from app.models import Draft, Task
from app.services import bundles, contacts

pytestmark = pytest.mark.browser

MORNING = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def sign_in(page: Page, site: str, username: str) -> None:
    page.goto(f"{site}/login")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill("compass-demo")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as")).to_be_visible()


def test_the_new_contact_form_saves_as_you_type_and_comes_back_after_a_reload(site: str, page: Page) -> None:
    page.clock.install(time=MORNING)
    sign_in(page, site, "demo.fpoc")
    page.goto(f"{site}/contacts/new")
    # Stop the page's clock: from here on, its timers run only when the test moves them.
    page.clock.pause_at(datetime(2026, 11, 24, 10, 5, tzinfo=UTC))
    status = page.locator("#draft-status")
    child = page.get_by_role("group", name="Child 1", exact=True)
    child.get_by_label("Child's full name", exact=True).fill("Amy Example")
    child.get_by_role("group", name="Date of birth", exact=True).get_by_label("Day", exact=True).fill("2")
    page.get_by_label("Phone call", exact=True).check()
    page.get_by_role("textbox", name="What is the concern?").fill("Amy said she is frightened to go home.")
    # Typing alone sends nothing until a few seconds have passed on the page's clock.
    expect(status).to_have_text("")
    assert db.session.scalar(select(func.count()).select_from(Draft)) == 0

    with page.expect_response(lambda r: r.url.endswith("/drafts")) as saved:
        page.clock.run_for(6000)
    assert saved.value.status == 200
    expect(status).to_have_text(f"Draft saved at {saved.value.json()['shown']}")

    page.reload()
    expect(page.get_by_text("Restored your draft saved at")).to_be_visible()
    child = page.get_by_role("group", name="Child 1", exact=True)
    expect(child.get_by_label("Child's full name", exact=True)).to_have_value("Amy Example")
    expect(child.get_by_role("group", name="Date of birth", exact=True).get_by_label("Day", exact=True)).to_have_value(
        "2"
    )
    expect(page.get_by_label("Phone call", exact=True)).to_be_checked()
    expect(page.get_by_role("textbox", name="What is the concern?")).to_have_value(
        "Amy said she is frightened to go home."
    )

    # Nothing changed since it was restored, so the clock moving on sends nothing more.
    page.clock.run_for(6000)
    expect(page.locator("#draft-status")).to_have_text("")


def test_a_task_form_closed_mid_sentence_is_saved_as_the_page_goes(site: str, page: Page) -> None:
    task = a_review_task()
    sign_in(page, site, "demo.ssw")
    # A second tab of the same browser (same sign-in), closed while the social worker is still typing.
    closing = page.context.new_page()
    closing.clock.install(time=MORNING)
    closing.goto(f"{site}/tasks/{task.id}")
    closing.clock.pause_at(datetime(2026, 11, 24, 10, 5, tzinfo=UTC))
    closing.get_by_label("Ask for more information first", exact=True).check()
    closing.get_by_label("A parent or carer", exact=True).check()
    closing.get_by_label("What do you need to know?", exact=True).fill("Who collects Amy from school on Frida")
    expect(closing.locator("#draft-status")).to_have_text("")  # no timer has fired: only leaving can save it

    closing.close()
    # A beacon from a page that has gone is not reported to Playwright: ask the server, from the page still
    # open, until the task's form comes back restored (Playwright's own polling, not a sleep).
    page.wait_for_function(
        "async (url) => (await (await fetch(url)).text()).includes('Restored your draft saved at')",
        arg=f"{site}/tasks/{task.id}",
        polling=100,
    )
    db.session.expire_all()
    row = db.session.scalar(select(Draft))
    assert row is not None and row.task_id == task.id

    page.goto(f"{site}/tasks/{task.id}")
    expect(page.get_by_text("Restored your draft saved at")).to_be_visible()
    expect(page.get_by_label("Ask for more information first", exact=True)).to_be_checked()
    expect(page.get_by_label("A parent or carer", exact=True)).to_be_checked()
    expect(page.get_by_label("What do you need to know?", exact=True)).to_have_value(
        "Who collects Amy from school on Frida"
    )

    # Sending the form puts the answers on the record and ends the draft.
    page.get_by_label("What do you need to know?", exact=True).fill("Who collects Amy from school on Fridays?")
    page.get_by_role("button", name="Save and continue").click()
    expect(page.get_by_text("Review the contact", exact=False).first).to_be_visible()
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Draft)) == 0


def a_review_task() -> Any:
    path = bundles.PROCESSES_DIR / "initial_contact" / "scenarios" / "s17_consent_given.json"
    case = contacts.record_contact(user("fpoc"), json.loads(path.read_text(encoding="utf-8"))["start"])
    task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "ssw_review"))
    assert task is not None
    return task
