"""Every step that shares information about a family records its lawful basis with it: the consent in force
for each parent at that moment, or the ground for sharing without it and the rationale (§7, §12, §13)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flows import run_scenario
from sqlalchemy import select
from support import user

from app.extensions import db
from app.models import AuditEvent, Case, SharingRecord
from app.services import bundles, sharing
from app.services.errors import NotSaved


def scenario(flow: str, name: str) -> dict[str, Any]:
    path = bundles.PROCESSES_DIR / flow / "scenarios" / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def shared(case_id: int) -> list[SharingRecord]:
    return list(
        db.session.scalars(select(SharingRecord).where(SharingRecord.case_id == case_id).order_by(SharingRecord.id))
    )


def run(flow: str, name: str) -> int:
    result = run_scenario(scenario(flow, name))
    assert result.mismatches == [], result.mismatches
    return result.case_id


def test_partner_checks_rest_on_each_parents_consent_as_it_stood(fresh) -> None:
    case_id = run("initial_contact", "s17_consent_given")
    (checks,) = shared(case_id)
    assert (checks.what, checks.basis, checks.flow) == ("Partner checks", "consent", "initial_contact")
    case = db.session.get(Case, case_id)
    parents = {p.id for p in case.people if p.role == "parent"}
    assert {c["case_person_id"] for c in checks.consents} == parents and parents
    assert {c["status"] for c in checks.consents} == {"given"}
    (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.name == "INFORMATION_SHARED"))
    assert event.data == {"case_id": case_id, "sharing_record_id": checks.id, "basis": "consent"}


def test_a_contact_that_shares_nothing_records_no_sharing(fresh) -> None:
    for name in ("s17_consent_refused", "below_threshold_advice"):
        assert shared(run("initial_contact", name)) == [], name


def test_mat_records_each_agencys_sharing_and_the_override_with_its_defensible_reason(fresh) -> None:
    steps = scenario("mat", "further_checks_with_the_school_then_no_further_action")
    reason = next(
        s["data"]["consent_override_reason"] for s in steps["steps"] if "consent_override_reason" in s.get("data", {})
    )
    rows = shared(run("mat", "further_checks_with_the_school_then_no_further_action"))
    by_what = {r.what: r for r in rows if r.flow == "mat"}
    for agency in ("Police records shared at MAT", "Health records shared at MAT", "Social care records shared at MAT"):
        assert by_what[agency].basis == "safeguarding", agency
    override = by_what["Further agency checks (school, nursery)"]
    assert (override.basis, override.rationale) == ("consent_overridden", reason)
    assert all(c["status"] != "given" for c in override.consents)  # no consent was in force: that is why


def test_mat_deciding_no_action_overrides_nothing(fresh) -> None:
    rows = shared(run("mat", "mat_decides_no_action_and_the_contact_closes"))
    assert "consent_overridden" not in {r.basis for r in rows}


def test_a_strategy_discussion_shares_under_section_47(fresh) -> None:
    rows = shared(run("strategy_discussion", "s47_and_police_investigation_chaired_by_the_senior_social_worker"))
    assert [r.basis for r in rows if r.flow == "strategy_discussion"] == ["s47"]


def test_domestic_abuse_triage_records_each_agencys_sharing(fresh) -> None:
    rows = shared(run("da_triage", "level_1_record_only"))
    assert sorted(r.what for r in rows) == [
        "Health information shared at triage",
        "Police information shared at triage",
        "Social care information shared at triage",
    ]


@pytest.mark.parametrize(
    ("name", "basis"),
    [
        ("cafcass_court_order_disclosed_in_full", "court_order"),
        ("police_investigation_disclosed_in_part", "investigation"),
        ("fostering_consent_given_disclosed", "individual_consent"),
        ("consent_refused_so_refused", None),
        ("disproportionate_request_refused", None),
    ],
)
def test_a_disclosure_records_its_ground_and_a_refusal_shares_nothing(fresh, name: str, basis: str | None) -> None:
    rows = shared(run("information_request", name))
    assert [r.basis for r in rows] == ([basis] if basis else [])
    if basis:
        assert rows[0].rationale


def test_sharing_without_consent_is_never_kept_without_its_reason(fresh) -> None:
    case_id = run("initial_contact", "s17_consent_given")
    case = db.session.get(Case, case_id)
    before = len(shared(case_id))
    with pytest.raises(NotSaved, match="give the reason for sharing without consent"):
        sharing.record_step(
            case,
            "mat",
            "joint_decision",
            "t-1",
            {"mat_outcome": "further_checks", "consent_override_reason": " "},
            user("ssw"),
        )
    db.session.rollback()
    assert len(shared(case_id)) == before


def test_the_case_page_shows_what_was_shared_and_on_what_basis(fresh, web) -> None:
    case_id = run("mat", "further_checks_with_the_school_then_no_further_action")
    page = web.login("ssw").get(f"/cases/{case_id}")
    assert "Information shared, and on what basis" in page
    assert "Consent overridden: a defensible decision" in page and "Multi Agency Triage" in page
