"""The modeller in a real browser: a process owner opens a flow's draft in bpmn-js, renames a step in the panel
beside the diagram, saves, and finds the change in the draft with everything the engine reads kept; problems
found on save are marked on their steps. All under the page's Content-Security-Policy (a refusal fails the
test) and with axe-core's checks."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from test_contact_journey import sign_in

from app.extensions import db
from app.services import process_versions

pytestmark = pytest.mark.browser

FLOW = "information_request"
SHAPE = '[data-compass-modeller] g.djs-element[data-element-id="{}"]'


def open_the_modeller(page: Page, site: str) -> None:
    sign_in(page, site, "demo.process_owner")
    expect(page.get_by_role("heading", level=1)).to_have_text("Flows")
    page.get_by_role("button", name="Start a draft of Information request").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Edit the draft")
    expect(page.locator('[data-compass-modeller][data-ready="true"]')).to_have_count(1)


def rename_step(page: Page, element_id: str, new_name: str) -> None:
    page.locator(SHAPE.format(element_id)).click()
    panel = page.locator("#compass-properties")
    name = panel.get_by_label("Name", exact=True)
    name.fill(new_name)
    name.press("Tab")
    expect(panel.get_by_role("heading", level=2)).to_have_text(new_name)


def test_a_process_owner_renames_a_step_in_the_modeller_and_saves_it(site: str, page: Page, axe: Any) -> None:
    open_the_modeller(page, site)
    axe.check(page, "the modeller with its panel")
    rename_step(page, "routine_checks", "Check every record held")
    # The panel shows what the engine reads for a user task: its form, chosen from the draft's forms.
    expect(page.locator("#compass-properties").get_by_label("Form", exact=True)).to_have_value(
        "information_request_checks"
    )
    axe.check(page, "the panel of a selected user task")
    page.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_text("The draft was saved")).to_be_visible()
    db.session.expire_all()
    draft = process_versions.draft_of(FLOW)
    assert draft is not None
    xml = draft.files[f"{FLOW}.bpmn"]
    assert re.search(r'id="routine_checks" name="Check every record held"', xml)
    # Written back by bpmn-js, the engine's own extension elements are all still there.
    assert 'name="formJsonSchemaFilename" value="information_request_checks.json"' in xml
    assert process_versions.problems_of(draft) == []


def test_a_lane_is_given_its_role_and_a_problem_is_marked_on_its_step(site: str, page: Page) -> None:
    open_the_modeller(page, site)
    # A user task with no form: saved (a draft may be unfinished) and marked on the diagram.
    page.locator(SHAPE.format("routine_checks")).click()
    page.locator("#compass-properties").get_by_label("Form", exact=True).select_option("")
    page.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_text("The draft was saved")).to_be_visible()
    expect(page.locator(SHAPE.format("routine_checks"))).to_have_class(re.compile(r"\bcompass-problem\b"))
    expect(page.locator("#draft-problems")).to_contain_text("names no form")
    # The problem's link selects its step, and the panel says what to put right.
    page.locator("#draft-problems").get_by_role("link", name="routine_checks").click()
    expect(page.locator("#compass-properties")).to_contain_text("names no form")


def test_a_lane_takes_its_role_from_the_list_of_roles(site: str, page: Page) -> None:
    open_the_modeller(page, site)
    # A lane is picked by its title strip on the left; its name is the role that does its steps.
    page.locator(SHAPE.format("information_request_lane_ssw")).click(position={"x": 12, "y": 40})
    role = page.locator("#compass-properties").get_by_label("Role", exact=True)
    expect(role).to_have_value("ssw")
    role.select_option("team_manager")
    page.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_text("The draft was saved")).to_be_visible()
    db.session.expire_all()
    draft = process_versions.draft_of(FLOW)
    assert draft is not None
    assert 'id="information_request_lane_ssw" name="team_manager"' in draft.files[f"{FLOW}.bpmn"]


def a_request_logged(start: dict[str, Any]) -> int:
    """An information request logged by the coordinator, as the scenarios log one: the case's id."""
    from app.services import information_requests, scenarios

    case = information_requests.log_request(scenarios.demo_user("coordinator"), start)
    return int(case.id)


def its_checks_task(case_id: int) -> str:
    from sqlalchemy import select

    from app.models import Task

    db.session.expire_all()
    task = db.session.scalar(select(Task).where(Task.case_id == case_id, Task.bpmn_id == "routine_checks"))
    assert task is not None
    return str(task.id)


