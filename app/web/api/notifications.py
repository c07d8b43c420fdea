"""Police domestic-abuse notifications sent by the police's own system (DOMAIN.md Flow 3, §8.1).

The police reference makes a retry safe by itself: the same notification sent again answers 200 with the case
the first made, and the same reference with different details is refused (422). An Idempotency-Key works as it
does for POST /api/v1/cases, for a sender that prefers it.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from sqlalchemy import select

from app import policy
from app.extensions import db
from app.models import ApiIdempotencyKey, Case, User
from app.services import da_notifications
from app.services.errors import Forbidden, FormInvalid, NotSaved
from app.web.api import bp
from app.web.api.auth import caller
from app.web.api.errors import ApiError
from app.web.api.routes import _idempotency_key, _invalid, _json_body

KEY_FLOW = "da_notification"


@bp.post("/v1/notifications/domestic-abuse")
@policy.declare("can_receive_da_notification")
def receive_domestic_abuse_notification() -> tuple[Response, int, dict[str, str]]:
    user = caller()
    if not policy.can_receive_da_notification(user):
        raise ApiError(403, "Only the police, coordinators and senior social workers send these notifications.")
    data = _json_body()
    key = _idempotency_key()
    content = da_notifications.fingerprint({"flow": KEY_FLOW, "data": data})
    earlier = _earlier_by_key(user, key, content) if key else None
    try:
        if earlier is not None:
            case, created = earlier, False
        else:
            case, created = da_notifications.receive(data, "api", user, before_commit=_keep_key(user, key, content))
    except FormInvalid as invalid:
        raise _invalid(invalid) from None
    except Forbidden as err:
        raise ApiError(403, str(err)) from None
    except NotSaved as err:
        raise ApiError(409, str(err)) from None
    notification = da_notifications.notification_of(case)
    body: dict[str, Any] = {
        "case_id": case.id,
        "case_reference": case.reference,
        "police_reference": notification.police_reference if notification else None,
        "status": "received" if created else "already_received",
    }
    headers = {"Location": f"/api/v1/cases/{case.id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return jsonify(body), 201 if created else 200, headers


def _earlier_by_key(user: User, key: str, content: str) -> Case | None:
    row = db.session.scalar(
        select(ApiIdempotencyKey).where(ApiIdempotencyKey.user_id == user.id, ApiIdempotencyKey.key == key)
    )
    if row is None:
        return None
    if row.request_hash != content:
        raise ApiError(
            422,
            "This Idempotency-Key was already used for a different request. Use a new key for a new notification, "
            "or send exactly the same request to get the case the key made.",
        )
    return db.session.get(Case, row.case_id)


def _keep_key(user: User, key: str | None, content: str) -> Any:
    if key is None:
        return None

    def keep(case: Case) -> None:
        db.session.add(ApiIdempotencyKey(case_id=case.id, user_id=user.id, key=key, request_hash=content))
        db.session.flush()

    return keep
