"""People search, a child's page, and adding a second call to an open contact, through the web as a browser
uses them."""

from __future__ import annotations

import copy
import json
from datetime import date

import pytest
from sqlalchemy import func, select
from support import user

from app.extensions import db
from app.models import AuditEvent, Case, CaseEvent, Involvement, Person
from app.services import bundles, contacts

SCENARIO = json.loads(
    (bundles.PROCESSES_DIR / "initial_contact" / "scenarios" / "s17_consent_given.json").read_text(encoding="utf-8")
)
CHILD = SCENARIO["start"]["children"][0]


def recorded() -> tuple[Case, Person]:
    case = contacts.record_contact(user("fpoc"), copy.deepcopy(SCENARIO["start"]))
    child = next(p for p in case.people if p.role == "child")
    return case, child.person


def open_to_social_care(person: Person) -> None:
    db.session.add(
        Involvement(
            person_id=person.id,
            kind="social_care",
            status="open",
            started_on=date(2025, 10, 1),
            external_id="SC-1",
            source="import",
            allocated_worker_username="demo.allocated_worker",
            allocated_worker_id=user("allocated_worker").id,
            team="assessment",
        )
    )
    db.session.commit()


def events(case_id: int) -> list[CaseEvent]:
    return list(db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)))


@pytest.mark.parametrize("role", ["partner", "police", "health", "admin", "process_owner"])
def test_only_the_hub_searches_for_people(web, role: str) -> None:
    _case, person = recorded()
    client = web.login(role)
    client.get("/people/search", expect=403)
    client.get(f"/people/search?name={CHILD['name']}", expect=403)
    client.get(f"/people/{person.id}", expect=403)


def test_a_stranger_is_sent_to_sign_in(web) -> None:
    _case, person = recorded()
    for url in ("/people/search", f"/people/{person.id}"):
        response = web.client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_misspelt_name_finds_the_child_with_the_reasons(web) -> None:
    _case, person = recorded()
    first, *rest = CHILD["name"].split()
    typed = f"{first} {rest[-1][:-1]}o"  # the surname's last letter misheard
    assert typed != CHILD["name"]
    page = web.login("fpoc").get(f"/people/search?name={typed}&dob-year={CHILD['date_of_birth'][:4]}&search=1")
    assert f'href="/people/{person.id}"' in page
    assert person.name in page
    assert "Same year of birth" in page
    assert f'value="{typed}"' in page


def test_nothing_found_says_so(web) -> None:
    recorded()
    page = web.login("ssw").get("/people/search?name=Zebedee+Quartermaine&search=1")
    assert "0 possible matches" in page and "No child known to Compass matches" in page


@pytest.mark.parametrize(
    ("query", "message", "kept"),
    [
        ("search=1", "Enter a name, a date of birth or a postcode", None),
        ("name=Amy&dob-day=3&dob-month=13&dob-year=2015", "Month must be a number between 1 and 12", 'value="13"'),
        ("name=Amy&dob-day=3&dob-year=2015", "Date of birth must include a month when it includes a day", 'value="3"'),
        ("name=Amy&dob-month=3", "Date of birth must include a year", 'value="Amy"'),
        ("name=Amy&dob-day=31&dob-month=2&dob-year=2015", "Date of birth must be a real date", 'value="31"'),
        ("name=Amy&dob-year=15", "Year must include 4 numbers", 'value="15"'),
        ("name=Amy&postcode=nowhere", "Enter a real postcode, like SY1 1AA", 'value="nowhere"'),
        # Digits that are not 0 to 9 ("²" is a digit to Python, but no number int() can read).
        ("name=Amy&dob-year=%C2%B2%C2%B2%C2%B2%C2%B2", "Year must include 4 numbers", 'value="²²²²"'),
        ("name=Amy&dob-month=%C2%B2&dob-year=2015", "Month must be a number between 1 and 12", 'value="²"'),
        ("name=Amy&dob-day=%C2%B2&dob-month=2&dob-year=2015", "Date of birth must be a real date", 'value="²"'),
    ],
)
def test_bad_search_input_gets_a_clear_message_with_the_input_kept(web, query: str, message: str, kept) -> None:
    page = web.login("fpoc").get(f"/people/search?{query}", expect=400)
    assert "govuk-error-summary" in page and "There is a problem" in page
    assert page.count(message) == 2  # in the summary and beside the field
    assert "<title>Error: " in page
    if kept:
        assert kept in page


