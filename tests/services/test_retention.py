"""Retention: each record kept for its flow's period, listed for review when that has passed, and kept longer
or deleted by a service manager's decision; deletion takes everything recorded for the case, and the audit
trail accounts for the chain it ends."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import time_machine
from flows import run_scenario
from sqlalchemy import func, select
from support import SCENARIO_START, user

from app.extensions import db
from app.models import AuditChain, AuditEvent, Case, CasePerson, Draft, Person, RetentionReview, Task
from app.services import bundles, retention

YEARS_LATER = SCENARIO_START + timedelta(days=365 * 6 + 2)


def scenario(flow: str, name: str) -> dict[str, Any]:
    path = bundles.PROCESSES_DIR / flow / "scenarios" / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def run(flow: str, name: str) -> Case:
    result = run_scenario(scenario(flow, name))
    assert result.mismatches == [], result.mismatches
    case = db.session.get(Case, result.case_id)
    assert case is not None
    return case


def due_ids(moment: datetime) -> list[int]:
    with time_machine.travel(moment, tick=False):
        rows, _total = retention.due_for_review()
    return [row.case.id for row in rows]


def rows_of(case_id: int) -> dict[str, int]:
    """How many rows each table holding a case_id keeps for this case (but the decision that deleted it)."""
    counts = {}
    for table in db.metadata.sorted_tables:
        if "case_id" in table.c and table.name != "retention_review":
            counts[table.name] = db.session.scalar(
                select(func.count()).select_from(table).where(table.c.case_id == case_id)
            )
    return counts


def test_a_contact_is_kept_six_years_after_it_closed(fresh) -> None:
    case = run("initial_contact", "below_threshold_advice")
    assert case.status == "closed"
    closed = case.closed_at.date()
    assert retention.retain_until(case) == (closed.replace(year=closed.year + 6), "6 years after it closed")
    assert due_ids(YEARS_LATER - timedelta(days=4)) == []
    assert due_ids(YEARS_LATER) == [case.id]


def test_a_referral_is_kept_until_the_youngest_referred_child_is_25(fresh) -> None:
    case = run("initial_contact", "s17_consent_given")
    births = [c.person.date_of_birth for c in case.children if c.person.date_of_birth]
    assert births
    youngest = max(births)
    until, rule = retention.retain_until(case)
    assert until == max(
        youngest.replace(year=youngest.year + 25), case.closed_at.date().replace(year=case.closed_at.year + 6)
    )
    assert rule in ("until the youngest referred child is 25", "6 years after it closed")
    assert case.id not in due_ids(YEARS_LATER if until > YEARS_LATER.date() else YEARS_LATER - timedelta(days=30))


def test_an_open_case_and_a_lado_allegation_still_managed_are_never_due(fresh) -> None:
    open_case = run("initial_contact", "s47_strategy_discussion")
    lado = run("lado", "the_case_stays_open_while_the_lado_manages_the_allegation")
    far = SCENARIO_START + timedelta(days=365 * 80)
    assert open_case.id not in due_ids(far) and lado.id not in due_ids(far)


def test_keeping_a_record_longer_needs_a_reason_and_a_later_date(fresh, web) -> None:
    case = run("initial_contact", "below_threshold_advice")
    with time_machine.travel(YEARS_LATER, tick=False):
        manager = web.another().login("service_manager")
        assert case.reference in manager.get("/retention")
        refused = manager.post(f"/retention/{case.id}", {"decision": "keep", "reason": "court", "keep_until": ""})
        assert refused.status_code == 400 and "There is a problem" in refused.get_data(as_text=True)
        assert 'value="court"' not in refused.get_data(as_text=True)  # the reason is a textarea: kept inside it
        assert ">court</textarea>" in refused.get_data(as_text=True)
        no_date = manager.post(
            f"/retention/{case.id}", {"decision": "keep", "reason": "A court case about the family is open."}
        )
        assert no_date.status_code == 400 and "a date after today" in no_date.get_data(as_text=True)
        later = (YEARS_LATER + timedelta(days=365)).date().isoformat()
        kept = manager.post(
            f"/retention/{case.id}",
            {"decision": "keep", "reason": "A court case about the family is open.", "keep_until": later},
        )
        assert kept.status_code == 302
    assert due_ids(YEARS_LATER) == []
    assert due_ids(YEARS_LATER + timedelta(days=366)) == [case.id]
    (review,) = db.session.scalars(select(RetentionReview))
    assert (review.decision, review.keep_until.isoformat(), review.user_id) == (
        "keep",
        later,
        user("service_manager").id,
    )
    assert (
        db.session.scalar(select(AuditEvent).where(AuditEvent.name == "RETENTION_KEPT")).data["review_id"] == review.id
    )


def test_only_a_service_manager_reviews_retention(fresh, web) -> None:
    case = run("initial_contact", "below_threshold_advice")
    with time_machine.travel(YEARS_LATER, tick=False):
        for role in ("team_manager", "ssw", "business_support", "admin"):
            other = web.another().login(role)
            assert other.client.get("/retention").status_code == 403, role
            assert other.post(f"/retention/{case.id}", {"decision": "delete"}).status_code == 403, role
    assert db.session.get(Case, case.id) is not None


def test_a_record_not_yet_due_cannot_be_deleted(fresh, web) -> None:
    case = run("initial_contact", "below_threshold_advice")
    manager = web.another().login("service_manager")
    response = manager.post(
        f"/retention/{case.id}", {"decision": "delete", "reason": "Tidying up old records.", "confirm": case.reference}
    )
    assert response.status_code == 409
    assert db.session.get(Case, case.id) is not None


def test_deleting_takes_everything_recorded_for_the_case_and_the_trail_accounts_for_it(fresh, web) -> None:
    case = run("initial_contact", "s17_consent_refused")
    other = run("initial_contact", "below_threshold_advice")
    case_id, reference = case.id, case.reference
    shared_person = db.session.scalar(select(CasePerson.person_id).where(CasePerson.case_id == other.id))
    people = set(db.session.scalars(select(CasePerson.person_id).where(CasePerson.case_id == case_id)))
    db.session.add(CasePerson(case_id=other.id, person_id=next(iter(people)), key="household-9", role="household"))
    kept_person = next(iter(people))
    task_ids = set(db.session.scalars(select(AuditEvent.task_id).where(AuditEvent.case_id == case_id))) - {None}
    db.session.add(Draft(user_id=user("ssw").id, key="task:x", kind="task", task_id=next(iter(task_ids)), form_id="f"))
    reopening = Draft(
        user_id=user("fpoc").id, key=f"contact:reopen:{case_id}", kind="contact", form_id="contact_intake"
    )
    db.session.add(reopening)
    db.session.commit()
    head = db.session.get(AuditChain, f"case:{case_id}")
    length, last_hash = head.seq, head.last_hash
    assert any(rows_of(case_id).values())

    with time_machine.travel(YEARS_LATER, tick=False):
        manager = web.another().login("service_manager")
        wrong = manager.post(
            f"/retention/{case_id}",
            {"decision": "delete", "reason": "Past its time, no reason to keep.", "confirm": "X"},
        )
        assert wrong.status_code == 400 and f"Type the case reference, {reference}" in wrong.get_data(as_text=True)
        assert db.session.get(Case, case_id) is not None
        gone = manager.post(
            f"/retention/{case_id}",
            {"decision": "delete", "reason": "Past its time, no reason to keep.", "confirm": reference.lower()},
        )
        assert gone.status_code == 302
        assert f"{reference} deleted" in manager.get(gone.headers["Location"])

    db.session.expire_all()
    assert db.session.get(Case, case_id) is None
    assert set(rows_of(case_id).values()) == {0}
    assert db.session.get(AuditChain, f"case:{case_id}") is None
    assert db.session.scalars(select(Draft).where(Draft.task_id.in_(task_ids))).all() == []
    assert db.session.scalars(select(Draft).where(Draft.key == f"contact:reopen:{case_id}")).all() == []
    assert db.session.scalar(select(func.count()).select_from(Task).where(Task.case_id == case_id)) == 0
    only_here = people - {kept_person}
    assert db.session.scalars(select(Person).where(Person.id.in_(only_here))).all() == []
    assert db.session.get(Person, kept_person) is not None and db.session.get(Person, shared_person) is not None
    (ended,) = db.session.scalars(select(AuditEvent).where(AuditEvent.name == "CASE_DELETED_AT_RETENTION"))
    assert ended.case_id is None and ended.chain == "system"
    assert ended.data["deleted_case_id"] == case_id
    assert (ended.data["events"], ended.data["last_hash"]) == (length, last_hash)
    (review,) = db.session.scalars(select(RetentionReview))
    assert (review.reference, review.decision) == (reference, "delete")
    db.session.commit()
    result = fresh.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert db.session.get(Case, other.id) is not None


def test_the_years_after_29_february_fall_on_1_march() -> None:
    assert retention._years_after(date(2024, 2, 29), 6) == date(2030, 3, 1)
