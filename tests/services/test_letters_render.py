"""Letters laid out as HTML and printed as PDF from what the outbox froze: every template, driven by real flows;
the referrer planted in every field of theirs and never found in a parent's letter unless they agreed to be
named; and letters only to addresses that are safe to write to."""

from __future__ import annotations

import copy
import html as html_lib
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from pdf_text import pdf_text, squashed
from sqlalchemy import select, update
from support import SCENARIO_START, duration, start_afresh
from weasyprint import HTML
from weasyprint.urls import FatalURLFetchingError

import handlers
from app.extensions import db
from app.models import Case, OutboxItem, Person, ProcessInstance
from app.services import bundles, letters_render, scenarios, workflow

SCENARIOS = {path.stem: scenario for path, scenario in scenarios.load("initial_contact")}
TEMPLATES = sorted(p.stem for p in (bundles.ROOT / "app/templates/letters").glob("*.txt"))
PARENT_TEMPLATES = {"information_received", "consent_not_given"}

# Unmistakable details for the referrer, planted in every field a referrer has (forms/contact_intake.json).
PLANTED = {
    "name": "Quentin Zephyrplant",
    "role": "Zephyr outreach lead",
    "agency": "Zephyrplant Trust",
    "phone": "07700 900417",
    "email": "q.zephyrplant@zephyr.example",
    "address": "17 Quillon Mews, Zephyrton ZZ9 9QQ",
}


def run(scenario: dict[str, Any]) -> scenarios.ScenarioResult:
    """A scenario through the real services on a fake clock its "advance" steps move."""
    with time_machine.travel(SCENARIO_START, tick=False) as clock:
        result = scenarios.run(scenario, advance=lambda text: clock.shift(duration(text)))
    assert result.mismatches == [], result.mismatches
    return result


def letters_of(case_id: int) -> list[OutboxItem]:
    return list(db.session.scalars(select(OutboxItem).where(OutboxItem.case_id == case_id).order_by(OutboxItem.id)))


def queue_support_offer(case_id: int) -> OutboxItem:
    """No flow writes the domestic-abuse support offer yet (that triage comes later), so queue it on a case
    the way every handler's letter is queued: the service freezes the template's text into the outbox."""
    case = db.session.get(Case, case_id)
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case_id))
    offer = handlers.Outgoing(
        channel="letter",
        template="da_support_offer",
        recipient_role="parent",
        recipient_name="Pat Example",
        address="1 High Street\nShrewsbury SY1 1AA",
        fields={
            "case_reference": case.reference,
            "children": [{"name": "Amy Example"}, {"name": "Ben Example"}],
            "support_service": {"name": "The domestic abuse service", "phone": "01743 000222"},
        },
    )
    workflow._queue_outgoing(case, instance, [offer], None)
    db.session.commit()
    return letters_of(case_id)[-1]


def body_lines(item: OutboxItem) -> list[str]:
    """What the reader must find: each line of the frozen body, bullets without their dash."""
    return [re.sub(r"^- ", "", line.strip()) for line in item.body.splitlines() if line.strip()]


def assert_shows_the_frozen_letter(item: OutboxItem) -> None:
    page = html_lib.unescape(re.sub(r"<[^>]+>", " ", letters_render.html(item)))
    page = re.sub(r"\s+", " ", page)
    text = pdf_text(letters_render.pdf(item))
    for shown in (page, text):
        for expected in [item.subject, item.recipient_name, *body_lines(item)]:
            assert re.sub(r"\s+", " ", expected) in shown, (item.template, expected)


# Scenarios of every flow that, between them, write every letter and e-mail there is.
WRITERS = [
    ("initial_contact", "s17_consent_given"),
    ("initial_contact", "s17_consent_refused"),
    ("initial_contact", "fire_risk_and_fire_setting_are_referred"),
    ("da_triage", "level_2_letter_to_a_safe_address"),
    ("da_triage", "level_3_early_offer_of_help_with_health_action"),
    ("information_request", "cafcass_court_order_disclosed_in_full"),
    ("information_request", "consent_never_received_so_refused"),
    ("lado", "late_initial_consideration_is_recorded_as_late"),
    ("lado", "at_most_three_meetings_then_the_outcome_false"),
    ("strategy_discussion", "missing_child_brings_the_ce_missing_lead_to_an_s47_enquiry"),
]


