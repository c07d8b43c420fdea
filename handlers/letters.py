"""Letters to parents and to the referrer after the decision (§2.2, §4.14, §4.17).

Letters go only to addresses that are safe to write to, and a parent's letter names the referrer only when
the referrer agreed to be named and that agreement is recorded.
When the senior social worker decided the parents are not to be told (§3.2: it would put a child or
someone else at risk, obstruct a police investigation or cause undue delay), no letter goes to them.
"""

from typing import Any

from handlers import Context, Outgoing, Result, handler


@handler("send_letters")
def send_letters(ctx: Context) -> Result:
    decisions = {d["key"]: d for d in ctx.data.get("decisions", [])}
    children = ctx.data.get("children", [])
    # Consent is asked for each child's referral; a refusal for any of them is what the parents hear about.
    consent_refused = any(d.get("consent") in {"refused", "withdrawn"} for d in decisions.values())
    outgoing: list[Outgoing] = []
    withheld: list[str] = []
    # Parents are not written to when a decision says they are not to be told (§3.2, or a young person's own
    # consent, §7.7), nor while Multi Agency Triage, which may yet call a strategy discussion, decides.
    parents_not_told = any(d.get("parents_informed") is False or d.get("handover") == "mat" for d in decisions.values())

    child_lines = [_child_line(c, decisions.get(c["key"], {})) for c in children]
    referrer = ctx.data.get("referrer", {})
    named = _named_referrer(referrer)
    parent_template = "consent_not_given" if consent_refused else "information_received"
    for parent in ctx.data.get("parents", []):
        if not parent.get("parental_responsibility"):
            continue
        if parents_not_told:
            withheld.append(parent["key"])
            continue
        if not parent.get("safe_to_write") or not parent.get("address"):
            withheld.append(parent["key"])  # not safe to write: contact is made another way
            continue
        outgoing.append(
            Outgoing(
                channel="letter",
                template=parent_template,
                recipient_role="parent",
                recipient_name=parent["name"],
                address=parent["address"],
                fields={"case_reference": ctx.case_reference, "children": child_lines, "referrer": named},
            )
        )

    if referrer.get("name") and (referrer.get("address") or referrer.get("email")):
        outgoing.append(
            Outgoing(
                channel="letter" if referrer.get("address") else "email",
                template="referrer_outcome",
                recipient_role="referrer",
                recipient_name=referrer["name"],
                address=referrer.get("address") or referrer.get("email", ""),
                fields={"case_reference": ctx.case_reference, "children": child_lines},
            )
        )
    return Result(
        data={"sent": len(outgoing), "withheld": withheld, "parents_not_told": parents_not_told}, outgoing=outgoing
    )


def _named_referrer(referrer: dict[str, Any]) -> dict[str, str] | None:
    """Who made the contact, for the parents' letter: only with the referrer's recorded agreement."""
    if referrer.get("agrees_to_be_named") is not True or not referrer.get("name"):
        return None
    return {"name": str(referrer["name"]), "agency": str(referrer.get("agency") or "")}


def _child_line(child: dict[str, Any], decision: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": child.get("name", ""),
        "outcome": decision.get("outcome"),
        "handover": decision.get("handover"),
    }
