"""Handlers of the strategy_discussion flow (§6): who to invite, the invitations, the record of the meeting
sent to those who took part, and the allocation of an enquiry to the assessment team and the police PVP team.

No invitation or record names the referrer: the referring agency may be invited like any other, but nothing
sent says who made the contact, and the referrer's name is taken out of the concern quoted to invitees.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from handlers import Context, Outgoing, Record, Result, handler

# Words in a concern that suggest going missing or exploitation is a feature (§6.2): a suggestion only,
# which the chair confirms or corrects on the arranging form.
MISSING_OR_EXPLOITATION = re.compile(
    r"\b(missing|went missing|run(?:s|ning)? away|ran away|absconded|exploit\w*|cse|cce|county lines|groom\w*|"
    r"trafficked|trafficking)\b",
    re.IGNORECASE,
)

# Agencies asked for partner information (forms/partner_information.json codes) that are not already
# invited by name: the label they are invited under.
PARTNER_AGENCIES = {
    "probation": "Probation",
    "recovery": "Recovery partnership",
    "da_service": "Domestic abuse service",
    "housing": "Housing options",
    "youth_justice": "Youth justice service",
}

CHAIRS = {"ssw": "a senior social worker", "team_manager": "a team manager"}
HOW_HELD = {"in_person": "in person", "phone": "by phone or video call", "written": "by written reports"}
CONTRIBUTED = {"in_person": "in person", "phone": "by phone", "written_report": "written report"}
DECISIONS = {
    "s47_and_police": "A section 47 enquiry and a police criminal investigation",
    "s47": "A section 47 enquiry",
    "police": "A police criminal investigation",
    "s17_assessment": "A child and family assessment (section 17)",
    "early_help": "Early help",
    "no_further_action": "No further action",
}


def _invitee(agency: str, email: str, why: str, name: str = "") -> dict[str, str]:
    return {"agency": agency, "name": name, "email": email, "why": why}


def propose(facts: Mapping[str, Any], addresses: Mapping[str, str]) -> dict[str, Any]:
    """The proposed invitation list for the children in `facts` (see
    app.services.strategy_discussions.invitation_facts), with standing agencies' addresses from `addresses`.
    Pure: the chair sees it on the arranging form and may change it."""
    children = list(facts.get("children") or [])
    invitees: list[dict[str, str]] = []

    def add(entry: dict[str, str]) -> None:
        if not any(i["agency"].casefold() == entry["agency"].casefold() for i in invitees):
            invitees.append(entry)

    add(_invitee("Police", addresses.get("police", ""), "Police take part in every strategy discussion"))
    add(_invitee("GP", addresses.get("gp", ""), "Health: the child's GP"))
    ages = [c.get("age") for c in children]
    young = any(c.get("unborn") or age is None or age < 5 for c, age in zip(children, ages, strict=True))
    school_age = any(age is not None and age >= 4 for age in ages) or any(c.get("school") for c in children)
    if young or not children:
        add(_invitee("Health visiting", addresses.get("health_visitor", ""), "Health: a child under five"))
    if school_age:
        add(_invitee("School nursing", addresses.get("school_nurse", ""), "Health: a child of school age"))

    referrer = facts.get("referrer") or {}
    referrer_agency = str(referrer.get("agency") or "") if referrer.get("kind") == "professional" else ""
    referrer_email = str(referrer.get("email") or "")
    for child in children:
        school = str(child.get("school") or "")
        if school:
            # The referrer's own address serves when they are the school: it is the one address known for it.
            same = referrer_agency.casefold() == school.casefold()
            add(_invitee(school, referrer_email if same else "", "The child's school or setting"))
    for child in children:
        if child.get("open_case"):
            worker = child["open_case"]
            add(
                _invitee(
                    "Children's social care (allocated social worker)",
                    addresses.get("social_care", ""),
                    "Already involved: the child's case is open to social care",
                    str(worker.get("worker_name") or ""),
                )
            )
        if child.get("targeted_early_help"):
            worker = child["targeted_early_help"]
            add(
                _invitee(
                    "Targeted early help (lead professional)",
                    addresses.get("early_help", ""),
                    "Already involved: the family is open to targeted early help",
                    str(worker.get("worker_name") or ""),
                )
            )
    for code in facts.get("partner_agencies") or []:
        if code in PARTNER_AGENCIES:
            add(_invitee(PARTNER_AGENCIES[code], addresses.get(code, ""), "Gave partner information on this contact"))
        elif code == "education" and not any(c.get("school") for c in children):
            add(_invitee("Education safeguarding", addresses.get("education", ""), "Gave partner information"))
    if referrer_agency:
        add(_invitee(referrer_agency, referrer_email, "The referring agency"))
    add(_invitee("Duty social worker", addresses.get("duty_social_worker", ""), "The duty social worker"))
    add(_invitee("Duty team manager", addresses.get("duty_manager", ""), "The duty manager"))

    concern = str(facts.get("concern") or "")
    children_words = {w.casefold() for c in children for w in str(c.get("name") or "").split()}
    ce_lead = _invitee("CE/missing lead", addresses.get("ce_lead", ""), "Going missing or exploitation is a feature")
    suggested = bool(MISSING_OR_EXPLOITATION.search(concern))
    if suggested:
        add(ce_lead)
    return {
        "invitees": invitees,
        "missing_or_exploitation": suggested,
        "ce_lead": ce_lead,
        "concern": _without(concern, str(referrer.get("name") or ""), children_words),
    }


def _without(text: str, name: str, keep: set[str]) -> str:
    """The text with the referrer's name taken out: the whole name, and each part of it of three letters or
    more that is not also part of a child's name (a parent referring shares the children's surname)."""
    name = name.strip()
    if not name:
        return text
    parts = {name, *(p for p in name.split() if len(p) >= 3 and p.casefold() not in keep)}
    for part in sorted(parts, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(part)}\b", "[the referrer]", text, flags=re.IGNORECASE)
    return re.sub(r"\[the referrer\](\s+\[the referrer\])+", "[the referrer]", text)


def _about(ctx: Context) -> list[dict[str, Any]]:
    return [c for c in ctx.data.get("about") or [] if isinstance(c, dict)]


def _facts(ctx: Context, keys: list[str]) -> Mapping[str, Any]:
    return ctx.queries.strategy_invitation_facts(ctx.case_id, keys)


@handler("propose_strategy_invitees")
def propose_strategy_invitees(ctx: Context) -> Result:
    """Work out who to invite from the case, for the chair to check on the arranging form (§6.2)."""
    about = _about(ctx)
    facts = _facts(ctx, [str(c["key"]) for c in about])
    return Result(data=propose(facts, ctx.params.get("addresses") or {}))


def _children(about: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": c.get("name", ""), "date_of_birth": c.get("date_of_birth")} for c in about]


def _day(value: Any) -> str:
    try:
        day = date.fromisoformat(str(value))
    except ValueError:
        return str(value or "")
    return f"{day:%A} {day.day} {day:%B %Y}"


@handler("queue_strategy_invitations")
def queue_strategy_invitations(ctx: Context) -> Result:
    """One e-mail per invitee, with the CE/missing lead added whenever missing or exploitation is a feature
    (§6.2). Each says what the discussion is about, when and where, and which agencies are invited; none
    names the referrer or lists anyone's address."""
    about = _about(ctx)
    proposal = ctx.data.get("proposal") or {}
    invitees = [dict(i) for i in ctx.data.get("invitees") or []]
    ce_lead = proposal.get("ce_lead") or {}
    if ctx.data.get("missing_or_exploitation") is True and ce_lead:
        listed = {str(i.get("email", "")).casefold() for i in invitees}
        if str(ce_lead.get("email", "")).casefold() not in listed:
            invitees.append(dict(ce_lead))
    agencies = list(dict.fromkeys(str(i.get("agency", "")) for i in invitees))
    fields = {
        "case_reference": ctx.case_reference,
        "children": _children(about),
        "concern": str(proposal.get("concern") or ""),
        "meeting_day": _day(ctx.data.get("meeting_date")),
        "meeting_time": ctx.data.get("meeting_time"),
        "meeting_place": ctx.data.get("meeting_place"),
        "chair": CHAIRS.get(str(ctx.data.get("chair")), "a senior social worker"),
        "chair_name": ctx.data.get("chair_name"),
        "agencies": agencies,
    }
    outgoing = [
        Outgoing(
            channel="email",
            template="strategy_invitation",
            recipient_role="invitee",
            recipient_name=str(i.get("name") or i.get("agency") or ""),
            address=str(i["email"]),
            fields=fields,
        )
        for i in invitees
        if i.get("email")
    ]
    record = {
        "child_key": about[0]["key"] if len(about) == 1 else None,
        "chair": ctx.data.get("chair"),
        "chair_name": ctx.data.get("chair_name"),
        "meeting_date": ctx.data.get("meeting_date"),
        "meeting_time": ctx.data.get("meeting_time"),
        "meeting_place": ctx.data.get("meeting_place"),
        "missing_or_exploitation": ctx.data.get("missing_or_exploitation") is True,
        "invitees": invitees,
    }
    return Result(
        data={"invitees": invitees, "sent": len(outgoing)},
        outgoing=outgoing,
        records=[Record("strategy_arranged", record)],
    )


