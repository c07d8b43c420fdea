"""Starting a flow from the JSON API, with the Idempotency-Key that lets another system retry safely.

The key is stored with the case it created in the same transaction as the case itself, so a retry after a
lost answer finds that case, and a case is never left without its key nor a key without its case.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import policy
from app.extensions import db
from app.models import ApiIdempotencyKey, Case, User
from app.services import contacts

# The flows a caller may start through the API, with who may start each.
STARTABLE = {contacts.FLOW: policy.can_record_contact}


class UnknownFlow(LookupError):
    pass


class KeyReused(Exception):
    """The Idempotency-Key was used before for a different request."""


@dataclass(frozen=True)
class Flow:
    name: str
    title: str
    start_form: dict[str, Any]


@dataclass(frozen=True)
class Started:
    case_id: int
    created: bool  # False when an Idempotency-Key found the case an earlier request made


def flows_for(user: User) -> list[Flow]:
    """The flows the user may start, each with the JSON Schema of its start data."""
    if not may_start(user, contacts.FLOW):
        return []
    _row, bundle, schema = contacts.start_form()
    # The diagram's own process name ("Initial contact") is the title people know the flow by.
    title = getattr(bundle.spec, "description", None) or contacts.FLOW.replace("_", " ").capitalize()
    return [Flow(contacts.FLOW, str(title), schema)]


def may_start(user: User, flow: str) -> bool:
    if flow not in STARTABLE:
        raise UnknownFlow(flow)
    return STARTABLE[flow](user)


def start(user: User, flow: str, data: dict[str, Any], key: str | None = None) -> Started:
    """Start `flow` with `data` as `user`. Raises UnknownFlow, KeyReused, and whatever recording the contact
    raises (Forbidden, FormInvalid, NotSaved)."""
    if flow not in STARTABLE:
        raise UnknownFlow(flow)
    if key is None:
        return Started(contacts.record_contact(user, data).id, created=True)
    fingerprint = _fingerprint(flow, data)
    earlier = _earlier(user, key, fingerprint)
    if earlier is not None:
        return earlier

    def keep_key(case: Case) -> None:
        db.session.add(ApiIdempotencyKey(case_id=case.id, user_id=user.id, key=key, request_hash=fingerprint))
        db.session.flush()

    try:
        case = contacts.record_contact(user, data, before_commit=keep_key)
    except IntegrityError:
        # Another request with the same key committed first: answer with its case, as a retry would get.
        earlier = _earlier(user, key, fingerprint)
        if earlier is None:
            raise
        return earlier
    return Started(case.id, created=True)


def _earlier(user: User, key: str, fingerprint: str) -> Started | None:
    row = db.session.scalar(
        select(ApiIdempotencyKey).where(ApiIdempotencyKey.user_id == user.id, ApiIdempotencyKey.key == key)
    )
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise KeyReused(
            "This Idempotency-Key was already used for a different request. Use a new key for a new case, "
            "or send exactly the same request to get the case the key made."
        )
    return Started(row.case_id, created=False)


def _fingerprint(flow: str, data: dict[str, Any]) -> str:
    canonical = json.dumps({"flow": flow, "data": data}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
