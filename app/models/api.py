"""What the JSON API keeps: bearer tokens (as hashes only) and the idempotency keys of created cases."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import UTCDateTime, utcnow
from app.models.users import User


class ApiToken(db.Model):  # type: ignore[name-defined,misc]
    """A bearer token acting with one user's permissions. Only a SHA-256 of the token is kept: the token
    itself is shown once, when it is made, so a copy of the database lets nobody in."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(120), default="")  # which system holds it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What the token may do (space-separated scopes: read, write, notifications) and until when.
    scopes: Mapped[str] = mapped_column(String(120), default="read write")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(lazy="joined")

    @property
    def scope_set(self) -> set[str]:
        return set(self.scopes.split())


class ApiIdempotencyKey(db.Model):  # type: ignore[name-defined,misc]
    """A caller's Idempotency-Key and the case its first request created, so a retry finds that case
    instead of recording the contact twice. Keys belong to one user: two systems may choose the same key."""

    __tablename__ = "api_idempotency_key"
    __table_args__ = (UniqueConstraint("user_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the request, to refuse a reused key
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
