"""Each flow after the initial contact, walked end to end in a real browser by the demo users of its roles:

- a strategy discussion: a contact decided at section 47 is arranged and recorded by the senior social worker,
  with a section 47 decision; the case shows it held, and the list of discussions shows the conference date;
- a request for information: a coordinator logs it, business support checks the records, the senior social
  worker decides to disclose, and the register shows it disclosed;
- a domestic-abuse notification: a coordinator enters it, police, health and social care share what they
  know, and the senior social worker records the joint decision at level 2; the case shows the outcome;
- Multi Agency Triage: a contact without consent is handed over to MAT, police, health and social care share
  their records, the senior social worker records the meeting's decision; the triage list shows the child;
- a LADO allegation: the LADO considers it, holds the meeting and records the outcome; the register lists it.

Each person signs in as themselves, opens their task from the tray ("My tasks" or "Team tasks") or from the
case page, and fills it in by labels and roles, as a person using a screen reader would. A flow that begins
from an initial contact starts from one recorded and decided through the services, as the scenarios do: the
contact form is walked in the browser by test_contact_journey.py. axe-core checks each distinct page.

A partner (police, health) may no longer see the case once their part is done: after saving they are taken
back to their tray and told it was saved.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import current_app
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select
from test_contact_journey import answer, child_row, no_to, open_task, section_after, sign_in, sign_out, yes_to

from app.engine.calendar import Calendar
from app.extensions import db
from app.models import Case, Task
from app.models.strategy import StrategyDiscussion
from app.services import bundles, contacts, da_notifications, scenarios, workflow

pytestmark = pytest.mark.browser

PROCESSES = bundles.PROCESSES_DIR
LONDON = ZoneInfo("Europe/London")
SAVE = "Save and continue"


# ---------------------------------------------------------------------------------------------------------
# 1. Strategy discussion

ARRANGE = "Arrange the strategy discussion"
RECORD = "Record the strategy discussion"


def test_a_strategy_discussion_is_arranged_and_recorded_with_a_section_47_decision(
    site: str, page: Page, axe: Any
) -> None:
    case = contact_decided_as_in("initial_contact", "s47_strategy_discussion")
    sign_in(page, site, "demo.ssw")
    expect(page.get_by_role("heading", level=1)).to_have_text("My tasks")
    axe.check(page, "my tasks (senior social worker)")

    # Arrange: when, where, who chairs; the invitees proposed from the contact, and one more added.
    open_task(page, f"{ARRANGE}: Amy Example")
    axe.check(page, "arrange a strategy discussion")
    no_to(page, "Is going missing or exploitation a feature of the concern?")
    meeting_day = london_today() + timedelta(days=1)
    fill_date(page, "Date of the discussion", meeting_day)
    page.get_by_label("Time", exact=True).fill("10:00")
    page.get_by_label("Where, or how to join", exact=True).fill("Compass, Shirehall, or dial 01743 000999")
    page.get_by_label("A senior social worker", exact=True).check()
    page.get_by_label("Name of the chair", exact=True).fill("Demo senior social worker")
    invited = page.get_by_role("group", name="Who is invited", exact=True)
    police = invited.get_by_role("group", name="Invitee 1", exact=True)
    expect(police.get_by_label("Agency", exact=True)).to_have_value("Police")  # police always come first
    proposed = invited.get_by_role("group", name=re.compile(r"^Invitee \d+$")).count()
    invited.get_by_role("button", name="Add another invitee").click()
    added = page.get_by_role("group", name=f"Invitee {proposed + 1}", exact=True)
    added.get_by_label("Agency", exact=True).fill("Castle Housing")
    added.get_by_label("E-mail address", exact=True).fill("safeguarding@castle-housing.example.org")
    added.get_by_label("Why they are invited", exact=True).fill("The family's landlord")
    page.get_by_role("button", name=SAVE).click()
    expect(page.get_by_text(f"{ARRANGE}: saved.")).to_be_visible()
    arranged = timeline_entry(page, "Strategy discussion arranged: Amy Example")
    expect(arranged).to_contain_text(f"{meeting_day:%d %B %Y} at 10:00")
    expect(arranged).to_contain_text("Castle Housing")
    axe.check(page, "the case page, discussion arranged")

    # Record it, from the case page: who took part is the invitees; one agency's contribution; a s47 decision.
    open_task(page, f"{RECORD}: Amy Example")
    axe.check(page, "record a strategy discussion")
    page.get_by_label("In person", exact=True).first.check()
    took_part = page.get_by_role("group", name="Who took part", exact=True)
    expect(took_part.get_by_role("group", name="Attendee 1", exact=True).get_by_label("Agency")).to_have_value("Police")
    page.get_by_role("button", name="Add another contribution").click()
    contribution = page.get_by_role("group", name="Contribution 1", exact=True)
    contribution.get_by_label("Agency", exact=True).fill("Police")
    answer(contribution, "How did they contribute?", "In person").check()
    contribution.get_by_label("What they shared", exact=True).fill("Two call-outs to the address this year.")
    page.get_by_label("A section 47 enquiry only", exact=True).check()
    page.get_by_label("Plan: contacting the parents", exact=True).fill("The duty social worker visits today.")
    page.get_by_label("Plan: interviewing the child", exact=True).fill("Amy is seen alone at school tomorrow.")
    page.get_by_label("Plan: risk to other children", exact=True).fill("No other children live at the address.")
    page.get_by_label("Agreed actions", exact=True).fill("Visit today; review at the team meeting on Friday.")
    page.get_by_label("Social care's rationale", exact=True).fill("The bruising and what Amy said: significant harm.")
    page.get_by_label("The police's rationale", exact=True).fill("No offence to investigate on what is known now.")
    page.get_by_role("button", name=SAVE).click()
    expect(page.get_by_text(f"{RECORD}: saved.")).to_be_visible()

    # The case: the discussion held with its decision and the conference date, the flow finished.
    # Due 15 working days from the discussion, on the app's own calendar, counted from when it was recorded.
    held_at = db.session.scalar(select(StrategyDiscussion.s47_started_at).where(StrategyDiscussion.case_id == case.id))
    assert held_at is not None, "no section 47 enquiry was started"
    icpc_due = conference_due_from(held_at)
    held = timeline_entry(page, "Strategy discussion held: Amy Example")
    expect(held).to_contain_text("Section 47 enquiry")
    expect(held).to_contain_text(f"{icpc_due:%d %B %Y}")
    expect(flow_row(page, "Strategy discussion")).to_contain_text("Finished")
    expect(child_row(page, "Amy Example")).to_contain_text("Progress to referral")
    expect(page.get_by_text("No tasks are waiting.")).to_be_visible()
    axe.check(page, "the case page, discussion held")

    # The list of discussions: held, decided, and the conference due 15 working days on.
    page.goto(f"{site}/strategy-discussions")
    expect(page.get_by_role("heading", level=1)).to_have_text("Strategy discussions")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Amy Example", exact=True))
    expect(row).to_have_count(1)
    expect(row).to_contain_text(case.reference)
    expect(row).to_contain_text("Held")
    expect(row).to_contain_text("Section 47 enquiry")
    expect(row.get_by_role("cell").last).to_have_text(f"{icpc_due:%-d %B %Y}")
    axe.check(page, "the list of strategy discussions")
    axe.assert_no_violations()


# ---------------------------------------------------------------------------------------------------------
# 2. Request for information

CHECKS = "Check what the records hold"
DECIDE_REQUEST = "Decide on the request"


def test_a_request_for_information_is_logged_checked_and_disclosed(site: str, page: Page, axe: Any) -> None:
    sign_in(page, site, "demo.coordinator")
    page.goto(f"{site}/information-requests/new")
    expect(page.get_by_role("heading", level=1)).to_have_text("Log a request for information")
    axe.check(page, "log a request for information")
    page.get_by_label("Police", exact=True).check()
    page.get_by_label("Requester's full name", exact=True).fill("DC Sam Officer")
    page.get_by_label("Requester's e-mail address", exact=True).fill("sam.officer@police.example.org")
    person = page.get_by_role("group", name="Person 1", exact=True)
    person.get_by_label("Full name", exact=True).fill("Liam Probe")
    fill_date(person, "Date of birth", date(1990, 1, 30))
    page.get_by_label("What information do they ask for?", exact=True).fill(
        "Everything held about Liam Probe and the children at his address."
    )
    page.get_by_label("Why do they need it?", exact=True).fill(
        "An investigation into assaults at the address would be prejudiced without knowing of earlier incidents."
    )
    page.get_by_label("An investigation that would be prejudiced without the information", exact=True).check()
    page.get_by_role("button", name="Log the request").click()
    expect(page.get_by_text("Request for information logged: saved.")).to_be_visible()
    reference = case_reference_shown(page)
    axe.check(page, "the case page of a request")
    sign_out(page)

    # Business support: the routine checks, from the team tray.
    sign_in(page, site, "demo.business_support")
    page.get_by_role("link", name="Team tasks", exact=True).first.click()
    open_task(page, f"{CHECKS}: Liam Probe")
    axe.check(page, "the routine checks")
    no_to(page, "Do Compass's records hold anything about them?")
    page.get_by_label("What the records hold", exact=True).fill("Nothing found in Compass's records.")
    page.get_by_role("button", name=SAVE).click()
    expect(page.get_by_text(f"{CHECKS}: saved.")).to_be_visible()
    sign_out(page)

    # The senior social worker decides to disclose part of it.
    sign_in(page, site, "demo.ssw")
    open_task(page, f"{DECIDE_REQUEST}: Liam Probe")
    expect(page.get_by_role("main")).to_contain_text("Nothing found in Compass's records.")  # the checks, shown
    axe.check(page, "decide on a request")
    yes_to(page, "Is what they ask for proportionate to why they need it?")
    page.get_by_label("Disclose part of it", exact=True).check()
    disclosed = "One contact in March 2026 reported a disturbance at the address; no further action was taken."
    page.get_by_label("The information to disclose", exact=True).fill(disclosed)
    page.get_by_label("Rationale", exact=True).fill("Only the incident history is needed for the investigation.")
    page.get_by_role("button", name=SAVE).click()
    expect(page.get_by_text(f"{DECIDE_REQUEST}: saved.")).to_be_visible()
    expect(flow_row(page, "Information request")).to_contain_text("Finished")
    expect(page.get_by_text("No tasks are waiting.")).to_be_visible()

    # The register: disclosed, with the date; the request in full shows exactly what was sent.
    page.goto(f"{site}/information-requests")
    expect(page.get_by_role("heading", level=1)).to_have_text("Requests for information")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=reference, exact=True))
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Police")
    expect(row).to_contain_text("Disclosed")
    expect(row).to_contain_text("Disclose part")
    expect(row.get_by_role("cell").nth(6)).not_to_have_text("—")
    axe.check(page, "the register of information requests")
    row.get_by_role("link", name=f"Request {reference} in full").click()
    expect(page.get_by_role("main")).to_contain_text(disclosed)
    axe.check(page, "a request in full")
    axe.assert_no_violations()


# ---------------------------------------------------------------------------------------------------------
# 3. Domestic-abuse notification

POLICE_REFERENCE = "DA/2026/000101"
NOTIFICATION = f"Notification {POLICE_REFERENCE}"


def test_a_domestic_abuse_notification_is_triaged_jointly_to_level_2(site: str, page: Page, axe: Any) -> None:
    sign_in(page, site, "demo.coordinator")
    page.goto(f"{site}/domestic-abuse/new")
    expect(page.get_by_role("heading", level=1)).to_have_text("Record a domestic abuse notification")
    axe.check(page, "record a domestic abuse notification")
    page.get_by_label("Police reference", exact=True).fill(POLICE_REFERENCE)
    fill_date(page, "Date of the incident", london_today() - timedelta(days=1))
    page.get_by_label("Time of the incident", exact=True).fill("22:15")
    answer(page, "Police DASH risk level", "Standard").check()
    page.get_by_label("Number of DASH questions answered yes", exact=True).fill("4")
    no_to(page, "Is the case going to MARAC?")
    no_to(page, "Is this a repeat incident?")
    page.get_by_label("What happened", exact=True).fill(
        "Police called by a neighbour to shouting at the home. The children were upstairs and heard it."
    )
    victim = page.get_by_role("group", name="The victim", exact=True)
    victim.get_by_label("Victim's full name", exact=True).fill("Jo Victim")
    victim.get_by_label("Victim's address", exact=True).fill("3 River Walk, Shrewsbury SY1 2AB")
    yes_to(victim, "Is it safe to send letters to the victim at this address?")
    perpetrator = page.get_by_role("group", name="The alleged perpetrator", exact=True)
    perpetrator.get_by_label("Alleged perpetrator's full name", exact=True).fill("Lee Partner")
    perpetrator.get_by_label("Relationship to the victim", exact=True).fill("Partner")
    child = page.get_by_role("group", name="Child 1", exact=True)
    child.get_by_label("Child's full name", exact=True).fill("Ruby Victim")
    fill_date(child, "Date of birth", date(2017, 2, 11))
    child.get_by_label("Postcode", exact=True).fill("SY1 2AB")
    child.get_by_label("School or setting", exact=True).fill("Castlefields Primary School")
    child.get_by_label("School's secure e-mail address", exact=True).fill("dsl@castlefields.example.sch.uk")
    page.get_by_role("button", name="Record the notification").click()
    expect(page.get_by_text("Notification recorded: saved.")).to_be_visible()
    axe.check(page, "the case page of a notification")
    sign_out(page)

    # Each agency shares what it knows: police and health, then social care with the decision.
    for username, task, known, what in (
        ("demo.police", "Share the police's information", True, "One previous call-out in 2025, no further action."),
        ("demo.health", "Share health's information", True, "Ruby is up to date with immunisations."),
    ):
        sign_in(page, site, username)
        open_from_a_tray(page, f"{task}: {NOTIFICATION}")
        axe.check(page, f"{task.lower()} ({username})")
        share_what_is_known(page, known, what)
        partner_has_saved(page, f"{task}: {NOTIFICATION}")
        sign_out(page)

    sign_in(page, site, "demo.ssw")
    open_from_a_tray(page, f"Share social care's information: {NOTIFICATION}")
    share_what_is_known(page, False, "No previous contacts; not known to social care.")
    expect(page.get_by_text("Share social care's information: saved.")).to_be_visible()

    open_task(page, f"Agree the triage decision: {NOTIFICATION}")
    axe.check(page, "the joint triage decision")
    answer(page, "Risk level agreed at triage", "Standard").check()
    page.get_by_label("A child was present or saw or heard the incident", exact=True).check()
    page.get_by_label("A parent who acts to keep the children safe", exact=True).check()
    page.get_by_label("The children attend school or nursery regularly", exact=True).check()
    page.get_by_label("Level 2: letter offering support to the victim", exact=True).check()
    page.get_by_label("Rationale", exact=True).fill(
        "The children's presence against a protective parent and no history."
    )
    page.get_by_role("button", name=SAVE).click()
    expect(page.get_by_text("Agree the triage decision: saved.")).to_be_visible()

    # The outcome: advice to the family, a letter to the victim at a safe address and one to the school.
    expect(child_row(page, "Ruby Victim")).to_contain_text("Provision of information/advice")
    expect(flow_row(page, "Domestic-abuse notification triage")).to_contain_text("Finished")
    expect(page.get_by_text("No tasks are waiting.")).to_be_visible()
    letters = section_after(page, "Letters", "ul").get_by_role("listitem")
    expect(letters.filter(has_text="to victim")).to_have_count(1)
    expect(letters.filter(has_text="to school")).to_have_count(1)
    axe.check(page, "the case page, triaged")
    axe.assert_no_violations()


def test_a_partner_who_shares_their_part_is_told_it_was_saved(site: str, page: Page) -> None:
    start = scenario_of("da_triage", "level_2_letter_to_a_safe_address")["start"]
    da_notifications.record_for_scenario(scenarios.demo_user("coordinator"), copy.deepcopy(start))
    sign_in(page, site, "demo.police")
    open_from_a_tray(page, f"Share the police's information: {NOTIFICATION}")
    share_what_is_known(page, True, "One previous call-out in 2025, no further action.")
    expect(page.get_by_role("heading", level=1)).not_to_have_text("You cannot see this page", timeout=3000)
    expect(page.get_by_role("main")).to_contain_text("saved", timeout=1000)


# ---------------------------------------------------------------------------------------------------------
# 4. Multi Agency Triage


def test_a_child_without_consent_goes_through_multi_agency_triage(site: str, page: Page, axe: Any) -> None:
    needs_flow("mat")
    case = contact_decided_as_in("mat", "mat_decides_no_action_and_the_contact_closes")
    for username, task, known, label, what in (
        (
            "demo.police",
            "Share what police records show",
            "Are the child or the family known to police?",
            "What police records show",
            "One call-out to the address in 2025 for a noise complaint; no crimes recorded.",
        ),
        (
            "demo.health",
            "Share what health records show",
            "Are the child or the family known to health services?",
            "What health records show",
            "Registered with the GP; immunisations up to date.",
        ),
    ):
        sign_in(page, site, username)
        open_from_a_tray(page, f"{task}: Amy Example")
        axe.check(page, f"{task.lower()} ({username})")
        answer(page, known, "Yes, known").check()
        page.get_by_label(label, exact=True).fill(what)
        page.get_by_role("button", name=SAVE).click()
        partner_has_saved(page, f"{task}: Amy Example")
        sign_out(page)

    sign_in(page, site, "demo.ssw")
    page.goto(f"{site}/mat")
    expect(page.get_by_role("heading", level=1)).to_have_text("Multi Agency Triage")
    item = page.get_by_role("row").filter(has_text=case.reference)
    expect(item).to_contain_text("Amy Example")
    axe.check(page, "the triage list, before the meeting")
    item.get_by_role("link", name="Share what social care records show").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Share what social care records show")
    answer(page, "Are the child or the family known to children's social care?", "No, not known").check()
    page.get_by_label("What social care records show", exact=True).fill("Nothing recorded for the child or family.")
    page.get_by_role("button", name=SAVE).click()
    expect(page.get_by_text("Share what social care records show: saved.")).to_be_visible()

    open_task(page, "Record the meeting's decision: Amy Example")
    expect(page.get_by_role("main")).to_contain_text("One call-out to the address in 2025")  # what police shared
    axe.check(page, "the meeting's decision")
    page.get_by_label("No action: close the contact", exact=True).check()
    page.get_by_label("Rationale", exact=True).fill("Nothing in any agency's records adds to the concern.")
    page.get_by_role("button", name=SAVE).click()
    expect(page.get_by_text("Record the meeting's decision: saved.")).to_be_visible()
    expect(child_row(page, "Amy Example")).to_contain_text("No further action")
    expect(flow_row(page, "Multi Agency Triage")).to_contain_text("Finished")
    expect(page.get_by_text("No tasks are waiting.")).to_be_visible()
    axe.check(page, "the case page, triaged by MAT")

    page.goto(f"{site}/mat")
    item = page.get_by_role("row").filter(has_text=case.reference)
    expect(item).to_contain_text("Amy Example")
    expect(item.get_by_role("cell").nth(3)).to_have_text("No action")
    expect(item.locator("[data-part]")).to_have_count(3)
    for part in item.locator("[data-part]").all():
        expect(part).to_contain_text("Recorded")
    axe.check(page, "the triage list, decided")
    axe.assert_no_violations()


# ---------------------------------------------------------------------------------------------------------
# 5. LADO


def test_an_allegation_is_considered_met_about_and_closed_by_the_lado(site: str, page: Page, axe: Any) -> None:
    needs_flow("lado")
    case = contact_decided_as_in("lado", "unfounded_allegation")
    sign_in(page, site, "demo.lado")
    axe.check(page, "my tasks (LADO)")
    open_from_a_tray(page, "Consider the allegation: Amy Example")
    axe.check(page, "initial consideration of an allegation")
    page.get_by_label(
        "behaved or may have behaved in a way that indicates they may not be suitable to work with children",
        exact=True,
    ).check()
    page.get_by_label("Allegation management meeting", exact=True).check()
    page.get_by_label("Rationale", exact=True).fill(
        "The coach's behaviour may indicate a risk to the children he coaches."
    )
    page.get_by_label("Who at the employer should the LADO write to?", exact=True).fill("Jo Chair")
    page.get_by_label("Their email address", exact=True).fill("welfare@townjuniors.example")
    fill_date(page, "Date of birth of the person the allegation is against, if known", date(1990, 1, 15))
    page.get_by_role("button", name=SAVE).click()
    expect(page.get_by_text("Consider the allegation: saved.")).to_be_visible()
    axe.check(page, "the case page, as the LADO")

    open_task(page, "Hold an allegation management meeting: Amy Example")
    axe.check(page, "an allegation management meeting")
    fill_date(page, "Date of the meeting", london_today())
    attended = page.get_by_role("group", name="Who attended", exact=True)
    for n, (name, agency) in enumerate((("Jo Chair", "Employer"), ("DC Sam Reed", "Police")), start=1):
        if n > 1:
            attended.get_by_role("button", name="Add another attendee").click()
        attendee = page.get_by_role("group", name=f"Attendee {n}", exact=True)
        attendee.get_by_label("Full name", exact=True).fill(name)
        attendee.get_by_label("Agency", exact=True).select_option(label=agency)
    page.get_by_label("What was shared", exact=True).fill("The club and the police shared what they know of the coach.")
    page.get_by_label("No action at this meeting", exact=True).check()
    page.get_by_label("No referral to a regulator", exact=True).check()
    fill_date(page, "Review date", london_today() + timedelta(days=14))
    no_to(page, "Is a further meeting needed?")
    page.get_by_role("button", name=SAVE).click()
    expect(page.get_by_text("Hold an allegation management meeting: saved.")).to_be_visible()

    open_task(page, "Record the outcome: Amy Example")
    axe.check(page, "the outcome of an allegation")
    page.get_by_label("Unfounded: there is no evidence or proper basis for the allegation", exact=True).check()
    page.get_by_label("Rationale", exact=True).fill("From the police enquiries and the club's investigation.")
    page.get_by_role("button", name=SAVE).click()
    expect(page.get_by_text("Record the outcome: saved.")).to_be_visible()
    expect(flow_row(page, "LADO allegation")).to_contain_text("Finished")
    expect(page.get_by_text("No tasks are waiting.")).to_be_visible()

    page.goto(f"{site}/lado")
    expect(page.get_by_role("heading", level=1)).to_have_text("LADO allegations")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=case.reference, exact=True))
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Chris Coach")
    expect(row).to_contain_text("Within one working day")
    expect(row).to_contain_text("Closed: Unfounded")
    axe.check(page, "the LADO register")
    axe.assert_no_violations()


# ---------------------------------------------------------------------------------------------------------


def contact_decided_as_in(flow: str, stem: str) -> Case:
    """A scenario's contact recorded, and its senior social worker's steps (the review and the decision)
    completed, through the services: the flow that follows is what the test walks in the browser."""
    scenario = scenario_of(flow, stem)
    case = contacts.record_contact(scenarios.demo_user("fpoc"), copy.deepcopy(scenario["start"]))
    for step in scenario["steps"]:
        if step.get("task") not in ("ssw_review", "ssw_decision"):
            continue
        task = db.session.scalars(
            select(Task).where(Task.case_id == case.id, Task.bpmn_id == step["task"]).order_by(Task.created_at)
        ).first()
        assert task is not None, f"no {step['task']} on the case"
        workflow.complete_task(scenarios.demo_user(step["as"]), task.id, copy.deepcopy(step["data"]))
    db.session.expire_all()
    return case


def scenario_of(flow: str, stem: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((PROCESSES / flow / "scenarios" / f"{stem}.json").read_text(encoding="utf-8"))
    return found


def needs_flow(flow: str) -> None:
    assert (PROCESSES / f"{flow}.bpmn").is_file(), f"processes/{flow}.bpmn is missing"


def open_from_a_tray(page: Page, name: str) -> None:
    """The task from "My tasks" when it is there, otherwise from "Team tasks"."""
    page.get_by_role("link", name="My tasks", exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My tasks")
    if page.get_by_role("link", name=name, exact=True).count() == 0:
        page.get_by_role("link", name="Team tasks", exact=True).first.click()
    open_task(page, name)


def share_what_is_known(page: Page, known: bool, what: str) -> None:
    answer(page, "Is the family known to your agency?", "Yes" if known else "No").check()
    page.get_by_label("What your records show", exact=True).fill(what)
    page.get_by_role("button", name=SAVE).click()


def partner_has_saved(page: Page, name: str) -> None:
    """After a partner's Save: back on their tray, told it was saved, and the task has left their trays (they
    may no longer see the case once their part is done)."""
    page.wait_for_url(re.compile(r"/tasks$"))
    expect(page.get_by_role("main")).to_contain_text("saved")
    for tray in ("My tasks", "Team tasks"):
        page.get_by_role("link", name=tray, exact=True).first.click()
        expect(page.get_by_role("heading", level=1)).to_have_text(tray)
        expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)


def fill_date(scope: Page | Locator, question: str, day: date) -> None:
    group = scope.get_by_role("group", name=question, exact=True)
    for part, value in zip(("Day", "Month", "Year"), (day.day, day.month, day.year), strict=True):
        group.get_by_label(part, exact=True).fill(str(value))


def london_today() -> date:
    return datetime.now(LONDON).date()


def conference_due_from(moment: datetime) -> date:
    """15 working days from the discussion, on the app's own calendar, as the day it falls on in London."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # stored in UTC (SQLite gives it back naive)
    due = Calendar.from_settings(current_app.config).add_working_days(moment, 15)
    return due.astimezone(LONDON).date()


def timeline_entry(page: Page, title: str) -> Locator:
    entry = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name=title, exact=True))
    expect(entry).to_have_count(1)
    return entry


def flow_row(page: Page, flow: str) -> Locator:
    table = page.get_by_role("table", name="Each flow this case has been through, in order")
    return table.get_by_role("row").filter(has=page.get_by_role("cell", name=flow, exact=True))


def case_reference_shown(page: Page) -> str:
    heading = page.get_by_role("heading", level=1).inner_text()
    found = re.search(r"Case (\S+)", heading)
    assert found, heading
    return found.group(1)
