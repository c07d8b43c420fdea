"""Bearer tokens for the JSON API: made for a user, kept only as a SHA-256, checked on every request.

A token is long and random (256 bits), so a plain SHA-256 is enough to keep it: unlike a password it cannot
be guessed from a list, and a fast hash lets every request be checked without slowing the API down.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import ApiToken
from app.models.types import utcnow
from app.services import audit, users

# Tokens carry a recognisable prefix so one pasted into a chat or a log is easy to spot and revoke.
PREFIX = "compass_"

# What a token may be allowed to do. A police system that sends domestic-abuse notifications needs only
# "notifications"; a case system that reads and completes work needs "read write".
SCOPES = {
    "read": "read flows, cases and tasks",
    "write": "record contacts and complete tasks",
    "notifications": "send domestic-abuse notifications",
}
DEFAULT_SCOPES = ("read", "write")
# A token that is forgotten stops working by itself; making a new one each year is a small price.
DEFAULT_DAYS = 90
MAX_DAYS = 366


class TokenRefused(Exception):
    """The request's token does not let anyone in; the message says why in plain words."""


@dataclass(frozen=True)
class NewToken:
    row: ApiToken
    secret: str  # shown once, never stored


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create(
    username: str, label: str = "", scopes: tuple[str, ...] = DEFAULT_SCOPES, days: int = DEFAULT_DAYS
) -> NewToken:
    """A new token acting as `username`, limited to `scopes`, valid for `days`; raises LookupError for an
    unknown user and ValueError for an unknown scope or a life outside 1 to MAX_DAYS days."""
    user = users.find(username)
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}; not {', '.join(unknown) or 'none'}")
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"a token lives from 1 to {MAX_DAYS} days, not {days}")
    secret = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        token_hash=digest(secret),
        label=label.strip()[:120],
        scopes=" ".join(s for s in SCOPES if s in scopes),
        expires_at=utcnow() + timedelta(days=days),
    )
    db.session.add(row)
    db.session.flush()
    audit.record("API_TOKEN_CREATED", None, token_id=row.id)
    db.session.commit()
    return NewToken(row, secret)


def all_tokens() -> list[ApiToken]:
    return list(db.session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke(token_id: int) -> ApiToken:
    """Revoke a token for good; raises LookupError when there is no such token."""
    row = db.session.get(ApiToken, token_id)
    if row is None:
        raise LookupError(f"there is no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record("API_TOKEN_REVOKED", None, token_id=row.id)
        db.session.commit()
    return row


def token_for(secret: str) -> ApiToken:
    """The presented token, if it lets anyone in, or TokenRefused. Marks the token as used."""
    if not secret:
        _refuse("missing", "Send a token in the Authorization header: 'Authorization: Bearer <token>'.")
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
    if row is None:
        _refuse("unknown", "The token is not recognised.")
    assert row is not None
    if row.revoked_at is not None:
        _refuse("revoked", "The token has been revoked.")
    if row.expires_at is not None and row.expires_at <= utcnow():
        _refuse("expired", "The token has expired; ask for a new one.")
    if not row.user.active:
        _refuse("user_inactive", "The token's user account is no longer active.")
    row.last_used_at = utcnow()
    db.session.commit()
    return row


def refused_scope(token: ApiToken, scope: str) -> None:
    """A token used for what it may not do is on the record too (ids only)."""
    audit.record("API_TOKEN_SCOPE_REFUSED", token.user_id, token_id=token.id, scope=scope)
    db.session.commit()


def _refuse(reason: str, message: str) -> None:
    """A refused token is on the record, as a failed sign-in is; the record holds the reason, not the token."""
    db.session.rollback()
    audit.record("API_TOKEN_REFUSED", None, reason=reason)
    db.session.commit()
    raise TokenRefused(message)
