"""Fire and Rescue home safety visits and the "I learn" programme for children who set fires (§9)."""

from typing import Any

from handlers import Context, Outgoing, Result, handler


@handler("fire_safety_referrals")
def refer_fire_safety(ctx: Context) -> Result:
    """Refer the household for a home safety visit and any fire-setting child to I learn. The referral
    gives the children and the home address, never who made the contact."""
    children = ctx.data.get("children", [])
    home = next((c.get("address") for c in children if c.get("address")), "") or ""
    outgoing: list[Outgoing] = []
    sent: list[str] = []
    fields: dict[str, Any] = {
        "case_reference": ctx.case_reference,
        "children": [{"name": c.get("name", ""), "date_of_birth": c.get("date_of_birth")} for c in children],
        "home_address": home,
    }
    if ctx.data.get("fire_risk"):
        outgoing.append(
            Outgoing(
                "email",
                "fire_home_safety",
                "fire_service",
                "Fire and Rescue",
                ctx.params["home_safety_address"],
                fields,
            )
        )
        sent.append("home_safety_visit")
    if ctx.data.get("fire_setting"):
        outgoing.append(
            Outgoing("email", "i_learn_referral", "fire_service", "I learn", ctx.params["i_learn_address"], fields)
        )
        sent.append("i_learn")
    return Result(data=sent, outgoing=outgoing)
