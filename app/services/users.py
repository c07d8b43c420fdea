"""Users: sign-in checks, lock-out after repeated failures, and the demo users."""

import hashlib
import hmac
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.models import LoginGuard, Team, User, UserRole
from app.models.types import utcnow
from app.roles import ROLES, TEAMS
from app.services import audit

# Five wrong passwords in a row lock the username for fifteen minutes: a person who mistypes is hardly held
# up, and someone guessing gets twenty tries an hour. Settings LOGIN_MAX_FAILURES and LOGIN_LOCK_MINUTES.
MAX_FAILURES = 5
LOCK_MINUTES = 15


class SignInLocked(Exception):
    """Too many failed sign-ins for this username; `until` says when it may try again."""

    def __init__(self, until: datetime):
        super().__init__(f"locked until {until.isoformat()}")
        self.until = until


DEMO_PASSWORD = "compass-demo"  # noqa: S105 (demo mode only; printed in the README)
# A cheap hash for a throwaway comparison, so a wrong username costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not a password")


def authenticate(username: str, password: str) -> User | None:
    """The user these details sign in, or None; raises SignInLocked while the username is locked.

    Each try is counted before its password is checked, in one atomic update, so guesses sent all at once
    are counted as surely as guesses sent one by one: the try past the limit is refused unchecked."""
    typed = username.strip().lower()[:80]
    key = guard_key(typed)
    # No username holds a NUL, and PostgreSQL refuses to compare text holding one: such a name signs nobody in.
    user = None if "\x00" in typed else db.session.scalar(select(User).where(User.username == typed))
    now = utcnow()
    limit = int(current_app.config.get("LOGIN_MAX_FAILURES", MAX_FAILURES))
    lock_for = timedelta(minutes=int(current_app.config.get("LOGIN_LOCK_MINUTES", LOCK_MINUTES)))
    tries, locked_until = _count_try(key, now)
    if locked_until is not None or tries > limit:
        until = locked_until or now + lock_for
        if locked_until is None:
            _lock(key, until)
        audit.record("USER_LOGIN_REFUSED_LOCKED", user.id if user else None)
        db.session.commit()
        raise SignInLocked(until)
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)
        _failed(key, None, len(username), tries >= limit, now + lock_for)
        return None
    if not check_password_hash(user.password_hash, password):
        _failed(key, user.id, len(username), tries >= limit, now + lock_for)
        return None
    db.session.execute(delete(LoginGuard).where(LoginGuard.username == key))
    audit.record("USER_LOGGED_IN", user.id)
    db.session.commit()
    return user


def guard_key(typed: str) -> str:
    """What the lock-out table keeps for a username typed: a keyed hash, never the text (people type their
    password into the username box)."""
    secret = str(current_app.config["SECRET_KEY"]).encode("utf-8")
    return hmac.new(secret, typed.encode("utf-8"), hashlib.sha256).hexdigest()


def _count_try(key: str, now: datetime) -> tuple[int, datetime | None]:
    """Count one more try for this username, atomically and committed at once so a try running alongside
    sees it; a lock that has run out starts a fresh count. Returns the tries so far and a lock in force."""
    maker = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    db.session.execute(maker(LoginGuard).values(username=key, failures=0).on_conflict_do_nothing())
    db.session.execute(
        update(LoginGuard)
        .where(LoginGuard.username == key, LoginGuard.locked_until <= now)
        .values(failures=0, locked_until=None)
    )
    tries, locked_until = db.session.execute(
        update(LoginGuard)
        .where(LoginGuard.username == key)
        .values(failures=LoginGuard.failures + 1)
        .returning(LoginGuard.failures, LoginGuard.locked_until)
    ).one()
    db.session.commit()
    return tries, locked_until


def _lock(key: str, until: datetime) -> None:
    db.session.execute(
        update(LoginGuard)
        .where(LoginGuard.username == key, LoginGuard.locked_until.is_(None))
        .values(locked_until=until)
    )


def _failed(key: str, user_id: int | None, typed_length: int, last_allowed: bool, until: datetime) -> None:
    audit.record("USER_LOGIN_FAILED", user_id, username_length=typed_length)
    if last_allowed:
        _lock(key, until)
        audit.record("USER_LOCKED_OUT", user_id)
    db.session.commit()


def logged_out(user_id: int) -> None:
    audit.record("USER_LOGGED_OUT", user_id)
    db.session.commit()


def signed_out_idle(user_id: int) -> None:
    audit.record("USER_SIGNED_OUT_IDLE", user_id)
    db.session.commit()


def ensure_teams() -> dict[str, Team]:
    teams = {t.key: t for t in db.session.scalars(select(Team))}
    for key, name in TEAMS.items():
        if key not in teams:
            teams[key] = Team(key=key, name=name)
            db.session.add(teams[key])
    db.session.flush()
    return teams


def create_user(username: str, name: str, password: str, roles: list[str], team: str) -> User:
    teams = ensure_teams()
    user = User(
        username=username.lower(),
        name=name,
        password_hash=generate_password_hash(password, current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")),
        team_id=teams[team].id,
    )
    user.role_rows = [UserRole(role=r) for r in roles]
    db.session.add(user)
    db.session.flush()
    return user


def seed_demo() -> int:
    """One user per role, named after the role (demo.ssw, demo.fpoc, ...). Idempotent."""
    created = 0
    existing = set(db.session.scalars(select(User.username)))
    for role in ROLES.values():
        username = f"demo.{role.id}"
        if username in existing:
            continue
        create_user(username, f"Demo {_lower_first(role.title)}", DEMO_PASSWORD, [role.id], role.team)
        created += 1
    db.session.commit()
    return created


def find(username: str) -> User:
    found = db.session.scalar(select(User).where(User.username == username.lower()))
    if found is None:
        raise LookupError(f"no user {username!r}")
    return found


def _lower_first(title: str) -> str:
    # "Senior social worker" → "senior social worker", but "FPOC call handler" and "LADO" keep their capitals.
    return title[0].lower() + title[1:] if title[1:2].islower() else title
