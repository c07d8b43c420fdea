"""A letter on the case: laid out on its page, its delivery status as a tag, and downloaded as a PDF under the
same checks as the page — a letter to the referrer stays hidden from whoever may not see the referrer."""

from __future__ import annotations

import json
import re

from pdf_text import pdf_text
from sqlalchemy import select, update
from support import user

import handlers
from app.extensions import db
from app.models import AuditEvent, Case, OutboxItem, ProcessInstance, Task
from app.services import bundles, contacts, workflow

SCENARIOS = bundles.PROCESSES_DIR / "initial_contact/scenarios"
S17 = json.loads((SCENARIOS / "s17_consent_given.json").read_text())
EARLY_HELP = json.loads((SCENARIOS / "early_help_request_goes_to_the_hub.json").read_text())


def decided_s17_case() -> Case:
    """A child in need with consent, decided and its referral's outcome written: letters to parent and referrer."""
    case = contacts.record_contact(user("fpoc"), S17["start"])
    for step in S17["steps"]:
        task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == step["task"]))
        workflow.complete_task(user(step["as"]), task.id, step.get("data", {}))
    return case


def letters(case_id: int) -> list[OutboxItem]:
    return list(db.session.scalars(select(OutboxItem).where(OutboxItem.case_id == case_id).order_by(OutboxItem.id)))


def downloads() -> list[dict]:
    return [e.data for e in db.session.scalars(select(AuditEvent).where(AuditEvent.name == "LETTER_DOWNLOADED"))]


def test_the_parents_letter_downloads_as_a_pdf(web) -> None:
    case = decided_s17_case()
    parent = next(i for i in letters(case.id) if i.recipient_role == "parent")
    ssw = web.login("ssw")
    response = ssw.client.get(f"/cases/{case.id}/letters/{parent.id}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="{case.reference}-information_received-{parent.id}.pdf"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    assert response.data.startswith(b"%PDF-")
    text = pdf_text(response.data)
    assert "Amy Example" in text and "Dear Pat Example," in text and parent.subject in text
    db.session.expire_all()
    assert downloads() == [{"case_id": case.id, "outbox_item_id": parent.id}]


def test_the_case_page_shows_each_letters_delivery_status_and_a_download_link(web) -> None:
    case = decided_s17_case()
    items = letters(case.id)
    # The worker's work, done the way it records it: one letter sent, one failed, the rest still queued.
    db.session.execute(update(OutboxItem).where(OutboxItem.id == items[0].id).values(status="delivered"))
    db.session.execute(update(OutboxItem).where(OutboxItem.id == items[1].id).values(status="failed"))
    db.session.commit()
    page = web.login("ssw").get(f"/cases/{case.id}")
    letters_section = page[page.index("Letters</h2>") : page.index("Timeline</h2>")]
    rows = re.findall(r"<li>(.*?)</li>", letters_section, re.S)
    assert len(rows) == len(items) == 4
    tags = [re.search(r'<strong class="govuk-tag (govuk-tag--\w+)">(\w+)</strong>', row).groups() for row in rows]
    assert tags == [
        ("govuk-tag--green", "Sent"),
        ("govuk-tag--red", "Failed"),
        ("govuk-tag--grey", "Queued"),
        ("govuk-tag--grey", "Queued"),
    ]
    for item, row in zip(items, rows):
        assert f'href="/cases/{case.id}/letters/{item.id}.pdf"' in row and "Download PDF" in row


def test_the_letter_page_shows_the_letter_as_it_is_printed(web) -> None:
    case = decided_s17_case()
    parent = next(i for i in letters(case.id) if i.recipient_role == "parent")
    page = web.login("ssw").get(f"/cases/{case.id}/letters/{parent.id}")
    assert '<strong class="govuk-tag govuk-tag--grey">Queued</strong>' in page
    assert '<address class="govuk-body compass-letter__address">Pat Example<br>1 High Street<br>' in page
    assert '<ul class="govuk-list govuk-list--bullet">\n    <li>Amy Example: Progress to referral</li>' in page
    assert f'href="/cases/{case.id}/letters/{parent.id}.pdf"' in page
    assert downloads() == []  # looking at the page is not a download


def test_a_letter_to_the_referrer_is_hidden_from_whoever_may_not_see_the_referrer(web) -> None:
    # The Early Help hub sees this case while it holds the request, but never who made the contact.
    case = contacts.record_contact(user("fpoc"), EARLY_HELP["start"])
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case.id))
    referrer = EARLY_HELP["start"]["referrer"]
    # A letter to the referrer while the hub still holds its task, queued as every handler's letter is.
    to_referrer = handlers.Outgoing(
        channel="letter",
        template="referral_acknowledgement",
        recipient_role="referrer",
        recipient_name=referrer["name"],
        address=referrer["address"],
        fields={"case_reference": case.reference, "child_name": "Amy Example"},
    )
    workflow._queue_outgoing(case, instance, [to_referrer], None)
    db.session.commit()
    (item,) = letters(case.id)
    url = f"/cases/{case.id}/letters/{item.id}.pdf"

    hub = web.login("early_help")
    hub.get(f"/cases/{case.id}")  # the hub does see the case
    refused = hub.client.get(url)
    assert refused.status_code == 404 and not refused.data.startswith(b"%PDF")
    assert referrer["name"] not in refused.get_data(as_text=True)
    hub.get(f"/cases/{case.id}/letters/{item.id}", expect=404)
    assert downloads() == []

    # The hub's own staff may: the 404 above is the referrer rule, not a broken route.
    response = web.another().login("coordinator").client.get(url)
    assert response.status_code == 200 and referrer["name"] in pdf_text(response.data)

    # Its part done, the case leaves the hub's sight altogether.
    task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "early_help_request"))
    workflow.complete_task(user("early_help"), task.id, EARLY_HELP["steps"][0]["data"])
    hub.get(url, expect=403)


def test_a_letter_is_only_found_under_its_own_case(web) -> None:
    first = decided_s17_case()
    second = contacts.record_contact(user("fpoc"), S17["start"])
    item = letters(first.id)[0]
    ssw = web.login("ssw")
    ssw.get(f"/cases/{second.id}/letters/{item.id}.pdf", expect=404)
    ssw.get(f"/cases/{first.id}/letters/{item.id + 1000}.pdf", expect=404)
    ssw.get(f"/cases/{first.id + 1000}/letters/{item.id}.pdf", expect=404)
    assert downloads() == []
