"""Flow 1 in a real browser: a call handler records a contact about two children and finds one of them again
by a misspelt name; a senior social worker reviews and decides each child, to thresholds that finish each
child's path; the case page then shows the outcomes, the referral, the hand-over, the timeline and the letters.
Beside it: two people completing the same task at once, and a contact voided as recorded in error.

Everything is done by labels and roles, as a person using a screen reader would find it, which also proves
the labels are wired to their inputs. axe-core checks every distinct page on the way.

The journeys that are not about recording a contact start from one recorded through the service, as the
scenarios do: the form itself is driven once, in the first journey, which keeps the suite quick.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any
from urllib.parse import parse_qs

import pytest
from playwright.sync_api import Locator, Page, Request, expect

from app.extensions import db
from app.models import Case
from app.roles import ROLES
from app.services import bundles, contacts, scenarios, users

pytestmark = pytest.mark.browser

REVIEW = "Review the contact"
DECIDE = "Decide threshold and outcome"
AMY_RATIONALE = "Amy's worries at home are met by early help; her mother agrees to the family hub's support."
BEN_RATIONALE = "An unexplained bump on a child under three: significant harm, so a strategy discussion."
SCENARIOS = bundles.PROCESSES_DIR / "initial_contact" / "scenarios"


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
    page.get_by_label("A concern about a child's welfare or safety", exact=True).check()
    referrer = page.get_by_role("group", name="The referrer", exact=True)
    referrer.get_by_label("Referrer's full name", exact=True).fill("Sam Teacher")
    referrer.get_by_label("Professional", exact=True).check()
    referrer.get_by_label("Role", exact=True).fill("Class teacher")
    referrer.get_by_label("Agency or organisation", exact=True).fill("Oak Primary School")
    referrer.get_by_label("Email address", exact=True).fill("s.teacher@oak.example")
    yes_to(referrer, "Does the referrer work directly with the family?")
    no_to(referrer, "Does the referrer agree to be named to the family?")
    fill_child(page, 1, "Amy Example", ("2", "4", "2016"), "Female")

    with page.expect_response(lambda r: posted_action(r.request) == "add:children") as added:
        page.get_by_role("button", name="Add another child").click()
    assert added.value.status == 200
    fill_child(page, 2, "Ben Example", ("30", "9", "2024"), "Male")
    # The page was drawn again by the server with everything typed so far.
    child_1 = page.get_by_role("group", name="Child 1", exact=True)
    expect(child_1.get_by_label("Child's full name", exact=True)).to_have_value("Amy Example")
    expect(child_1.get_by_label("Female", exact=True)).to_be_checked()
    expect(referrer.get_by_label("Referrer's full name", exact=True)).to_have_value("Sam Teacher")
    expect(answer(referrer, "Does the referrer agree to be named to the family?", "No")).to_be_checked()

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
    # A professional's phone call is followed by a written MARF: here it has already come.
    yes_to(page, "Has the written MARF been received?")
    for question in (
        "Is this a request for the Disabled Children's Team?",
        "Is there an allegation against someone who works with children?",
        "Is there a fire risk at the home?",
        "Has a child been setting fires?",
    ):
        no_to(page, question)

    # Forgetting the concern is caught, with everything else kept.
    page.get_by_role("button", name="Record the contact").click()
    concern = page.get_by_label("What is the concern?", exact=True)
    error_summary_is_focused_and_links_to(page, "Describe the concern", concern)
    expect(page.get_by_role("group", name="Child 2", exact=True).get_by_label("Child's full name")).to_have_value(
        "Ben Example"
    )
    expect(page.get_by_label("Yes, consent given", exact=True)).to_be_checked()
    expect(answer(page, "Has the written MARF been received?", "Yes")).to_be_checked()
    expect(answer(page, "Has a child been setting fires?", "No")).to_be_checked()
    axe.check(page, "record a contact, with errors")
    concern.fill("Amy said she is frightened to go home; Ben was seen with a small bump on his head.")
    page.get_by_role("button", name="Record the contact").click()

    # The case page: both children, neither decided yet.
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(re.compile(r"Case \S+"))
    expect(page.get_by_text("Contact recorded: saved.")).to_be_visible()
    for name in ("Amy Example", "Ben Example"):
        expect(child_row(page, name)).to_contain_text("Pending")
    axe.check(page, "the case page, just recorded")
    case_url = page.url.split("?")[0]
    reference = re.search(r"Case (\S+)", heading.inner_text()).group(1)

    # The call handler finds Amy again from a surname misheard on the phone; her page lists this contact.
    page.get_by_role("link", name="Find a child", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Find a child already known")
    axe.check(page, "find a child")
    page.get_by_label("Name", exact=True).fill("Amy Exsample")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Amy Exsample")
    matches = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Why it may be them"))
    amy = matches.get_by_role("row").filter(has=page.get_by_role("link", name="Amy Example", exact=True))
    expect(amy).to_contain_text("Sounds alike")
    expect(amy).to_contain_text("2 April 2016")
    axe.check(page, "find a child, with matches")
    amy.get_by_role("link", name="Amy Example", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Amy Example")
    every_contact = page.get_by_role("heading", name="Every contact", exact=True).locator(
        "xpath=following-sibling::table[1]"
    )
    contact = every_contact.get_by_role("row").filter(has=page.get_by_role("link", name=reference, exact=True))
    expect(contact).to_have_count(1)
    expect(contact).to_contain_text("Open")
    axe.check(page, "a child's page")
    contact.get_by_role("link", name=reference, exact=True).click()
    expect(heading).to_contain_text(f"Case {reference}")
    sign_out(page)

    # The senior social worker first reviews each child's contact; nothing is decided before a review.
    sign_in(page, site, "demo.ssw")
    expect(page.get_by_role("heading", level=1)).to_have_text("My tasks")
    reviews = page.get_by_role("link", name=re.compile(f"^{REVIEW}: "))
    expect(reviews).to_have_count(2)
    for name in ("Amy Example", "Ben Example"):
        expect(page.get_by_role("link", name=f"{REVIEW}: {name}", exact=True)).to_have_count(1)
    expect(page.get_by_role("link", name=re.compile(f"^{DECIDE}: "))).to_have_count(0)
    axe.check(page, "my tasks (senior social worker)")

    # Amy: reviewed, then early help, which her mother has consented to. A decision without its rationale is
    # refused, and the choice is kept.
    review(page, "Amy Example", axe)
    open_task(page, f"{DECIDE}: Amy Example")
    expect(page.get_by_role("heading", level=1)).to_have_text(DECIDE)
    # Claimed first, so colleagues see the decision is in hand.
    page.get_by_role("button", name="Claim this task").click()
    expect(page.get_by_text("You have claimed this task")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text(DECIDE)
    axe.check(page, "the decision form, claimed")
    page.get_by_label("Early help (level 2)", exact=True).check()
    page.get_by_role("button", name="Save and continue").click()
    rationale = page.get_by_label("Rationale", exact=True)
    error_summary_is_focused_and_links_to(page, "Give the reason for your decision", rationale)
    expect(page.get_by_label("Early help (level 2)", exact=True)).to_be_checked()
    axe.check(page, "the decision form, with errors")
    rationale.fill(AMY_RATIONALE)
    page.get_by_role("button", name="Save and continue").click()
    expect(page.get_by_text(f"{DECIDE}: saved.")).to_be_visible()
    expect(child_row(page, "Amy Example")).to_contain_text("Referral to other agency")
    expect(child_row(page, "Ben Example")).to_contain_text("Pending")

    # Ben: significant harm, and his parents are told about the strategy discussion. That question is revealed
    # under its threshold and is required there; the rationale typed is kept while it is answered.
    page.get_by_role("link", name="My tasks", exact=True).click()
    expect(reviews).to_have_count(1)
    review(page, "Ben Example")
    open_task(page, f"{DECIDE}: Ben Example")
    page.get_by_label("Significant harm, section 47 (level 4)", exact=True).check()
    told = "Will the parents be told about the strategy discussion?"
    expect(page.get_by_role("group", name=told, exact=True)).to_be_visible()
    rationale.fill(BEN_RATIONALE)
    page.get_by_role("button", name="Save and continue").click()
    told_yes = answer(page, told, "Yes")
    error_summary_is_focused_and_links_to(page, "Select whether the parents will be told, and if not, why", told_yes)
    expect(page.get_by_label("Significant harm, section 47 (level 4)", exact=True)).to_be_checked()
    expect(rationale).to_have_value(BEN_RATIONALE)
    axe.check(page, "the decision form, s47 with errors")
    told_yes.check()
    page.get_by_role("button", name="Save and continue").click()

    # The case page: each child's outcome, Ben's referral and hand-over, the timeline with both decisions and
    # why, and the letters.
    expect(page.get_by_text(f"{DECIDE}: saved.")).to_be_visible()
    assert page.url.split("?")[0] == case_url
    amy, ben = child_row(page, "Amy Example"), child_row(page, "Ben Example")
    expect(amy).to_contain_text("Early help (level 2)")
    expect(amy).to_contain_text("Referral to other agency")
    expect(ben).to_contain_text("Significant harm, s47 (level 4)")
    expect(ben).to_contain_text("Progress to referral")
    expect(ben).to_contain_text("Handed over to Strategy discussion")
    for row in (amy, ben):
        expect(row).not_to_contain_text("Pending")
    referrals = section_after(page, "Referrals", "table")
    expect(referrals.get_by_role("rowheader")).to_have_text(["Ben Example"])
    # Ben's strategy discussion began as a flow of its own on this case, handed over from the contact.
    flows = section_after(page, "Flows", "table")
    expect(flows.get_by_role("row").nth(1)).to_contain_text("Initial contact")
    expect(flows.get_by_role("row").nth(1)).to_contain_text("Finished")
    expect(flows.get_by_role("row").nth(2)).to_contain_text("Strategy discussion")
    expect(flows.get_by_role("row").nth(2)).to_contain_text("Handed over for Ben Example")
    expect(flows.get_by_role("row").nth(2)).to_contain_text("In progress")
    for name, why in (("Amy Example", AMY_RATIONALE), ("Ben Example", BEN_RATIONALE)):
        # On the timeline: an entry headed by the decision, with the rationale given.
        decision = page.get_by_role("listitem").filter(
            has=page.get_by_role("heading", name=f"{DECIDE}: {name}", exact=True)
        )
        expect(decision).to_have_count(1)
        expect(decision).to_contain_text(why)
    expect(section_after(page, "Open tasks", "ul")).to_contain_text("Arrange the strategy discussion")
    axe.check(page, "the case page, decided")

    # Letters are written once every child is decided: one to the referrer, one to the parent told.
    letters = section_after(page, "Letters", "ul").get_by_role("listitem")
    to_referrer = letters.filter(has_text="to referrer")
    to_parent = letters.filter(has_text="to parent")
    expect(to_referrer).to_have_count(1)
    expect(to_parent).to_have_count(1)
    expect(to_parent.get_by_role("link", name=re.compile("^Download PDF"))).to_have_count(1)
    to_parent.get_by_role("link").first.click()
    letter = page.get_by_role("main")
    expect(letter).to_contain_text("Dear Pat Example")
    expect(letter).to_contain_text("Ben Example: Progress to referral")
    # The referrer did not agree to be named: nothing of theirs reaches the family.
    for detail in ("Sam Teacher", "Oak Primary", "s.teacher@oak.example"):
        expect(letter).not_to_contain_text(detail)
    axe.check(page, "a letter")
    page.get_by_role("link", name="Back to the case", exact=True).click()
    to_referrer.get_by_role("link").first.click()
    expect(letter).to_contain_text("Amy Example: Referral to other agency")
    expect(letter).to_contain_text("Your identity has not been shared with the family.")

    axe.assert_no_violations()


def test_a_late_completion_says_who_completed_the_task_and_keeps_the_answers(
    site: str, page: Page, second_page: Page, axe: Any
) -> None:
    record_from_scenario("s17_consent_given")
    users.create_user("jo.senior", "Jo Senior", users.DEMO_PASSWORD, ["ssw"], ROLES["ssw"].team)
    db.session.commit()

    # Two senior social workers open the same review.
    sign_in(page, site, "demo.ssw")
    open_task(page, f"{REVIEW}: Amy Example")
    sign_in(second_page, site, "jo.senior")
    open_task(second_page, f"{REVIEW}: Amy Example")

    # The demo worker starts writing a question while Jo decides she has enough to go on.
    page.get_by_label("Ask for more information first", exact=True).check()
    page.get_by_role("group", name="Who should be asked?", exact=True).get_by_label("The referrer").check()
    careful = "My own careful words: how often has Amy been late this term, and who brings her?"
    page.get_by_label("What do you need to know?", exact=True).fill(careful)
    second_page.get_by_label("I have enough to decide", exact=True).check()
    second_page.get_by_role("button", name="Save and continue").click()
    expect(second_page.get_by_text(f"{REVIEW}: saved.")).to_be_visible()

    # The late answer is not saved: the page names Jo and shows back everything typed, to copy from.
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Save and continue").click()
    assert posted.value.status == 409
    expect(page.get_by_role("heading", level=1)).to_have_text("Someone else completed this task")
    expect(page.get_by_role("main")).to_contain_text(re.compile(r"This task was completed by Jo Senior at \d\d:\d\d"))
    expect(page.get_by_label("What do you need to know?", exact=True)).to_have_value(careful)
    expect(page.get_by_label("Ask for more information first", exact=True)).to_be_checked()
    expect(page.get_by_label("The referrer", exact=True)).to_be_checked()
    expect(page.get_by_role("button", name="Save and continue")).to_have_count(0)
    axe.check(page, "a task completed by someone else")

    # Only Jo's answer counts: the child goes on to the decision, not to a question for the referrer.
    page.get_by_role("link", name="Back to my tasks", exact=True).click()
    expect(page.get_by_role("link", name=f"{DECIDE}: Amy Example", exact=True)).to_have_count(1)
    expect(page.get_by_role("link", name=re.compile(f"^{REVIEW}: "))).to_have_count(0)
    axe.assert_no_violations()


def test_a_contact_recorded_in_error_is_voided_and_leaves_the_trays(site: str, page: Page, axe: Any) -> None:
    case = record_from_scenario("two_children_decided_apart_unsafe_address")
    sign_in(page, site, "demo.ssw")
    reviews = page.get_by_role("link", name=re.compile(f"^{REVIEW}: "))
    expect(reviews).to_have_count(2)

    page.get_by_role("link", name=case.reference, exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Case {case.reference}")
    page.get_by_role("button", name="Void: recorded in error", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Void this contact")
    axe.check(page, "void a contact")

    # Too short a reason is refused, with what was typed kept.
    reason = page.get_by_label("Why was this contact recorded in error?", exact=True)
    reason.fill("Twice")
    page.get_by_role("button", name="Void the contact", exact=True).click()
    error_summary_is_focused_and_links_to(
        page, "Say why the contact was recorded in error, in at least 10 characters", reason
    )
    expect(page).to_have_title(re.compile(r"^Error: "))
    expect(reason).to_have_value("Twice")
    axe.check(page, "void a contact, with errors")

    why = "Recorded twice: the same call from Oak Primary School is already on another contact."
    reason.fill(why)
    page.get_by_role("button", name="Void the contact", exact=True).click()
    expect(page.get_by_text("Contact voided: saved.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Voided")
    expect(page.get_by_text("Recorded in error: voided")).to_contain_text(why)
    expect(page.get_by_text("No tasks are waiting.")).to_be_visible()
    expect(page.get_by_role("button", name="Void: recorded in error", exact=True)).to_have_count(0)
    axe.check(page, "the case page, voided")

    page.get_by_role("link", name="My tasks", exact=True).click()
    expect(page.get_by_text("There are no tasks waiting here.")).to_be_visible()
    expect(reviews).to_have_count(0)
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == "voided"
    axe.assert_no_violations()


# ---------------------------------------------------------------------------------------------------------


def record_from_scenario(stem: str) -> Case:
    """The contact a scenario starts from, recorded by the demo call handler through the service."""
    start = json.loads((SCENARIOS / f"{stem}.json").read_text(encoding="utf-8"))["start"]
    return contacts.record_contact(scenarios.demo_user("fpoc"), copy.deepcopy(start))


def sign_in(page: Page, site: str, username: str) -> None:
    page.goto(f"{site}/login")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill("compass-demo")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as")).to_be_visible()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Compass")


def open_task(page: Page, name: str) -> None:
    """From the tray or the case page, whichever is shown: both list the task by its name and subject."""
    page.get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name.split(":")[0])


def review(page: Page, child: str, axe: Any | None = None) -> None:
    """The review of one child's contact, with enough to decide: the case page then offers the decision."""
    open_task(page, f"{REVIEW}: {child}")
    if axe is not None:
        axe.check(page, "the review form")
    page.get_by_label("I have enough to decide", exact=True).check()
    page.get_by_role("button", name="Save and continue").click()
    expect(page.get_by_text(f"{REVIEW}: saved.")).to_be_visible()
    expect(section_after(page, "Open tasks", "ul").get_by_role("link", name=f"{DECIDE}: {child}")).to_have_count(1)


def answer(scope: Page | Locator, question: str, choice: str) -> Locator:
    return scope.get_by_role("group", name=question, exact=True).get_by_label(choice, exact=True)


def yes_to(scope: Page | Locator, question: str) -> None:
    answer(scope, question, "Yes").check()


def no_to(scope: Page | Locator, question: str) -> None:
    answer(scope, question, "No").check()


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
    table = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Outcome", exact=True))
    return table.get_by_role("row").filter(has=page.get_by_role("rowheader", name=name))


def section_after(page: Page, heading: str, element: str) -> Locator:
    """The list or table that a case page's section heading introduces."""
    return page.get_by_role("heading", name=heading, exact=True).locator(f"xpath=following-sibling::{element}[1]")


def error_summary_is_focused_and_links_to(page: Page, message: str, field: Locator) -> None:
    """GOV.UK Frontend focuses the error summary when the page loads; its link to the field focuses that field."""
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("heading", name="There is a problem")).to_be_visible()
    field_id = field.get_attribute("id")
    assert field_id, "the field has no id to link to"
    link = summary.get_by_role("link", name=message, exact=True)
    expect(link).to_have_attribute("href", f"#{field_id}")
    link.click()
    expect(field).to_be_focused()
