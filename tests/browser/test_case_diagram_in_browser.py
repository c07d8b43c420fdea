"""A case on its diagrams in a real browser: the service manager opens, from the case page, a case handed from
the initial contact to Multi Agency Triage, and bpmn-js draws both flows with each step's mark as a class on
its drawn shape, styled by our own stylesheet, under the page's Content-Security-Policy (a refusal fails the
test) and with axe-core's checks. Then a team manager runs a failed step again from the list of failed steps."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from support import diagram_files, duration
from test_contact_journey import sign_in

import handlers
from app.engine import specs
from app.extensions import db
from app.models import Case, ProcessBundle, Task
from app.services import bundles, scenarios, workflow

pytestmark = pytest.mark.browser

SHAPE = '[data-compass-diagram] g.djs-element[data-element-id="{}"]'
# What compass.css fills each mark's shape with, as the browser reports a computed colour.
FILLS = {
    "compass-step--completed": "rgb(204, 226, 216)",
    "compass-step--overdue": "rgb(252, 214, 195)",
}


def a_case_handed_to_mat(clock: Any) -> int:
    """An anonymous call about one child, decided s17 without consent and handed to MAT; the police have shared
    what they hold, and two days later health and social care have not."""
    path = bundles.PROCESSES_DIR / "initial_contact" / "scenarios"
    scenario = json.loads((path / "s17_no_consent_referrer_not_with_family_goes_to_mat.json").read_text())
    result = scenarios.run(scenario, advance=lambda text: clock.shift(duration(text)))
    assert result.mismatches == []
    mat = json.loads(
        (bundles.PROCESSES_DIR / "mat" / "scenarios" / "further_checks_then_progress_to_referral.json").read_text()
    )
    police = next(s["data"] for s in mat["steps"] if s.get("task") == "police_check")
    task = db.session.scalar(select(Task).where(Task.case_id == result.case_id, Task.bpmn_id == "police_check"))
    workflow.complete_task(scenarios.demo_user("police"), task.id, police)
    clock.shift(timedelta(days=2))
    return result.case_id


def test_the_service_manager_sees_a_two_flow_case_marked_on_its_diagrams(
    site: str, page: Page, axe: Any, clock: Any
) -> None:
    case_id = a_case_handed_to_mat(clock)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    sign_in(page, site, "demo.service_manager")
    page.goto(f"{site}/cases/{case_id}")
    axe.check(page, "the case page, with its link to the diagrams")
    page.get_by_role("button", name="See this case on its diagrams").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Where this case stands on its diagrams")
    expect(page.locator('[data-compass-diagram][data-drawn="true"]')).to_have_count(2)

    expected = {
        # the initial contact, all done along its path
        "record_contact": "compass-step--completed",
        "ssw_decision": "compass-step--completed",
        "to_mat": "compass-step--completed",
        # MAT: the police have shared; health and social care are two days past their time
        "join_meeting": "compass-step--completed",
        "police_check": "compass-step--completed",
        "health_check": "compass-step--overdue",
        "social_care_check": "compass-step--overdue",
    }
    for element_id, marker in expected.items():
        expect(page.locator(SHAPE.format(element_id))).to_have_class(re.compile(rf"\b{marker}\b"))
    # Not on the path: no mark at all.
    expect(page.locator(SHAPE.format("joint_decision"))).not_to_have_class(re.compile("compass-step--"))
    expect(page.locator(SHAPE.format("early_help_request"))).not_to_have_class(re.compile("compass-step--"))
    for element_id in ("record_contact", "health_check"):
        fill = (
            page.locator(SHAPE.format(element_id))
            .locator(".djs-visual > :first-child")
            .evaluate("(shape) => getComputedStyle(shape).fill")
        )
        assert fill == FILLS[expected[element_id]], (element_id, fill)

    # The same marks in words, beside the timeline.
    health = page.get_by_role("row").filter(has_text="Share what health records show")
    expect(health).to_contain_text("Overdue")
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    axe.check(page, "a case on its diagrams")
    assert errors == []
    axe.assert_no_violations()


# --- Failed steps --------------------------------------------------------------------------------------------

PARTNER = {"up": False}


@handlers.handler("test_browser_partner")
def _partner(ctx: handlers.Context) -> handlers.Result:
    if not PARTNER["up"]:
        raise ConnectionError("the partner's system did not answer")
    return handlers.Result(data={"told": True})


def a_failed_step() -> None:
    """A case whose partner step failed after the senior social worker wrote the note."""
    files, forms = diagram_files("flaky_partner")
    files = {n: t.replace("test_flaky_partner", "test_browser_partner") for n, t in files.items()}
    bundle = ProcessBundle(flow="flaky_partner", hash=specs.bundle_hash(files, forms), files=files, forms=forms)
    case = Case(reference="T-browser", source="phone", created_by_id=scenarios.demo_user("ssw").id)
    db.session.add_all([bundle, case])
    db.session.flush()
    workflow.start_instance(case, bundle, scenarios.demo_user("ssw"), {"children": ["Ada"]})
    db.session.commit()
    task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "note"))
    workflow.complete_task(scenarios.demo_user("ssw"), task.id, {"finding": "The note."})


def test_a_manager_runs_a_failed_step_again_from_the_list(site: str, page: Page, axe: Any) -> None:
    PARTNER["up"] = False
    a_failed_step()
    sign_in(page, site, "demo.team_manager")
    page.get_by_role("link", name="Failed steps", exact=True).click()
    row = page.get_by_role("row").filter(has_text="T-browser")
    expect(row).to_contain_text("Notify the partner agency")
    expect(row).to_contain_text("ConnectionError: the partner's system did not answer")
    axe.check(page, "the failed steps")

    row.get_by_role("button", name="Run again: Notify the partner agency on case T-browser").click()
    expect(page.get_by_role("alert")).to_contain_text("failed again: ConnectionError")
    axe.check(page, "the failed steps, told the step failed again")

    PARTNER["up"] = True
    page.get_by_role("row").filter(has_text="T-browser").get_by_role("button").click()
    expect(page.get_by_text("ran again and the case has moved on")).to_be_visible()
    expect(page.get_by_text("No step has failed")).to_be_visible()
    axe.check(page, "the failed steps, the step run again")
    axe.assert_no_violations()
