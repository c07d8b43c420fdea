"""Person search and history: the decision is made in the context of what is already known (§4.7, §4.15)."""

from typing import Any

from handlers import Context, Result, handler


@handler("look_up_children")
def find_history(ctx: Context) -> Result:
    """Each child with what is known of them: earlier contacts, an open case and its allocated worker, open
    targeted early help, and the last referral. The flow routes an open case to its allocated worker."""
    children: list[dict[str, Any]] = []
    for child in ctx.data.get("children", []):
        known = ctx.queries.known_child(ctx.case_id, child["key"])
        children.append({**child, **known})
    return Result(data=children)
