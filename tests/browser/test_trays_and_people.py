"""A day at the front door in a real browser, beyond the first journey: the team tray filtered and sorted, a
task claimed from it and seen as claimed by a colleague, the team manager's reassign page, and two records of
one child compared side by side and merged. axe-core checks each page on the way."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from test_contact_journey import record_from_scenario, sign_in, sign_out

from app.services import bundles, contacts, scenarios

pytestmark = pytest.mark.browser

SCENARIOS = bundles.PROCESSES_DIR / "initial_contact" / "scenarios"


def test_the_team_tray_is_filtered_claimed_from_and_reassigned(site: str, page: Page, axe: Any) -> None:
    for stem in ("s17_consent_given", "below_threshold_advice", "early_help_request_goes_to_the_hub"):
        record_from_scenario(stem)
    sign_in(page, site, "demo.ssw")
    page.get_by_role("link", name="Team tasks", exact=True).first.click()
    rows = page.get_by_role("table").get_by_role("row")
    expect(rows).to_have_count(3)  # a header and the two reviews; the Early Help hub's task is another team's
    page.get_by_label("Task", exact=True).select_option(label="Review the contact")
    page.get_by_label("Sort by", exact=True).select_option(label="Child's name")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(3)
    # Each review is due in one working day: on time, or due soon late in a working day; not overdue yet.
    expect(rows.nth(1)).to_contain_text(re.compile("On time|Due soon"))
    expect(page.get_by_role("table")).not_to_contain_text("Overdue")
    axe.check(page, "the team tray, filtered")

    first = rows.nth(1)
    first.get_by_role("button", name="Claim").click()
    expect(page.get_by_text("You have claimed")).to_be_visible()
    expect(rows.nth(1)).to_contain_text("Claimed by you")
    sign_out(page)

    sign_in(page, site, "demo.team_manager")
    page.get_by_role("link", name="Team tasks", exact=True).first.click()
    claimed = page.get_by_role("row").filter(has_text="Claimed by")
    expect(claimed).to_contain_text("Demo senior social worker")
    claimed.get_by_role("link", name="Reassign").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Reassign")
    axe.check(page, "the reassign page")


def test_two_records_of_one_child_are_compared_and_merged(site: str, page: Page, axe: Any) -> None:
    record_from_scenario("s17_consent_given")
    start = json.loads((SCENARIOS / "s17_consent_given.json").read_text(encoding="utf-8"))["start"]
    later = copy.deepcopy(start)
    later["children"][0].update(name="Amy Exampel", postcode="SY3 9ZZ")  # misheard, and a new postcode
    contacts.record_contact(scenarios.demo_user("fpoc"), later)

    sign_in(page, site, "demo.ssw")
    page.get_by_role("link", name="Find a child", exact=True).click()
    page.get_by_label("Name", exact=True).fill("Amy Example")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Amy Example", exact=True).first.click()
    expect(page.get_by_text("This may be the same child as another record")).to_be_visible()
    axe.check(page, "a child's page with a possible duplicate")
    page.get_by_role("link", name="Compare with Amy Exampel", exact=False).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Are these the same child?")
    axe.check(page, "two records side by side")
    page.get_by_role("button", name="Merge Amy Exampel into Amy Example").click()
    expect(page.get_by_text("The two records are now one")).to_be_visible()
    every = page.get_by_role("heading", name="Every contact", exact=True).locator("xpath=following-sibling::table[1]")
    expect(every.get_by_role("row")).to_have_count(3)  # a header and both contacts
    axe.check(page, "a merged child's page")
    axe.assert_no_violations()
