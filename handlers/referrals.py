"""A contact accepted as a referral, its acknowledgement and its outcome (§4.16, §4.17)."""

from typing import Any

from handlers import Context, Outgoing, Record, Result, handler


def _children(ctx: Context) -> list[dict[str, Any]]:
    """The child this step is about (inside the per-child flow), or every child of the contact."""
    child = ctx.data.get("child")
    return [child] if isinstance(child, dict) else list(ctx.data.get("children", []))


@handler("accept_referral")
def accept_referral(ctx: Context) -> Result:
    """Accept each child's contact as a referral. A strategy discussion is accepted at once; otherwise a
    referral still waiting for its written MARF is accepted when the MARF arrives."""
    route, threshold = str(ctx.params["route"]), str(ctx.params["threshold"])
    keys = [c["key"] for c in _children(ctx)]
    return Result(
        data={"route": route, "children": keys},
        records=[Record("referral_accepted", {"child_key": k, "route": route, "threshold": threshold}) for k in keys],
    )


@handler("marf_outstanding")
def marf_outstanding(ctx: Context) -> Result:
    """Whether the contact still waits for its written MARF, as the case stands now (a sibling's step may
    have recorded it since this child's data was copied)."""
    return Result(data=ctx.queries.marf_outstanding(ctx.case_id))


@handler("marf_received")
def marf_received(ctx: Context) -> Result:
    return Result(data={"received_on": ctx.data.get("received_on")}, records=[Record("marf_received")])


def _to_referrer(ctx: Context, template: str, how: str | None, fields: dict[str, Any]) -> list[Outgoing]:
    """The referrer's own letter or e-mail; none by phone or when the referrer left no way to write."""
    referrer = ctx.data.get("referrer") or {}
    if not referrer.get("name") or how == "phone":
        return []
    address = referrer.get("email") if how == "email" else referrer.get("address")
    channel = "email" if how == "email" else "letter"
    if not address:  # asked for one channel, only the other is known
        address = referrer.get("address") or referrer.get("email")
        channel = "letter" if referrer.get("address") else "email"
    if not address:
        return []
    return [
        Outgoing(
            channel=channel,
            template=template,
            recipient_role="referrer",
            recipient_name=referrer["name"],
            address=address,
            fields={"case_reference": ctx.case_reference, **fields},
        )
    ]


@handler("send_referral_acknowledgement")
def acknowledge_referral(ctx: Context) -> Result:
    child = ctx.data["child"]
    how = ctx.data.get("acknowledged_how")
    return Result(
        data={"how": how},
        outgoing=_to_referrer(ctx, "referral_acknowledgement", how, {"child_name": child.get("name", "")}),
        records=[Record("referral_acknowledged", {"child_key": child["key"], "how": how})],
    )


@handler("record_referral_outcome")
def record_referral_outcome(ctx: Context) -> Result:
    """The outcome of the referral, with threshold, rationale and next steps, sent to the referrer (§4.17).
    A diagram may fix the outcome (consent withdrawn) through the parameters."""
    child = ctx.data["child"]
    outcome = str(ctx.params.get("outcome") or ctx.data.get("referral_outcome") or "")
    rationale = str(ctx.params.get("rationale") or ctx.data.get("rationale") or "")
    next_steps = str(ctx.data.get("next_steps") or "") if "outcome" not in ctx.params else ""
    fields = {
        "child_name": child.get("name", ""),
        "referral_outcome": outcome,
        "threshold": ctx.data.get("threshold"),
        "rationale": rationale,
        "next_steps": next_steps,
    }
    records = [
        Record(
            "referral_outcome",
            {"child_key": child["key"], "outcome": outcome, "rationale": rationale, "next_steps": next_steps},
        )
    ]
    if ctx.data.get("consent_withdrawn") is True and ctx.data.get("withdrawn_by"):
        # The withdrawal is that person's consent as it now stands, not only the reason the referral closed.
        records.append(Record("consent", {"name": ctx.data["withdrawn_by"], "status": "withdrawn", "how": "told"}))
    return Result(
        data={"outcome": outcome}, outgoing=_to_referrer(ctx, "referral_outcome", None, fields), records=records
    )
