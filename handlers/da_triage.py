"""Handlers of the domestic-abuse notification triage (DOMAIN.md Flow 3, §8).

Letters go to the victim only at an address that is safe to write to, and never say who the alleged
perpetrator is nor what the police reported: the victim may not be the only one who opens the post.
"""

from typing import Any

from handlers import Context, Outgoing, Record, Result, handler

# Where community health's actions go (§8.8); a setting of the flow, not of a case.
COMMUNITY_HEALTH = ("Community health (public health nursing)", "community.health@health.example.org")


def _names(children: Any) -> list[dict[str, str]]:
    return [{"name": str(c.get("name", ""))} for c in children or []]


@handler("tell_schools")
def tell_schools(ctx: Context) -> Result:
    """Operation Encompass: each child's school hears of the incident before the next school day, so a trusted
    adult can be ready for the child that morning. One message per school, naming only its own pupils."""
    by_school: dict[str, list[dict[str, Any]]] = {}
    names: dict[str, str] = {}
    for child in ctx.data.get("children", []):
        address = str(child.get("school_email") or "").strip()
        if address:
            by_school.setdefault(address.lower(), []).append(child)
            names.setdefault(address.lower(), str(child.get("school") or "The school"))
    outgoing = [
        Outgoing(
            channel="email",
            template="da_operation_encompass",
            recipient_role="school",
            recipient_name=names[address],
            address=address,
            fields={
                "case_reference": ctx.case_reference,
                "children": _names(pupils),
                "incident_date": ctx.data.get("incident_date"),
                "next_school_day": ctx.params.get("next_school_day"),
            },
        )
        for address, pupils in by_school.items()
    ]
    told = sorted(names[a] for a in by_school)
    untold = [c.get("name", "") for c in ctx.data.get("children", []) if not c.get("school_email")]
    return Result(data={"told": told, "no_school_address": untold}, outgoing=outgoing)


@handler("record_da_triage_decision")
def record_da_triage_decision(ctx: Context) -> Result:
    """The joint triage's decision as a record of its own: the level, the matrix and the rationale."""
    fields = {
        "level": ctx.data.get("level"),
        "agreed_risk": ctx.data.get("agreed_risk"),
        "risk_factors": list(ctx.data.get("risk_factors") or []),
        "protective_factors": list(ctx.data.get("protective_factors") or []),
        "threshold": ctx.data.get("threshold") if ctx.data.get("level") == 4 else None,
        "rationale": ctx.data.get("rationale") or "",
    }
    return Result(data={"level": fields["level"]}, records=[Record("da_triage_decision", fields)])


@handler("send_da_support_offer")
def send_da_support_offer(ctx: Context) -> Result:
    """Level 2: a letter offering support to the victim, only to an address that is safe to write to;
    otherwise nothing is sent and the flow asks someone to make contact safely."""
    victim = ctx.data.get("victim") or {}
    if not victim.get("safe_to_write") or not str(victim.get("address") or "").strip():
        return Result(data={"sent": False, "reason": "not_safe_to_write"})
    letter = Outgoing(
        channel="letter",
        template="da_support_offer",
        recipient_role="victim",
        recipient_name=str(victim.get("name", "")),
        address=str(victim["address"]),
        fields={"case_reference": ctx.case_reference, "children": _names(ctx.data.get("triage_children"))},
    )
    return Result(data={"sent": True}, outgoing=[letter])


@handler("notify_community_health")
def notify_community_health(ctx: Context) -> Result:
    """Level 3's optional action for health, fed back to health colleagues in the community (§8.8)."""
    name, address = COMMUNITY_HEALTH
    notice = Outgoing(
        channel="email",
        template="da_health_action",
        recipient_role="health",
        recipient_name=name,
        address=address,
        fields={
            "case_reference": ctx.case_reference,
            "children": _names(ctx.data.get("triage_children")),
            "action": str(ctx.data.get("health_action_detail") or ""),
        },
    )
    return Result(data={"sent": True}, outgoing=[notice])


@handler("accept_da_referrals")
def accept_da_referrals(ctx: Context) -> Result:
    """Accept the named children's notification as a referral: a strategy discussion is accepted at once."""
    keys = [str(k) for k in ctx.params.get("keys") or []]
    route, threshold = str(ctx.params["route"]), str(ctx.params["threshold"])
    return Result(
        data={"route": route, "children": keys},
        records=[Record("referral_accepted", {"child_key": k, "route": route, "threshold": threshold}) for k in keys],
    )
