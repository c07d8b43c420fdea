"""The domestic-abuse triage's own records: the joint decision (level, screening matrix, rationale), written
from the flow's steps, and what the pages and the scenarios read of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import Case, ProcessInstance
from app.models.domestic_abuse import DaTriageDecision
from app.services import audit, case_records, timeline

FLOW = "da_triage"
LEVELS = {
    1: "Level 1: record only",
    2: "Level 2: letter offering support to the victim",
    3: "Level 3: early offer of help",
    4: "Level 4: recommend a referral",
}

audit.register({"DA_TRIAGE_DECIDED": {"case_id", "decision_id", "level"}})


@case_records.writer("da_triage_decision")
def _triage_decision(case: Case, fields: Mapping[str, Any], user_id: int | None) -> None:
    level = fields.get("level")
    if level not in LEVELS:
        raise LookupError(f"a triage level is 1 to 4, not {level!r}")
    instance_id = db.session.scalar(
        select(ProcessInstance.id)
        .where(ProcessInstance.case_id == case.id, ProcessInstance.flow == FLOW)
        .order_by(ProcessInstance.id.desc())
    )
    row = DaTriageDecision(
        case_id=case.id,
        instance_id=instance_id,
        level=int(level),
        dash_risk=str(fields.get("agreed_risk") or ""),
        risk_factors=list(fields.get("risk_factors") or []),
        protective_factors=list(fields.get("protective_factors") or []),
        threshold=fields.get("threshold"),
        rationale=str(fields.get("rationale") or ""),
        decided_by_id=user_id,
    )
    db.session.add(row)
    db.session.flush()
    audit.record("DA_TRIAGE_DECIDED", user_id, case_id=case.id, decision_id=row.id, level=row.level)
    timeline.add(case.id, user_id, f"Joint triage decided: {LEVELS[row.level]}")


def decision_of(case: Case) -> DaTriageDecision | None:
    return db.session.scalar(
        select(DaTriageDecision).where(DaTriageDecision.case_id == case.id).order_by(DaTriageDecision.id.desc())
    )


def scenario_facts(case: Case) -> dict[str, Any] | None:
    row = decision_of(case)
    if row is None:
        return None
    return {
        "level": row.level,
        "agreed_risk": row.dash_risk,
        "threshold": row.threshold,
        "risk_factors": len(row.risk_factors),
        "protective_factors": len(row.protective_factors),
    }