def test_the_childs_page_shows_open_involvement_and_open_contacts_to_add_to(web) -> None:
    case, person = recorded()
    open_to_social_care(person)
    page = web.login("fpoc").get(f"/people/{person.id}")
    assert person.name in page
    assert "Open to social care (allocated social worker)" in page
    assert user("allocated_worker").name in page
    assert case.reference in page
    assert f'href="/cases/{case.id}/further-information"' in page and "Add to this contact" in page
    assert "&lt;span" not in page  # the button's own markup is markup, not text


def test_a_closed_contact_is_history_only(web) -> None:
    case, person = recorded()
    db.session.get(Case, case.id).status = "closed"
    db.session.commit()
    page = web.login("ssw").get(f"/people/{person.id}")
    assert case.reference in page and "No open contacts." in page
    assert "further-information" not in page


def test_a_hub_member_who_does_not_record_contacts_sees_history_without_the_button(web) -> None:
    case, person = recorded()
    page = web.login("business_support").get(f"/people/{person.id}")
    assert case.reference in page and "Add to this contact" not in page


def test_an_unknown_person_is_not_found(web) -> None:
    web.login("fpoc").get("/people/999999", expect=404)


ANSWERS = {
    "caller_name": "Sam Patel",
    "caller_role": "Class teacher, Castlefields Primary",
    "phone": "01743 123456",
    "information": "Amy said again this morning that she is scared to go home.",
}


def test_a_second_call_is_added_to_the_open_contact(web) -> None:
    case, _person = recorded()
    before = len(events(case.id))
    client = web.login("fpoc")
    assert "Add a second call to this contact" in client.get(f"/cases/{case.id}/further-information")
    response = client.post(f"/cases/{case.id}/further-information", ANSWERS, expect=302)
    assert response.headers["Location"].endswith(f"/cases/{case.id}?done=Further+information+added")
    added = events(case.id)[before:]
    assert [e.title for e in added] == ["Further information added"]
    assert added[0].user_id == user("fpoc").id
    assert added[0].detail == [
        ["Who called", "Sam Patel"],
        ["Their role or agency", "Class teacher, Castlefields Primary"],
        ["Phone", "01743 123456"],
        ["What they said", ANSWERS["information"]],
    ]
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.name == "CASE_INFORMATION_ADDED")).all()
    assert [(a.case_id, a.user_id) for a in audit] == [(case.id, user("fpoc").id)]
    assert db.session.scalar(select(func.count()).select_from(Case)) == 1  # not a new contact
    assert "Further information added" in client.get(f"/cases/{case.id}")


def test_missing_answers_are_named_and_what_was_typed_is_kept(web) -> None:
    case, _person = recorded()
    before = len(events(case.id))
    typed = {"caller_name": "", "caller_role": "School nurse", "phone": "call me", "information": ""}
    response = web.login("coordinator").post(f"/cases/{case.id}/further-information", typed, expect=400)
    page = response.get_data(as_text=True)
    assert "govuk-error-summary" in page
    for message, href in [
        ("Enter who called", "#caller_name"),
        ("Enter a phone number, like 01743 123456 or +44 7700 900123", "#phone"),
        ("Enter what they said", "#information"),
    ]:
        assert f'href="{href}"' in page and page.count(message) == 2
    assert 'value="School nurse"' in page and 'value="call me"' in page
    assert len(events(case.id)) == before


def test_a_closed_contact_takes_nothing_more(web) -> None:
    case, _person = recorded()
    db.session.get(Case, case.id).status = "closed"
    db.session.commit()
    before = len(events(case.id))
    client = web.login("fpoc")
    page = client.get(f"/cases/{case.id}/further-information", expect=409)
    assert f"Contact {case.reference} is no longer open" in page
    response = client.post(f"/cases/{case.id}/further-information", ANSWERS, expect=409)
    assert "is no longer open" in response.get_data(as_text=True)
    assert len(events(case.id)) == before


def test_a_contact_recorded_in_error_takes_nothing_more(web) -> None:
    from app.models.types import utcnow

    case, _person = recorded()
    db.session.get(Case, case.id).voided_at = utcnow()
    db.session.commit()
    web.login("ssw").get(f"/cases/{case.id}/further-information", expect=409)


@pytest.mark.parametrize("role", ["partner", "business_support", "team_manager"])
def test_only_those_who_record_contacts_add_to_them(web, role: str) -> None:
    case, _person = recorded()
    web.login(role).get(f"/cases/{case.id}/further-information", expect=403)


def test_an_unknown_case_is_not_found(web) -> None:
    web.login("fpoc").get("/cases/999999/further-information", expect=404)


def test_a_year_before_1900_is_refused_plainly(web) -> None:
    page = web.login("fpoc").get("/people/search?dob-year=0000&search=1", expect=400)
    assert "Year must be 1900 or later" in page
