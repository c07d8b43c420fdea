"""Users: sign-in checks and the demo users."""

from flask import current_app
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.models import Team, User, UserRole
from app.roles import ROLES, TEAMS
from app.services import audit

DEMO_PASSWORD = "compass-demo"  # noqa: S105 (demo mode only; printed in the README)
# A cheap hash for a throwaway comparison, so a wrong username costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not a password")


def authenticate(username: str, password: str) -> User | None:
    user = db.session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)
        audit.record("USER_LOGIN_FAILED", None, username_length=len(username))
        db.session.commit()
        return None
    if not check_password_hash(user.password_hash, password):
        audit.record("USER_LOGIN_FAILED", user.id, username_length=len(username))
        db.session.commit()
        return None
    audit.record("USER_LOGGED_IN", user.id)
    db.session.commit()
    return user


def logged_out(user_id: int) -> None:
    audit.record("USER_LOGGED_OUT", user_id)
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