REQUEST = {
    "agency": "police",
    "requester_name": "DC Sam Officer",
    "requester_email": "sam.officer@police.example.org",
    "subjects": [{"name": "Liam Probe", "date_of_birth": "1990-01-30"}],
    "asked": "Everything held about Liam Probe.",
    "why": "An investigation into assaults at the address.",
    "ground": "investigation",
}


def test_a_changed_step_and_form_are_deployed_and_a_new_case_shows_them(site: str, page: Page, axe: Any) -> None:
    """The issue's journey: open the modeller, rename a task, add a question to its form, deploy, start a case
    and see the change; a case started before the deploy stays on the version it started with."""
    from test_contact_journey import sign_out

    earlier = a_request_logged(REQUEST)
    open_the_modeller(page, site)
    rename_step(page, "routine_checks", "Check every record held")
    page.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_text("The draft was saved")).to_be_visible()

    page.get_by_role("link", name="Edit the forms").click()
    page.goto(f"{site}/processes/{FLOW}/forms/information_request_checks")
    page.get_by_label("Field name", exact=True).fill("records_checked_by")
    page.get_by_label("Question text", exact=True).fill("Who checked the records?")
    page.get_by_role("group", name="Type of answer").get_by_label("Short text", exact=True).check()
    page.get_by_role("group", name="Must the worker answer it?").get_by_label("No", exact=True).check()
    page.get_by_role("button", name="Add the question").click()
    preview = page.get_by_role("region", name="Preview: what a worker will see")
    expect(preview.get_by_label("Who checked the records?")).to_be_visible()

    page.goto(f"{site}/processes/{FLOW}/deploy")
    axe.check(page, "check and deploy, before the replay")
    page.get_by_role("button", name="Replay the draft").click()
    expect(page.get_by_role("button", name="Replay again")).to_be_visible(timeout=120_000)
    axe.check(page, "check and deploy, with the replay's report")
    page.get_by_label("What does this version change?").fill(
        "The records check is named for what it asks, and says who checked"
    )
    page.get_by_role("button", name="Deploy as a new version").click()
    expect(page.get_by_text("Version 2 of Information request is live")).to_be_visible()

    later = a_request_logged(REQUEST)
    sign_out(page)
    sign_in(page, site, "demo.business_support")
    page.goto(f"{site}/tasks/{its_checks_task(later)}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check every record held")
    expect(page.get_by_label("Who checked the records?")).to_be_visible()
    # The case logged before the deploy runs on, unchanged, on version 1.
    page.goto(f"{site}/tasks/{its_checks_task(earlier)}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check what the records hold")
    expect(page.get_by_label("Who checked the records?")).to_have_count(0)


def test_a_timer_is_set_in_working_days_and_a_condition_is_changed(site: str, page: Page) -> None:
    sign_in(page, site, "demo.process_owner")
    page.get_by_role("button", name="Start a draft of Initial contact").click()
    expect(page.locator('[data-compass-modeller][data-ready="true"]')).to_have_count(1)
    panel = page.locator("#compass-properties")

    # The timer on "Acknowledge the referral": three working days become two, with the helper.
    page.locator(SHAPE.format("acknowledgement_overdue")).click()
    expect(panel.get_by_label("Expression", exact=True)).to_have_value("working_days(3)")
    panel.get_by_label("Or: due after this many working days", exact=True).fill("2")
    panel.get_by_role("button", name="Use working days").click()
    expect(panel.get_by_label("Expression", exact=True)).to_have_value("working_days(2)")

    # The flow out of the fire gateway: its condition, rewritten.
    # A flow is a bent line, whose middle is not on it: picked by its id, as its problem's link picks it.
    page.evaluate(
        "id => window.compassModeler.get('selection').select(window.compassModeler.get('elementRegistry').get(id))",
        "flow_fire",
    )
    condition = panel.get_by_label("Condition", exact=True)
    expect(condition).to_have_value("fire_risk or fire_setting")
    condition.fill("fire_setting or fire_risk")
    condition.press("Tab")

    page.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_text("The draft was saved")).to_be_visible()
    db.session.expire_all()
    draft = process_versions.draft_of("initial_contact")
    assert draft is not None
    xml = draft.files["initial_contact.bpmn"]
    assert re.search(r'<bpmn:timeDate xsi:type="bpmn:tFormalExpression">working_days\(2\)</bpmn:timeDate>', xml)
    assert re.search(r">fire_setting or fire_risk</bpmn:conditionExpression>", xml)
    assert process_versions.problems_of(draft) == []
