"""Users, their roles and teams."""

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class Team(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "team"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))


class User(UserMixin, db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    team: Mapped[Team | None] = relationship()
    role_rows: Mapped[list["UserRole"]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def roles(self) -> set[str]:
        return {r.role for r in self.role_rows}

    @property
    def team_key(self) -> str | None:
        return self.team.key if self.team else None

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.active


class UserRole(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "user_role"
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(40), primary_key=True)


class LoginGuard(db.Model):  # type: ignore[name-defined,misc]
    """Tries to sign in per username typed (known or not, so a lock says nothing about who has an account):
    after too many wrong in a row the username is locked for a while, which makes guessing a password
    hopeless. Kept by a keyed hash of what was typed (users.guard_key), never the text itself."""

    __tablename__ = "login_guard"
    username: Mapped[str] = mapped_column(String(80), primary_key=True)  # the keyed hash
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
