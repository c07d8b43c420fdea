"""The foundation's "done when", in a real browser: a call handler records a contact about two children, a
senior social worker decides each child, and the case page shows the outcomes, the timeline and the letters.

Everything is done by labels and roles, as a person using a screen reader would find it, which also proves
the labels are wired to their inputs. axe-core checks every distinct page on the way.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

import pytest
from playwright.sync_api import Locator, Page, Request, expect

pytestmark = pytest.mark.browser

DECIDE = "Decide threshold and outcome"
AMY_RATIONALE = "Amy's fear of going home meets child in need; her mother agrees to a referral."
BEN_RATIONALE = "A single minor bump, well explained by his mother; advice on local services is enough."


def test_a_contact_about_two_children_is_recorded_then_each_child_decided(site: str, page: Page, axe: Any) -> None:
    # Sign in, after a first try without the password.
    page.goto(f"{site}/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Compass")
    axe.check(page, "the sign-in page")
    page.get_by_label("Username", exact=True).fill("demo.fpoc")
    page.get_by_role("button", name="Sign in").click()
    error_summary_is_focused_and_links_to(page, "Enter your password", page.get_by_label("Password", exact=True))
    expect(page.get_by_label("Username", exact=True)).to_have_value("demo.fpoc")
    axe.check(page, "the sign-in page with errors")
    page.get_by_label("Password", exact=True).fill("compass-demo")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My tasks")
    axe.check(page, "my tasks (call handler)")

    # Record a contact about two children, adding the second child and a parent with the form's own buttons.
    page.get_by_role("link", name="Record a contact", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Record a contact")
    axe.check(page, "record a contact")
    expect(page.get_by_role("group", name="Child 2", exact=True)).to_have_count(0)
    page.get_by_label("Phone call", exact=True).check()
    referrer = page.get_by_role("group", name="The referrer", exact=True)
    referrer.get_by_label("Referrer's full name", exact=True).fill("Sam Teacher")
    referrer.get_by_label("Professional", exact=True).check()
    referrer.get_by_label("Role", exact=True).fill("Class teacher")
    referrer.get_by_label("Agency or organisation", exact=True).fill("Oak Primary School")
    referrer.get_by_label("Email address", exact=True).fill("s.teacher@oak.example")
    yes_to(referrer, "Does the referrer work directly with the family?")
    fill_child(page, 1, "Amy Example", ("2", "4", "2016"), "Female")

    with page.expect_response(lambda r: posted_action(r.request) == "add:children") as added:
        page.get_by_role("button", name="Add another child").click()
    assert added.value.status == 200
    fill_child(page, 2, "Ben Example", ("30", "9", "2021"), "Male")
    # The page was drawn again by the server with everything typed so far.
    child_1 = page.get_by_role("group", name="Child 1", exact=True)
    expect(child_1.get_by_label("Child's full name", exact=True)).to_have_value("Amy Example")
    expect(child_1.get_by_label("Female", exact=True)).to_be_checked()
    expect(referrer.get_by_label("Referrer's full name", exact=True)).to_have_value("Sam Teacher")

    page.get_by_role("button", name="Add another parent or carer").click()
    parent = page.get_by_role("group", name="Parent or carer 1", exact=True)
    parent.get_by_label("Full name", exact=True).fill("Pat Example")
    parent.get_by_label("Relationship to the children", exact=True).fill("Mother")
    yes_to(parent, "Do they have parental responsibility?")
    parent.get_by_label("Address", exact=True).fill("1 High Street, Shrewsbury SY1 1AA")
    yes_to(parent, "Is it safe to send letters to this address?")
    no_to(page, "Does any child need protection now?")
    page.get_by_label("The referrer's view of the level of need", exact=True).select_option(
        label="Level 3: targeted, child in need"
    )
    page.get_by_label("Yes, consent given", exact=True).check()

    # Forgetting the concern is caught, with everything else kept.
    page.get_by_role("button", name="Record the contact").click()
    concern = page.get_by_label("What is the concern?", exact=True)
    error_summary_is_focused_and_links_to(page, None, concern)
    expect(page.get_by_role("group", name="Child 2", exact=True).get_by_label("Child's full name")).to_have_value(
        "Ben Example"
    )
    expect(page.get_by_label("Yes, consent given", exact=True)).to_be_checked()
    axe.check(page, "record a contact, with errors")
    concern.fill("Amy said she is frightened to go home; Ben was seen with a small bump on his head.")
    page.get_by_role("button", name="Record the contact").click()

    # The case page: both children, neither decided yet.
    expect(page.get_by_role("heading", level=1)).to_contain_text("Case ")
    expect(page.get_by_text("Contact recorded: saved.")).to_be_visible()
    for name in ("Amy Example", "Ben Example"):
        expect(child_row(page, name)).to_contain_text("Pending")
    axe.check(page, "the case page, just recorded")
    case_url = page.url.split("?")[0]
    sign_out(page)

    # The senior social worker has one decision per child.
    sign_in(page, site, "demo.ssw")
    expect(page.get_by_role("heading", level=1)).to_have_text("My tasks")
    decisions = page.get_by_role("link", name=re.compile(f"^{DECIDE}: "))
    expect(decisions).to_have_count(2)
    expect(page.get_by_role("link", name=f"{DECIDE}: Amy Example", exact=True)).to_have_count(1)
    expect(page.get_by_role("link", name=f"{DECIDE}: Ben Example", exact=True)).to_have_count(1)
    axe.check(page, "my tasks (senior social worker)")

    # Amy: child in need. A decision without its rationale is refused, and the choice is kept.
    page.get_by_role("link", name=f"{DECIDE}: Amy Example", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(DECIDE)
    axe.check(page, "a task form")
    page.get_by_label("Child in need, section 17 (level 3)", exact=True).check()
    page.get_by_role("button", name="Save and continue").click()
    rationale = page.get_by_label("Rationale", exact=True)
    error_summary_is_focused_and_links_to(page, "Give the reason for your decision", rationale)
    expect(page.get_by_label("Child in need, section 17 (level 3)", exact=True)).to_be_checked()
    axe.check(page, "a task form, with errors")
    rationale.fill(AMY_RATIONALE)
    page.get_by_role("button", name="Save and continue").click()
    expect(page.get_by_text(f"{DECIDE}: saved.")).to_be_visible()
    expect(child_row(page, "Ben Example")).to_contain_text("Pending")

    # Ben: below early help, with information and advice; the outcome is revealed under its threshold.
    page.get_by_role("link", name="My tasks", exact=True).click()
    expect(decisions).to_have_count(1)
    page.get_by_role("link", name=f"{DECIDE}: Ben Example", exact=True).click()
    page.get_by_label("Below early help (level 1)", exact=True).check()
    outcome = page.get_by_label("Outcome of the contact", exact=True)
    outcome.select_option(label="Provision of information/advice")
    page.get_by_role("button", name="Save and continue").click()
    error_summary_is_focused_and_links_to(page, "Give the reason for your decision", rationale)
    expect(page.get_by_label("Below early help (level 1)", exact=True)).to_be_checked()
    expect(outcome).to_have_value("provision_of_information_advice")
    rationale.fill(BEN_RATIONALE)
    page.get_by_role("button", name="Save and continue").click()

    # The case page: each child's outcome, the timeline with both decisions and why, and the letters.
    expect(page.get_by_text(f"{DECIDE}: saved.")).to_be_visible()
    assert page.url.split("?")[0] == case_url
    amy, ben = child_row(page, "Amy Example"), child_row(page, "Ben Example")
    expect(amy).to_contain_text("Child in need, s17 (level 3)")
    expect(amy).to_contain_text("Progress to referral")
    expect(ben).to_contain_text("Below early help (level 1)")
    expect(ben).to_contain_text("Provision of information/advice")
    for row in (amy, ben):
        expect(row).not_to_contain_text("Pending")
    for name, why in (("Amy Example", AMY_RATIONALE), ("Ben Example", BEN_RATIONALE)):
        # On the timeline: an entry headed by the decision, with the rationale given.
        decision = page.get_by_role("listitem").filter(
            has=page.get_by_role("heading", name=f"{DECIDE}: {name}", exact=True)
        )
        expect(decision).to_have_count(1)
        expect(decision).to_contain_text(why)
    expect(page.get_by_text("No tasks are waiting.")).to_be_visible()
    axe.check(page, "the case page, decided")

    letters = page.get_by_role("heading", name="Letters", exact=True).locator("xpath=following-sibling::ul[1]")
    expect(letters.get_by_role("listitem").filter(has_text="to referrer")).not_to_have_count(0)
    to_parent = letters.get_by_role("listitem").filter(has_text="to parent")
    expect(to_parent).to_have_count(1)
    to_parent.get_by_role("link").click()
    letter = page.get_by_role("main")
    expect(letter).to_contain_text("Pat Example")
    expect(letter).not_to_contain_text("Sam Teacher")
    expect(letter).not_to_contain_text("Oak Primary")
    expect(letter).not_to_contain_text("s.teacher@oak.example")
    axe.check(page, "a letter")

    axe.assert_no_violations()


# ---------------------------------------------------------------------------------------------------------


def sign_in(page: Page, site: str, username: str) -> None:
    page.goto(f"{site}/login")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill("compass-demo")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as")).to_be_visible()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Compass")


def yes_to(scope: Page | Locator, question: str) -> None:
    scope.get_by_role("group", name=question, exact=True).get_by_label("Yes", exact=True).check()


def no_to(scope: Page | Locator, question: str) -> None:
    scope.get_by_role("group", name=question, exact=True).get_by_label("No", exact=True).check()


def fill_child(page: Page, number: int, name: str, born: tuple[str, str, str], sex: str) -> None:
    child = page.get_by_role("group", name=f"Child {number}", exact=True)
    child.get_by_label("Child's full name", exact=True).fill(name)
    date_of_birth = child.get_by_role("group", name="Date of birth", exact=True)
    for part, value in zip(("Day", "Month", "Year"), born):
        date_of_birth.get_by_label(part, exact=True).fill(value)
    child.get_by_role("group", name="Sex", exact=True).get_by_label(sex, exact=True).check()


def posted_action(request: Request) -> str | None:
    if request.method != "POST":
        return None
    return (parse_qs(request.post_data or "").get("_action") or [None])[0]


def child_row(page: Page, name: str) -> Locator:
    table = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Outcome"))
    return table.get_by_role("row").filter(has=page.get_by_role("rowheader", name=name))


def error_summary_is_focused_and_links_to(page: Page, message: str | None, field: Locator) -> None:
    """GOV.UK Frontend focuses the error summary when the page loads; its link to the field focuses that field.

    With `message` None, the link is found by where it points instead of by its words.
    """
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("heading", name="There is a problem")).to_be_visible()
    field_id = field.get_attribute("id")
    assert field_id, "the field has no id to link to"
    if message is None:
        link = summary.locator(f'a[href="#{field_id}"]')
    else:
        link = summary.get_by_role("link", name=message, exact=True)
        expect(link).to_have_attribute("href", f"#{field_id}")
    expect(link).to_have_count(1)
    link.click()
    expect(field).to_be_focused()
