"""Users: sign-in checks, lock-out after repeated failures, and the demo users."""

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
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
    """The user these details sign in, or None; raises SignInLocked while the username is locked (the
    password is then not even checked, so a guess made during the lock tells nothing)."""
    key = username.strip().lower()[:80]
    user = db.session.scalar(select(User).where(User.username == key))
    guard = db.session.get(LoginGuard, key)
    now = utcnow()
    if guard is not None and guard.locked_until is not None and guard.locked_until > now:
        audit.record("USER_LOGIN_REFUSED_LOCKED", user.id if user else None)
        db.session.commit()
        raise SignInLocked(guard.locked_until)
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)
        _failed(key, None, len(username), now)
        return None
    if not check_password_hash(user.password_hash, password):
        _failed(key, user.id, len(username), now)
        return None
    if guard is not None:
        db.session.delete(guard)
    audit.record("USER_LOGGED_IN", user.id)
    db.session.commit()
    return user


def _failed(key: str, user_id: int | None, typed_length: int, now: datetime) -> None:
    guard = db.session.get(LoginGuard, key)
    if guard is None:
        guard = LoginGuard(username=key, failures=0)
        db.session.add(guard)
    if guard.locked_until is not None:
        guard.failures, guard.locked_until = 0, None  # a lock that ran out starts a fresh count
    guard.failures += 1
    audit.record("USER_LOGIN_FAILED", user_id, username_length=typed_length)
    if guard.failures >= current_app.config.get("LOGIN_MAX_FAILURES", MAX_FAILURES):
        guard.locked_until = now + timedelta(minutes=current_app.config.get("LOGIN_LOCK_MINUTES", LOCK_MINUTES))
        audit.record("USER_LOCKED_OUT", user_id)
    try:
        db.session.commit()
    except IntegrityError:
        # Two wrong tries for a new username at the same moment: the other made the row; count on it.
        db.session.rollback()
        _failed(key, user_id, typed_length, now)


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
