"""Consent per person with parental responsibility, and a young person's own (§3.2, §7, §7.7)."""

from handlers import Context, Record, Result, handler


@handler("weigh_consent")
def record_consent(ctx: Context) -> Result:
    """Record each answer and say what they add up to: given when everyone asked gave it (or the young person
    gave their own), refused when anyone refused or withdrew it, otherwise not reached yet."""
    answers = [a for a in ctx.data.get("consents", []) if isinstance(a, dict)]
    own = ctx.data.get("young_person_consent") is True
    records = [
        Record("consent", {"name": a.get("name", ""), "status": a.get("answer"), "how": "asked"})
        for a in answers
        if a.get("answer") in {"given", "refused", "withdrawn"}
    ]
    child = ctx.data.get("child") or {}
    if own:
        records.append(
            Record(
                "consent",
                {
                    "child_key": child.get("key"),
                    "status": "given",
                    "own_consent": True,
                    "note": ctx.data.get("parents_not_informed_reason"),
                },
            )
        )
    statuses = {a.get("answer") for a in answers}
    if statuses & {"refused", "withdrawn"} and not own:
        result = "refused"
    elif own or (answers and statuses == {"given"}):
        result = "given"
    else:
        result = "not_reached"
    return Result(data=result, records=records)
