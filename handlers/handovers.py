"""Work handed from the initial contact to another flow (§5, §6, §10)."""

from handlers import Context, Record, Result, handler


@handler("hand_over")
def hand_over(ctx: Context) -> Result:
    """Hand the case, or one child, to another flow: recorded on the case, where that flow picks it up."""
    flow = str(ctx.params["flow"])
    child = ctx.data.get("child")
    fields = {"flow": flow, "reason": str(ctx.params.get("reason") or "")}
    if isinstance(child, dict):
        fields["child_key"] = child["key"]
    return Result(data={"flow": flow}, records=[Record("handover", fields)])