@handler("distribute_strategy_record")
def distribute_strategy_record(ctx: Context) -> Result:
    """Record the meeting and send its one record, with the agreed actions, to each attendee with an e-mail
    address (§6.4). The record lists the agencies that took part, not the people."""
    about = _about(ctx)
    data = ctx.data
    attendees = [dict(a) for a in data.get("attendees") or []]
    contributions = [dict(c) for c in data.get("contributions") or []]
    plan = {
        "contact_parent": data.get("plan_contact_parent") or "",
        "interview_child": data.get("plan_interview_child") or "",
        "other_children": data.get("plan_other_children") or "",
    }
    decision = str(data.get("strategy_decision") or "")
    fields = {
        "case_reference": ctx.case_reference,
        "children": _children(about),
        "how_held": HOW_HELD.get(str(data.get("how_held")), ""),
        "agencies": list(dict.fromkeys(str(a.get("agency", "")) for a in attendees)),
        "contributions": [
            {"agency": c.get("agency", ""), "how": CONTRIBUTED.get(str(c.get("how")), ""), "summary": c.get("summary")}
            for c in contributions
        ],
        "decision": DECISIONS.get(decision, decision),
        "plan": plan if any(plan.values()) else None,
        "agreed_actions": data.get("agreed_actions") or "",
        "rationale_social_care": data.get("rationale_social_care") or "",
        "rationale_police": data.get("rationale_police") or "",
        "icpc_due": _day(_london_date(data.get("icpc_due"))) if data.get("icpc_due") else None,
    }
    outgoing = [
        Outgoing(
            channel="email",
            template="strategy_record",
            recipient_role="attendee",
            recipient_name=str(a.get("name") or a.get("agency") or ""),
            address=str(a["email"]),
            fields=fields,
        )
        for a in attendees
        if a.get("email")
    ]
    record = {
        "child_key": about[0]["key"] if len(about) == 1 else None,
        "how_held": data.get("how_held"),
        "attendees": attendees,
        "contributions": contributions,
        "decision": decision,
        "s47": data.get("s47") is True,
        "police_investigation": data.get("police_investigation") is True,
        "plan": plan,
        "agreed_actions": data.get("agreed_actions"),
        "rationale_social_care": data.get("rationale_social_care"),
        "rationale_police": data.get("rationale_police"),
        "icpc_due": data.get("icpc_due"),
    }
    return Result(data={"sent": len(outgoing)}, outgoing=outgoing, records=[Record("strategy_held", record)])


