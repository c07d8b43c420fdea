"""Handlers of the mat flow: the meeting's decision and the final decision after further checks (§5)."""

from handlers import Context, Record, Result, handler


@handler("record_mat_decision")
def record_mat_decision(ctx: Context) -> Result:
    """Keep the meeting's joint decision for the child, with its rationale and, for further checks, the
    defensible reason for overriding consent."""
    outcome = str(ctx.data["mat_outcome"])
    override = ctx.data.get("consent_override_reason") if outcome == "further_checks" else None
    fields = {
        "child_key": ctx.data["child"]["key"],
        "outcome": outcome,
        "rationale": str(ctx.data.get("rationale") or ""),
        "consent_override_reason": str(override) if override else None,
        "meeting_at": ctx.data.get("meeting_at"),
    }
    return Result(data={"outcome": outcome}, records=[Record("mat_decision", fields)])


@handler("record_mat_final_decision")
def record_mat_final_decision(ctx: Context) -> Result:
    """Keep social care's final decision once the further checks are in."""
    outcome = str(ctx.data["final_outcome"])
    fields = {
        "child_key": ctx.data["child"]["key"],
        "final_outcome": outcome,
        "final_rationale": str(ctx.data.get("final_rationale") or ""),
    }
    return Result(data={"final_outcome": outcome}, records=[Record("mat_final_decision", fields)])
