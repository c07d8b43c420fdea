"""Bearer tokens for the JSON API: made for a user, kept only as a SHA-256, checked on every request.

A token is long and random (256 bits), so a plain SHA-256 is enough to keep it: unlike a password it cannot
be guessed from a list, and a fast hash lets every request be checked without slowing the API down.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from app.extensions import db
from app.models import ApiToken, User
from app.models.types import utcnow
from app.services import audit, users

# Tokens carry a recognisable prefix so one pasted into a chat or a log is easy to spot and revoke.
PREFIX = "compass_"


class TokenRefused(Exception):
    """The request's token does not let anyone in; the message says why in plain words."""


@dataclass(frozen=True)
class NewToken:
    row: ApiToken
    secret: str  # shown once, never stored


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create(username: str, label: str = "") -> NewToken:
    """A new token acting as `username`; raises LookupError for an unknown user."""
    user = users.find(username)
    secret = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, token_hash=digest(secret), label=label.strip()[:120])
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


def user_for(secret: str) -> User:
    """The user a presented token acts as, or TokenRefused. Marks the token as used."""
    if not secret:
        _refuse("missing", "Send a token in the Authorization header: 'Authorization: Bearer <token>'.")
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
    if row is None:
        _refuse("unknown", "The token is not recognised.")
    assert row is not None
    if row.revoked_at is not None:
        _refuse("revoked", "The token has been revoked.")
    if not row.user.active:
        _refuse("user_inactive", "The token's user account is no longer active.")
    row.last_used_at = utcnow()
    db.session.commit()
    return row.user


def _refuse(reason: str, message: str) -> None:
    """A refused token is on the record, as a failed sign-in is; the record holds the reason, not the token."""
    db.session.rollback()
    audit.record("API_TOKEN_REFUSED", None, reason=reason)
    db.session.commit()
    raise TokenRefused(message)
