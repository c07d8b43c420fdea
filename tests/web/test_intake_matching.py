"""At intake the call handler checks for the children already known: an open case with its allocated worker,
and open contacts a second call should be added to. Checking saves nothing and judges nothing."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from support import user

from app.extensions import db
from app.models import Case
from app.services import bundles, contacts, records_import

SCENARIO = json.loads(
    (bundles.PROCESSES_DIR / "initial_contact" / "scenarios" / "s17_consent_given.json").read_text(encoding="utf-8")
)


def test_checking_shows_the_open_contact_and_the_open_case_and_saves_nothing(web) -> None:
    first = contacts.record_contact(user("fpoc"), SCENARIO["start"])  # Amy Example, 2 April 2016, still open
    records_import.import_rows(
        [
            (
                2,
                {
                    "external_id": "CSC-9",
                    "kind": "social_care",
                    "status": "open",
                    "name": "Amy Example",
                    "date_of_birth": "2016-04-02",
                    "started_on": "2026-01-05",
                    "allocated_worker_username": "demo.allocated_worker",
                    "team": "assessment",
                    "worker_name": "Demo Allocated social worker",
                },
            )
        ],
        source="test",
    )
    cases_before = db.session.scalar(select(func.count()).select_from(Case))
    fpoc = web.login("fpoc")
    page = fpoc.post(
        "/contacts/new",
        [
            ("_action", "check"),
            ("children.0._item", "1"),
            ("children.0.name", "Amy Exampel"),  # misheard on the phone
            ("children.0.date_of_birth-day", "2"),
            ("children.0.date_of_birth-month", "4"),
            ("children.0.date_of_birth-year", "2016"),
            ("concern", "A second call about the same bruise."),
        ],
        expect=200,
    ).get_data(as_text=True)
    assert "Children already known" in page
    assert "Amy Example" in page and "Open to social care" in page and "Demo Allocated social worker" in page
    assert f"Open contact {first.reference}" in page
    assert f'href="/cases/{first.id}/further-information"' in page
    assert "A second call about the same bruise." in page  # what was typed is kept
    assert "There is a problem" not in page  # a check is not a submission
    assert db.session.scalar(select(func.count()).select_from(Case)) == cases_before


def test_a_child_nobody_knows_is_said_plainly(web) -> None:
    page = web.login("fpoc").post(
        "/contacts/new",
        [("_action", "check"), ("children.0._item", "1"), ("children.0.name", "Zed Nobody")],
        expect=200,
    )
    assert "No child already known matches." in page.get_data(as_text=True)
