"""A child's history and the re-referral rule: a referral within 12 months of a previous referral for the same
child is a re-referral, counting imported referrals and Compass's own, but never a contact recorded in error."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime

from sqlalchemy import select
from support import user

from app.extensions import db
from app.models import Case, CasePerson, Involvement, Person, Referral
from app.models.types import utcnow
from app.services import involvement, people

TODAY = date(2026, 6, 15)


def child(name: str = "Oliver Evans", dob: str = "2013-05-30") -> Person:
    person = people.find_or_create_child(name, dob)
    db.session.commit()
    return person


def imported(person: Person, kind: str, started: date, ended: date | None = None, ext: str = "E-1") -> Involvement:
    row = Involvement(
        person_id=person.id,
        kind=kind,
        status="closed" if ended else "open",
        started_on=started,
        ended_on=ended,
        external_id=ext,
        source="import",
    )
    db.session.add(row)
    db.session.commit()
    return row


def contact(person: Person, *, status: str = "open", voided: bool = False, outcome: str | None = None) -> Case:
    case = Case(reference=f"new-{secrets.token_hex(6)}", source="phone", status=status, created_by_id=user("fpoc").id)
    if voided:
        case.voided_at, case.void_reason = utcnow(), "recorded in error"
    db.session.add(case)
    db.session.flush()
    case.reference = f"CT-{case.id:06d}"
    db.session.add(CasePerson(case=case, person=person, key="child-1", role="child", outcome=outcome))
    db.session.commit()
    return case


def accepted_referral(person: Person, case: Case, at: datetime) -> Referral:
    cp = db.session.scalar(select(CasePerson).where(CasePerson.case_id == case.id, CasePerson.person_id == person.id))
    referral = Referral(
        case_id=case.id, child_id=cp.id, person_id=person.id, threshold="s17", route="consent_given", accepted_at=at
    )
    db.session.add(referral)
    db.session.commit()
    return referral


def test_an_imported_referral_11_months_ago_makes_a_re_referral(fresh) -> None:
    oliver = child()
    imported(oliver, "referral", date(2025, 7, 15), date(2025, 8, 1))
    assert involvement.previous_referral_within(oliver.id, TODAY) == date(2025, 7, 15)


def test_an_imported_referral_13_months_ago_does_not(fresh) -> None:
    oliver = child()
    imported(oliver, "referral", date(2025, 5, 15), date(2025, 6, 1))
    assert involvement.previous_referral_within(oliver.id, TODAY) is None
    assert involvement.previous_referral_within(oliver.id, TODAY, months=24) == date(2025, 5, 15)


def test_exactly_12_months_is_still_within(fresh) -> None:
    oliver = child()
    imported(oliver, "referral", date(2025, 6, 15), date(2025, 7, 1))
    assert involvement.previous_referral_within(oliver.id, TODAY) == date(2025, 6, 15)
    assert involvement.previous_referral_within(oliver.id, date(2026, 6, 16)) is None


def test_other_kinds_of_involvement_and_other_children_do_not_count(fresh) -> None:
    oliver, isla = child(), child("Isla Morgan", "2014-09-17")
    imported(oliver, "social_care", date(2026, 1, 1))
    imported(isla, "referral", date(2026, 1, 1), date(2026, 2, 1), ext="E-2")
    assert involvement.previous_referral_within(oliver.id, TODAY) is None


def test_a_compass_referral_11_months_ago_counts_and_13_months_does_not(fresh) -> None:
    oliver = child()
    accepted_referral(oliver, contact(oliver, status="closed"), datetime(2025, 5, 10, 9, 0, tzinfo=UTC))
    assert involvement.previous_referral_within(oliver.id, TODAY) is None
    accepted_referral(oliver, contact(oliver, status="closed"), datetime(2025, 7, 20, 9, 0, tzinfo=UTC))
    assert involvement.previous_referral_within(oliver.id, TODAY) == date(2025, 7, 20)


def test_the_latest_previous_referral_is_given(fresh) -> None:
    oliver = child()
    imported(oliver, "referral", date(2025, 8, 1), date(2025, 9, 1))
    accepted_referral(oliver, contact(oliver, status="closed"), datetime(2026, 2, 3, 12, 0, tzinfo=UTC))
    assert involvement.previous_referral_within(oliver.id, TODAY) == date(2026, 2, 3)


def test_a_referral_of_a_contact_recorded_in_error_does_not_count(fresh) -> None:
    oliver = child()
    accepted_referral(oliver, contact(oliver, voided=True), datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    assert involvement.previous_referral_within(oliver.id, TODAY) is None


def test_the_referral_being_accepted_is_not_its_own_previous_referral(fresh) -> None:
    oliver = child()
    now = accepted_referral(oliver, contact(oliver), datetime(2026, 6, 15, 10, 0, tzinfo=UTC))
    assert involvement.previous_referral_within(oliver.id, now.accepted_at) == date(2026, 6, 15)
    assert involvement.previous_referral_within(oliver.id, now.accepted_at, exclude_referral_id=now.id) is None


def test_a_referral_not_yet_accepted_does_not_count(fresh) -> None:
    oliver = child()
    waiting = accepted_referral(oliver, contact(oliver), datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    waiting.accepted_at, waiting.waiting_for = None, "marf"
    db.session.commit()
    assert involvement.previous_referral_within(oliver.id, TODAY) is None


def test_the_day_is_the_councils_day(fresh) -> None:
    oliver = child()
    # 23:30 UTC on 14 June 2025 is 00:30 on 15 June in London (summer time): exactly 12 months before TODAY.
    accepted_referral(oliver, contact(oliver, status="closed"), datetime(2025, 6, 14, 23, 30, tzinfo=UTC))
    assert involvement.previous_referral_within(oliver.id, TODAY) == date(2025, 6, 15)


def test_the_history_shows_every_contact_the_open_ones_and_open_involvement(fresh) -> None:
    ava = child("Ava Thompson", "2015-03-14")
    old = contact(ava, status="closed", outcome="no_further_action")
    voided = contact(ava, voided=True)
    current = contact(ava)
    imported(ava, "social_care", date(2025, 10, 1))
    imported(ava, "referral", date(2024, 1, 1), date(2024, 2, 1), ext="E-2")
    other = contact(child("Noah Thompson", "2018-07-02"))

    history = people.person_history(ava.id)
    assert history is not None and history.person.id == ava.id
    assert [c.case_id for c in history.contacts] == [current.id, voided.id, old.id]
    assert [c.status for c in history.contacts] == ["open", "voided", "closed"]
    assert history.contacts[2].outcome == "no_further_action"
    assert [c.case_reference for c in history.open_contacts] == [current.reference]
    assert other.id not in {c.case_id for c in history.contacts}
    assert [i.kind for i in history.open_involvement] == ["social_care"]
    assert [i.kind for i in history.involvement] == ["social_care", "referral"]
    assert people.person_history(999_999) is None