def _london_date(moment: Any) -> str:
    """The day a diagram's working-day moment (ISO, UTC) falls on in Europe/London, as an ISO date."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    parsed = datetime.fromisoformat(str(moment))
    return parsed.astimezone(ZoneInfo("Europe/London")).date().isoformat()


@handler("allocate_strategy_enquiry")
def allocate_strategy_enquiry(ctx: Context) -> Result:
    """Close to Compass: tell the duty assessment team and the police PVP team that the enquiry is theirs (§6.6)."""
    about = _about(ctx)
    data = ctx.data
    decision = str(data.get("strategy_decision") or "")
    fields = {
        "case_reference": ctx.case_reference,
        "children": _children(about),
        "decision": DECISIONS.get(decision, decision),
        "agreed_actions": data.get("agreed_actions") or "",
        "icpc_due": _day(_london_date(data.get("icpc_due"))) if data.get("icpc_due") else None,
    }
    teams = [
        ("Duty assessment team", str(ctx.params["duty_team_address"])),
        ("Police PVP team", str(ctx.params["pvp_address"])),
    ]
    outgoing = [
        Outgoing(
            channel="email",
            template="strategy_allocation",
            recipient_role="allocated_team",
            recipient_name=team,
            address=address,
            fields=fields,
        )
        for team, address in teams
    ]
    child_key = about[0]["key"] if len(about) == 1 else None
    return Result(
        data={"allocated_to": [t for t, _ in teams]},
        outgoing=outgoing,
        records=[Record("strategy_allocated", {"child_key": child_key, "teams": [t for t, _ in teams]})],
    )