def test_every_letter_template_renders_to_html_and_pdf(fresh) -> None:
    seen: set[str] = set()
    for flow, stem in WRITERS:
        start_afresh()  # each scenario alone, as it runs in the scenario tests
        result = run(next(s for p, s in scenarios.load(flow) if p.stem == stem))
        items = letters_of(result.case_id)
        for item in items:
            pdf = letters_render.pdf(item)
            assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
            assert_shows_the_frozen_letter(item)
            seen.add(item.template)
    # A new template without a flow that writes it here is a letter nobody has seen printed.
    assert sorted(seen) == TEMPLATES


def test_the_support_offer_to_a_victim_is_discreet_and_complete(fresh) -> None:
    result = run(SCENARIOS["s17_consent_given"])
    offer = queue_support_offer(result.case_id)
    reference = db.session.get(Case, result.case_id).reference
    # The heading (and a window envelope) say nothing that someone else at the address could read into.
    assert offer.subject == f"An offer of support from Compass ({reference})"
    text = pdf_text(letters_render.pdf(offer))
    assert "Pat Example 1 High Street Shrewsbury SY1 1AA" in text
    assert "to offer you and Amy Example and Ben Example support" in text
    assert "The domestic abuse service can talk with you in confidence" in text
    assert "call 01743 000222" in text
    assert "call 0808 2000 247" in text
    assert f"give the reference {reference}" in text


def test_the_letter_is_what_was_queued_not_the_case_as_it_is_now(fresh) -> None:
    result = run(SCENARIOS["s17_consent_given"])
    parent = next(i for i in letters_of(result.case_id) if i.recipient_role == "parent")
    # The family's record changes after the letter was queued; the letter does not.
    db.session.execute(update(Person).where(Person.name == "Pat Example").values(name="Patricia Renamed"))
    db.session.commit()
    db.session.expire_all()
    assert db.session.scalar(select(Person).where(Person.name == "Patricia Renamed")) is not None
    for shown in (letters_render.html(parent), pdf_text(letters_render.pdf(parent))):
        assert "Pat Example" in shown and "Patricia Renamed" not in shown


def test_the_date_is_the_day_in_london_the_letter_was_queued() -> None:
    # 23:30 in UTC on 30 June is 00:30 on 1 July in London (summer time).
    item = OutboxItem(
        channel="letter",
        template="information_received",
        recipient_role="parent",
        recipient_name="Pat Example",
        address="1 High Street, Shrewsbury SY1 1AA",
        subject="We received information about your family (CT-000001)",
        body="Dear Pat Example,\n\nFirst paragraph.\n\n- Amy Example: Pending\n\nCompass, children's services\n",
        created_at=datetime(2026, 6, 30, 23, 30, tzinfo=UTC),
    )
    letter = letters_render.letter_of(item)
    assert letter.dated == "1 July 2026"
    assert letter.address_lines == ("1 High Street", "Shrewsbury SY1 1AA")
    # The sign-off is printed once, by the layout, not again as the body's last paragraph.
    assert [(b.kind, b.lines) for b in letter.blocks] == [
        ("paragraph", ("Dear Pat Example,",)),
        ("paragraph", ("First paragraph.",)),
        ("list", ("Amy Example: Pending",)),
    ]
    item.created_at = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # winter: London is on UTC
    assert letters_render.letter_of(item).dated == "31 December 2026"


def test_frozen_text_is_shown_as_text_and_a_letter_fetches_nothing(fresh) -> None:
    item = OutboxItem(
        channel="letter",
        template="information_received",
        recipient_role="parent",
        recipient_name='Pat "Example" & <b>Co</b>',
        address="1 High Street",
        subject="About <i>you</i>",
        body='Dear Pat,\n\nA line with <img src="http://127.0.0.1:9/tracker.png"> in it.\n',
        created_at=datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
    )
    page = str(letters_render.html(item))
    assert "<img" not in page and "&lt;img src=" in page and "&lt;b&gt;Co&lt;/b&gt;" in page
    document = letters_render.print_html(item)
    # The print document carries its own stylesheet and points at nothing outside itself.
    assert re.search(r"https?:(?!//127\.0\.0\.1:9/tracker)|url\(|@import|<link|<img|<script", document) is None
    text = pdf_text(letters_render.pdf(item))
    assert 'A line with <img src="http://127.0.0.1:9/tracker.png"> in it.' in text
    assert 'Pat "Example" & <b>Co</b>' in text
    # Had anything asked for a URL, the refusing fetcher stops the render loudly instead of fetching it.
    with pytest.raises(FatalURLFetchingError):
        HTML(
            string='<p>x<img src="http://127.0.0.1:9/tracker.png"></p>',
            url_fetcher=letters_render.RefuseEveryURL(fail_on_errors=True),
        ).write_pdf()


