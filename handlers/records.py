"""Person search and history: the decision is made in the context of what is already known (§4.7)."""

from handlers import Context, Result, handler


@handler("match_people")
def match_people(ctx: Context) -> Result:
    """For each child, the earlier contacts about the same person (same name and date of birth)."""
    history = {}
    for child in ctx.data.get("children", []):
        earlier = [
            c
            for c in ctx.queries.earlier_contacts(child.get("name", ""), child.get("date_of_birth"))
            if c["case_reference"] != ctx.case_reference
        ]
        history[child["key"]] = earlier
    return Result(data=history)
