"""Handlers of the information_requests flow (§12, §13).

Each one reports what the step decided as a record for the request's own row, and the two that answer the
requester put their e-mail in the outbox. What is disclosed is exactly the text the senior social worker
wrote; nothing else from the case goes with it.
"""

from datetime import date
from typing import Any

from handlers import Context, Outgoing, Record, Result, handler

# Said to the requester when a refusal came with no reason of its own (the form requires one; this is a floor).
DEFAULT_REFUSAL = "We have decided not to share the information you asked for."


@handler("look_up_subjects")
def look_up_subjects(ctx: Context) -> Result:
    """For business support's checks: the earlier contacts about each person the request is about, in one
    line each (the checks form shows it read-only)."""
    lines = []
    for subject in ctx.data.get("subjects", []):
        name = str(subject.get("name", ""))
        found = [
            c
            for c in ctx.queries.earlier_contacts(name, subject.get("date_of_birth"))
            if c.get("case_id") != ctx.case_id
        ]
        listed = "; ".join(f"{c['case_reference']} ({_what_happened(c)}, {str(c['created_at'])[:10]})" for c in found)
        lines.append(f"{name}: {listed or 'no earlier contact found'}")
    return Result(data=". ".join(lines))


def _what_happened(contact: dict[str, Any]) -> str:
    if contact.get("outcome"):
        return str(contact["outcome"]).replace("_", " ")
    if contact.get("handover"):
        return f"handed to {str(contact['handover']).replace('_', ' ')}"
    return "not decided yet"


@handler("record_information_checks")
def record_information_checks(ctx: Context) -> Result:
    fields = {"records_held": ctx.data.get("records_held"), "records_summary": ctx.data.get("records_summary", "")}
    return Result(data=True, records=[Record("information_request_checked", fields)])


@handler("record_information_decision")
def record_information_decision(ctx: Context) -> Result:
    fields = {
        "proportionate": ctx.data.get("proportionate"),
        "decision": ctx.data.get("disclosure_decision"),
        "rationale": ctx.data.get("rationale", ""),
    }
    return Result(data=True, records=[Record("information_request_decided", fields)])


@handler("record_information_consent")
def record_information_consent(ctx: Context) -> Result:
    fields = {
        "status": ctx.data.get("consent_status"),
        "how": ctx.data.get("consent_how"),
        "note": ctx.data.get("consent_note"),
    }
    return Result(data=True, records=[Record("information_request_consent", fields)])


@handler("disclose_information")
def disclose_information(ctx: Context) -> Result:
    text = str(ctx.data.get("disclosure") or "")
    email = _to_requester(ctx, "information_request_disclosure", {"disclosure": text})
    return Result(data=True, outgoing=[email], records=[Record("information_disclosed", {"text": text})])


@handler("refuse_information_request")
def refuse_information_request(ctx: Context) -> Result:
    reason = str(ctx.data.get("refusal_reason") or DEFAULT_REFUSAL)
    email = _to_requester(ctx, "information_request_refusal", {"reason": reason})
    return Result(data=True, outgoing=[email], records=[Record("information_request_refused", {"reason": reason})])


def _to_requester(ctx: Context, template: str, fields: dict[str, Any]) -> Outgoing:
    """An e-mail to the person who asked, about the people they asked about (whom they already know)."""
    subjects = [
        {"name": str(s.get("name", "")), "born": _long_date(s.get("date_of_birth"))}
        for s in ctx.data.get("subjects", [])
        if isinstance(s, dict)
    ]
    return Outgoing(
        channel="email",
        template=template,
        recipient_role="requester",
        recipient_name=str(ctx.data.get("requester_name", "")),
        address=str(ctx.data.get("requester_email", "")),
        fields={
            "case_reference": ctx.case_reference,
            "agency": ctx.data.get("agency_title", ""),
            "asked": ctx.data.get("asked", ""),
            "subjects": subjects,
            **fields,
        },
    )


def _long_date(value: Any) -> str:
    try:
        return f"{date.fromisoformat(str(value)):%-d %B %Y}"
    except ValueError:
        return ""