def _planted(stem: str, agrees: bool) -> dict[str, Any]:
    scenario = copy.deepcopy(SCENARIOS[stem])
    scenario["start"]["referrer"].update(PLANTED, agrees_to_be_named=agrees)
    return scenario


# Every scenario with a referrer in which a parent is written to (one handed over from a police notification
# has no referrer to hide).
WITH_PARENT_LETTERS = sorted(
    stem
    for stem, s in SCENARIOS.items()
    if s["start"].get("referrer") and PARENT_TEMPLATES & set(s.get("expect", {}).get("letters") or [])
)


def test_the_referrer_is_planted_in_the_flows_that_write_to_parents() -> None:
    assert len(WITH_PARENT_LETTERS) >= 8


@pytest.mark.parametrize("stem", WITH_PARENT_LETTERS)
def test_a_parents_letter_never_names_a_referrer_who_did_not_agree(fresh, stem: str) -> None:
    result = run(_planted(stem, agrees=False))
    items = letters_of(result.case_id)
    to_parents = [i for i in items if i.recipient_role == "parent"]
    assert to_parents, "the scenario wrote to no parent"
    for item in to_parents:
        page = str(letters_render.html(item))
        text = pdf_text(letters_render.pdf(item))
        assert "Amy Example" in text  # the reader works on this very letter
        for shown in (item.subject, item.body, item.address, page, text):
            for detail in PLANTED.values():
                assert detail not in shown, (item.template, detail)
                assert squashed(detail) not in squashed(shown), (item.template, detail)
    # The planting took: the referrer's own letters do carry what was planted.
    to_referrer = [i for i in items if i.recipient_role == "referrer"]
    assert to_referrer and all(i.recipient_name == PLANTED["name"] for i in to_referrer)


def test_a_parents_letter_names_a_referrer_who_agreed_and_nothing_more(fresh) -> None:
    result = run(_planted("s17_consent_given", agrees=True))
    parent = next(i for i in letters_of(result.case_id) if i.recipient_role == "parent")
    for shown in (str(letters_render.html(parent)), pdf_text(letters_render.pdf(parent))):
        assert f"The information came from {PLANTED['name']} ({PLANTED['agency']}), who agreed" in shown
        for private in ("role", "phone", "email", "address"):
            assert PLANTED[private] not in shown
            assert squashed(PLANTED[private]) not in squashed(shown)


def test_a_parent_at_an_address_not_safe_to_write_to_gets_no_letter(fresh) -> None:
    for stem in ("s17_consent_given", "s17_consent_refused"):
        start_afresh()
        scenario = copy.deepcopy(SCENARIOS[stem])
        scenario["start"]["parents"][0]["safe_to_write"] = False
        scenario["expect"].pop("letters", None)
        scenario["expect"].pop("letters_to", None)
        items = letters_of(run(scenario).case_id)
        assert [i for i in items if i.recipient_role == "parent"] == [], stem
        assert {i.recipient_role for i in items} == {"referrer"}, stem


def test_of_two_parents_only_the_one_at_a_safe_address_is_written_to(fresh) -> None:
    scenario = copy.deepcopy(SCENARIOS["s17_one_parent_refuses"])
    unsafe, safe = scenario["start"]["parents"]
    unsafe.update(safe_to_write=False, address="5 Hidden Close, Elsewhere EL5 5EL")
    scenario["expect"]["letters_to"] = {"parent": 1, "referrer": 1}
    items = letters_of(run(scenario).case_id)
    (to_parent,) = [i for i in items if i.recipient_role == "parent"]
    assert (to_parent.recipient_name, to_parent.address) == (safe["name"], safe["address"])
    for item in items:
        for shown in (item.body, str(letters_render.html(item)), pdf_text(letters_render.pdf(item))):
            assert "Hidden Close" not in shown and unsafe["name"] not in shown.replace(safe["name"], "")
