"""The census page: a service manager chooses the period, sees how many children and referrals the return holds
and what the DfE's rules find, then downloads the XML; nobody else reaches either page."""

from __future__ import annotations

import html
import json
import re
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from flows import run_scenario
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Person
from app.services import bundles, census

AFTER_THE_YEAR = datetime(2027, 4, 6, 9, 30, tzinfo=UTC)
THE_YEAR = "from=2026-04-01&to=2027-03-31"


def contact(children: list[dict[str, Any]], source: str = "2A") -> int:
    """One contact about these children, each accepted as a s17 referral with consent and sent for assessment."""
    path = bundles.PROCESSES_DIR / "initial_contact" / "scenarios" / "s17_consent_given.json"
    found = json.loads(path.read_text(encoding="utf-8"))
    found["start"]["children"] = [c | {"address": "1 High Street, Shrewsbury", "postcode": "SY1 1AA"} for c in children]
    found["start"]["referrer"]["source"] = source
    steps = []
    for child in children:
        steps += [s | {"subject": child["name"]} for s in found["steps"]]
    found["steps"], found["expect"] = steps, {}
    result = run_scenario(found)
    assert result.mismatches == [], result.mismatches
    return result.case_id


def la_child_id(name: str) -> str:
    found = db.session.scalar(select(Person.id).where(Person.name == name))
    assert found is not None, name
    return census.la_child_id(found)


def exported() -> list[dict[str, Any]]:
    return [e.data for e in db.session.scalars(select(AuditEvent).where(AuditEvent.name == "CENSUS_EXPORTED"))]


EIGHT = [
    {"name": f"Child {letter} Young", "date_of_birth": f"2022-0{n}-01", "sex": "female"}
    for n, letter in enumerate("ABCDEFGH", 1)
]


def test_a_complete_return_has_no_problems_and_downloads_as_xml(web) -> None:
    contact(EIGHT)
    manager = web.login("service_manager")
    with time_machine.travel(AFTER_THE_YEAR, tick=False):
        page = manager.get(f"/census?{THE_YEAR}")
    assert "Census year 2026 to 2027" in page
    assert re.search(r"Children\s*</dt>\s*<dd[^>]*>\s*8\s*</dd>", page)
    assert re.search(r"Referrals\s*</dt>\s*<dd[^>]*>\s*8\s*</dd>", page)
    assert "No problems found by the Department for Education's rules for 2026 to 2027." in page
    assert 'href="/census/download?from=2026-04-01&amp;to=2027-03-31"' in page
    assert "Young" not in page, "no child is named on the page"
    assert exported() == [], "checking is not exporting"

    with time_machine.travel(AFTER_THE_YEAR, tick=False):
        response = manager.client.get(f"/census/download?{THE_YEAR}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="cin-census-2026-04-01-to-2027-03-31.xml"'
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data()
    assert body.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<Message>")
    assert body.count(b"<Child>") == 8 and b"<ReferralSource>2A</ReferralSource>" in body
    assert la_child_id("Child A Young").encode() in body and b"Young" not in body
    assert exported() == [{"period_from": "2026-04-01", "period_to": "2027-03-31", "children": 8, "referrals": 8}]


def test_an_incomplete_record_shows_what_the_rules_found(web) -> None:
    contact(
        [
            {"name": "Nia Nodate", "sex": "female"},
            {"name": "Oli Hearing", "date_of_birth": "2019-06-01", "sex": "male", "disability": "Deaf"},
        ]
    )
    manager = web.login("service_manager")
    page = manager.get(f"/census?{THE_YEAR}")
    assert re.search(r"Children\s*</dt>\s*<dd[^>]*>\s*2\s*</dd>", page)
    assert "No problems found" not in page
    nia, oli = la_child_id("Nia Nodate"), la_child_id("Oli Hearing")
    rows = re.findall(r"<tr class=\"govuk-table__row\">(.*?)</tr>", page[page.index('id="findings"') :], flags=re.S)
    cells = [html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()) for row in rows[1:]]
    assert (
        f"8525Q Query {nia} ExpectedPersonBirthDate, PersonBirthDate "
        "Either Date of Birth or Expected Date of Birth must be provided (but not both)" in cells
    )
    assert f"Compass Error {oli} Disability {census.UNCODED_DISABILITY}" in cells
    # Each child's identifier leads to the child's record, where a manager may find the missing date.
    person = db.session.scalar(select(Person.id).where(Person.name == "Nia Nodate"))
    assert f'<a class="govuk-link" href="/people/{person}">{nia}</a>' in page
    assert "Nia" not in page.replace(nia, "")


