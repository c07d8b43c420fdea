"""A known set of contacts for the steering-group figures (figures_cases.json): its rows, made the way the flows
leave them, since the figures read only these tables. Shared by the figures' service, page and browser tests."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from support import user

from app.extensions import db
from app.models import Case, CasePerson, Person, ProcessBundle, ProcessInstance, Referral
from app.models.domestic_abuse import DaTriageDecision
from app.models.mat import MatDecision
from app.models.strategy import StrategyDiscussion
from app.services import figures

KNOWN = json.loads((Path(__file__).parent / "services" / "figures_cases.json").read_text(encoding="utf-8"))
KNOWN_PERIOD = figures.Period(date.fromisoformat(KNOWN["period"]["from"]), date.fromisoformat(KNOWN["period"]["to"]))


def moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def load_known_cases(cases: list[dict[str, Any]]) -> None:
    """The data file's contacts as rows, committed."""
    recorder = user("coordinator")
    bundle_id = db.session.scalar(select(ProcessBundle.id).order_by(ProcessBundle.id))
    for number, spec in enumerate(cases, start=1):
        case = Case(
            reference=f"FIG-{number:03d}",
            status="closed",
            source="phone",
            request_type=spec["request_type"],
            referral_source=spec["referral_source"],
            created_at=moment(spec["created_at"]),
            created_by_id=recorder.id,
            voided_at=moment(spec["created_at"]) if spec.get("voided") else None,
            void_reason="Recorded on the wrong family" if spec.get("voided") else None,
        )
        db.session.add(case)
        db.session.flush()
        instance = ProcessInstance(case_id=case.id, bundle_id=bundle_id, flow="mat", status="completed", state="{}")
        db.session.add(instance)
        db.session.flush()
        for n, child_spec in enumerate(spec["children"], start=1):
            person = Person(name=f"Child {child_spec['name']}", name_key=f"child {child_spec['name']}".lower())
            child = CasePerson(case=case, person=person, key=f"child-{n}", role="child", outcome=child_spec["outcome"])
            db.session.add(child)
            db.session.flush()
            if "referral" in child_spec:
                referral = child_spec["referral"]
                db.session.add(
                    Referral(
                        case_id=case.id,
                        child_id=child.id,
                        person_id=person.id,
                        threshold="s17",
                        route="consent_given",
                        accepted_at=moment(referral["accepted_at"]),
                        outcome_at=moment(referral["outcome_at"]),
                        outcome="assessment" if referral["outcome_at"] else None,
                        re_referral=referral["re_referral"],
                    )
                )
            if "mat" in child_spec:
                db.session.add(
                    MatDecision(
                        case_id=case.id,
                        instance_id=instance.id,
                        child_id=child.id,
                        outcome=child_spec["mat"]["outcome"],
                        rationale="Agreed at the meeting",
                        decided_at=moment(child_spec["mat"]["decided_at"]),
                    )
                )
        if "strategy_discussion" in spec:
            db.session.add(
                StrategyDiscussion(case_id=case.id, chair="ssw", held_at=moment(spec["strategy_discussion"]["held_at"]))
            )
        if "da_triage" in spec:
            db.session.add(
                DaTriageDecision(
                    case_id=case.id,
                    level=spec["da_triage"]["level"],
                    dash_risk="high",
                    rationale="Agreed at the joint triage",
                    decided_at=moment(spec["da_triage"]["decided_at"]),
                )
            )
    db.session.commit()
