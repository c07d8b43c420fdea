"""The form editor in a real browser: the preview follows the JSON as it is typed, drawn by the server with the
task page's own macros, and its radios reveal their follow-up questions as on a worker's page. The page's
timers are moved with Playwright's clock, never waited for."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from app.extensions import db
from app.models import ProcessDraft
from app.services import bundles

pytestmark = pytest.mark.browser

MORNING = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
EDITOR = "/processes/initial_contact/forms/ssw_review"


def sign_in(page: Page, site: str) -> None:
    page.goto(f"{site}/login")
    page.get_by_label("Username", exact=True).fill("demo.process_owner")
    page.get_by_label("Password", exact=True).fill("compass-demo")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as")).to_be_visible()


def test_the_preview_follows_the_json_as_it_is_typed_and_saves_nothing(site: str, page: Page, axe) -> None:
    page.clock.install(time=MORNING)
    sign_in(page, site)
    page.goto(f"{site}{EDITOR}")
    page.clock.pause_at(datetime(2026, 11, 24, 10, 5, tzinfo=UTC))
    preview = page.get_by_role("region", name="Preview: what a worker will see")
    expect(preview.get_by_role("group", name="What do you need?")).to_be_visible()

    schema = json.loads((bundles.FORMS_DIR / "ssw_review.json").read_text(encoding="utf-8"))
    schema["properties"]["next_step"]["title"] = "What do you need now?"
    page.get_by_label("The whole form as JSON Schema").fill(json.dumps(schema, indent=2))
    # Nothing is asked for until the owner pauses.
    expect(preview.get_by_role("group", name="What do you need?")).to_be_visible()
    with page.expect_response(lambda r: r.url.endswith("/preview")) as drawn:
        page.clock.run_for(1000)
    assert drawn.value.status == 200
    expect(preview.get_by_role("group", name="What do you need now?")).to_be_visible()
    expect(page.locator("#editor--preview-status")).to_have_text("Preview updated.")

    # The new preview's radios reveal their question, as GOV.UK Frontend does on the task page.
    who = preview.get_by_role("group", name="Who should be asked?")
    expect(who).to_be_hidden()
    preview.get_by_label("Ask for more information first").check()
    expect(who).to_be_visible()

    page.get_by_label("The whole form as JSON Schema").fill('{"type": "object", "properties": {,}}')
    with page.expect_response(lambda r: r.url.endswith("/preview")):
        page.clock.run_for(1000)
    expect(preview.get_by_text("The JSON is not valid at line 1, column 35")).to_be_visible()
    # axe-core waits on the page's timers: it runs with the clock going again.
    page.clock.resume()
    axe.check(page, "the form editor with a preview that cannot be drawn")
    page.goto(f"{site}{EDITOR}?change=next_step")
    axe.check(page, "the form editor changing a question")
    axe.assert_no_violations()
    assert db.session.scalar(select(func.count()).select_from(ProcessDraft)) == 0