def test_the_form_offers_the_census_year_holding_today(web, clock) -> None:
    page = web.login("service_manager").get("/census")
    for name, value in (
        ("from-day", "1"),
        ("from-month", "4"),
        ("from-year", "2026"),
        ("to-day", "31"),
        ("to-month", "3"),
        ("to-year", "2027"),
    ):
        assert re.search(rf'name="{name}"[^>]*value="{value}"', page), name
    assert "Children</dt>" not in page, "nothing is checked before the period is chosen"
    assert 'href="/census"' in page, "the menu leads the service manager here"


def test_bad_dates_are_named_and_the_input_kept(web) -> None:
    manager = web.login("service_manager")
    response = manager.client.get("/census?from-day=31&from-month=2&from-year=2026&to-day=1&to-month=&to-year=2027")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "There is a problem" in page and page.startswith("<!DOCTYPE html>")
    assert "The date the period starts must be a real date, like 1 4 2026" in page
    assert "The date the period ends must include a month" in page
    assert re.search(r'name="from-day"[^>]*value="31"', page)
    assert re.search(r'name="to-year"[^>]*value="2027"', page)
    big = manager.client.get("/census?from=" + "9" * 40 + "&to=2027-03-31")
    assert big.status_code == 400 and "must be a real date" in big.get_data(as_text=True)
    download = manager.client.get("/census/download?from=2027-03-31&to=2026-04-01")
    assert download.status_code == 400
    assert "The date the period ends must be the same as or after the date it starts" in download.get_data(as_text=True)
    assert exported() == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=9999-12-31&to=9999-12-31", "starts"),
        ("from=0001-01-01&to=0001-01-02", "starts"),
        ("from-day=1&from-month=4&from-year=0001&to=2027-03-31", "starts"),
        ("from=2026-04-01&to=2101-01-01", "ends"),
    ],
)
def test_far_off_years_are_refused_in_words(web, query: str, field: str) -> None:
    manager = web.login("service_manager")
    for url in (f"/census?{query}", f"/census/download?{query}"):
        response = manager.client.get(url)
        assert response.status_code == 400, url
        assert f"The year the period {field} must be between 2000 and 2100" in response.get_data(as_text=True)


def test_a_page_of_findings_past_the_end_shows_the_last_page(web) -> None:
    contact([{"name": "Nia Nodate", "sex": "female"}])
    page = web.login("service_manager").get(f"/census?{THE_YEAR}&page=999999")
    assert "8525Q" in page


@pytest.mark.parametrize("role", ["team_manager", "ssw", "admin"])
def test_nobody_but_the_service_manager_gets_the_return(web, role: str) -> None:
    contact([{"name": "Pip Private", "date_of_birth": "2020-02-02", "sex": "male"}])
    someone = web.login(role)
    for url in (f"/census?{THE_YEAR}", f"/census/download?{THE_YEAR}"):
        response = someone.client.get(url)
        assert response.status_code == 403
        assert "only the service manager exports it" in response.get_data(as_text=True)
    assert exported() == []
    home = someone.client.get("/", follow_redirects=True).get_data(as_text=True)
    assert 'href="/census"' not in home, "and the menu does not offer it"


def test_without_the_rules_package_the_page_says_the_return_was_not_checked(web, monkeypatch) -> None:
    contact([{"name": "Rae Unchecked", "date_of_birth": "2021-12-21", "sex": "female"}])
    # As on a machine where the DfE's package is not installed: importing it fails.
    monkeypatch.setitem(sys.modules, "cin_validator", None)
    manager = web.login("service_manager")
    page = manager.get(f"/census?{THE_YEAR}")
    assert "The return was not checked. The DfE&#39;s rules could not be loaded here: ModuleNotFoundError" in page
    assert "No problems found" not in page
    assert manager.client.get(f"/census/download?{THE_YEAR}").status_code == 200
