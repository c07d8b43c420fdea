"""Handlers of the lado flow: an allegation against someone who works with children (§10).

Each step reports what the LADO decided as a record for the allegation (written by app/services/lado.py);
the closure writes to the employer. Letters go to the contact at the employer the LADO named, never to the
person the allegation is against, and carry the reference rather than any child's name.
"""

from typing import Any

from handlers import Context, Outgoing, Record, Result, handler


@handler("open_lado_allegation")
def open_allegation(ctx: Context) -> Result:
    """The LADO's record of the allegation, with the moment its initial consideration is due."""
    fields = {"consideration_due": ctx.data.get("consideration_due")}
    return Result(data=True, records=[Record("lado_allegation_opened", fields)])


@handler("record_lado_consideration")
def record_consideration(ctx: Context) -> Result:
    fields = {
        "harm_criteria": list(ctx.data.get("harm_criteria") or []),
        "initial_decision": ctx.data.get("initial_decision"),
        "rationale": ctx.data.get("consideration_rationale") or "",
        "subject_date_of_birth": ctx.data.get("subject_date_of_birth"),
        "employer_contact_name": ctx.data.get("employer_contact_name"),
        "employer_contact_email": ctx.data.get("employer_contact_email"),
    }
    return Result(data=True, records=[Record("lado_consideration", fields)])


@handler("record_lado_meeting")
def record_meeting(ctx: Context) -> Result:
    """One meeting as recorded; returns every action agreed so far (the closing letter names them)."""
    actions = [a for a in ctx.data.get("actions") or [] if a != "none"]
    regulator = ctx.data.get("regulator") or "none"
    if regulator != "none":
        actions.append("regulator_referral")
    fields = {
        "number": ctx.data.get("meetings_held"),
        "date": ctx.data.get("meeting_date"),
        "attendees": [
            {"name": a.get("name", ""), "agency": a.get("agency", "")} for a in ctx.data.get("attendees") or []
        ],
        "information_shared": ctx.data.get("information_shared") or "",
        "actions": actions,
        "regulator": None if regulator == "none" else regulator,
        "review_date": ctx.data.get("review_date"),
        "further_meeting": bool(ctx.data.get("further_meeting")),
    }
    so_far = sorted(set(ctx.data.get("agreed_actions") or []) | set(actions))
    return Result(data=so_far, records=[Record("lado_meeting", fields)])


@handler("close_lado_allegation")
def close_allegation(ctx: Context) -> Result:
    """Close with advice (no harm criterion met) or with the outcome, and confirm it to the employer."""
    route = str(ctx.params.get("route") or "outcome")
    outcome = ctx.data.get("outcome") if route == "outcome" else None
    actions = list(ctx.data.get("agreed_actions") or []) if route == "outcome" else []
    fields: dict[str, Any] = {
        "route": route,
        "outcome": outcome,
        "rationale": (ctx.data.get("outcome_rationale") or "") if route == "outcome" else "",
    }
    outgoing = []
    name = ctx.data.get("employer_contact_name")
    address = ctx.data.get("employer_contact_email")
    if name and address:
        outgoing.append(
            Outgoing(
                channel="email",
                template="lado_advice" if route == "advice" else "lado_outcome",
                recipient_role="employer",
                recipient_name=str(name),
                address=str(address),
                fields={"case_reference": ctx.case_reference, "outcome": outcome, "actions": actions},
            )
        )
    return Result(
        data={"route": route, "outcome": outcome}, outgoing=outgoing, records=[Record("lado_allegation_closed", fields)]
    )
