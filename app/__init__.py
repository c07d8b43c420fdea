"""Compass: the children's safeguarding front door."""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app import config, policy
from app.engine import runtime
from app.engine.calendar import Calendar
from app.extensions import csrf, db, login_manager, migrate
from app.roles import (
    CONSENT,
    CONTACT_OUTCOMES,
    FLOW_STATUSES,
    FLOWS,
    HANDOVERS,
    INVOLVEMENT_KINDS,
    REFERRAL_OUTCOMES,
    ROLES,
    THRESHOLDS,
)

LONDON = ZoneInfo("Europe/London")


def _london(moment: datetime | None) -> str:
    # Stored in UTC, shown in the council's own time, with the clock change handled by the zone database.
    return moment.astimezone(LONDON).strftime("%-d %B %Y, %H:%M") if moment else ""


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(config.INSTANCE), static_folder=None)
    app.config.update(config.from_environment() if not overrides or "SECRET_KEY" not in overrides else {})
    app.config.update(overrides or {})
    app.config.setdefault("MAX_TREE_DEPTH", 800)
    app.config.setdefault("COMPASS_DEMO", False)
    # A pooled connection the database has dropped (a restart, a failover) is noticed and replaced before a
    # request uses it, instead of failing that request.
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    # The session cookie is never readable by a page's script and never sent with another site's form posts.
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    runtime.use_calendar(Calendar.from_settings(app.config))

    db.init_app(app)
    migrate.init_app(app, db, directory=str(config.ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)

    from app import cli, schemaforms, web

    schemaforms.register(app)
    web.register(app)
    cli.register(app)
    app.jinja_env.filters["outcome_title"] = lambda v: CONTACT_OUTCOMES.get(v, v or "Pending")
    app.jinja_env.filters["handover_title"] = lambda v: f"Handed over to {HANDOVERS.get(v, v)}" if v else "Pending"
    app.jinja_env.filters["flow_title"] = lambda v: FLOWS.get(v, v)
    app.jinja_env.filters["flow_status"] = lambda v: FLOW_STATUSES.get(v, v)
    app.jinja_env.filters["role_title"] = lambda v: ROLES[v].title if v in ROLES else v
    app.jinja_env.filters["threshold_title"] = lambda v: THRESHOLDS.get(v, "Not decided") if v else "Not decided"
    app.jinja_env.filters["referral_outcome_title"] = lambda v: REFERRAL_OUTCOMES.get(v, v or "Not decided yet")
    app.jinja_env.filters["involvement_title"] = lambda v: INVOLVEMENT_KINDS.get(v, v)
    app.jinja_env.filters["london"] = _london
    app.jinja_env.filters["name_shown"] = lambda name, case: policy.name_shown(case, name)
    app.jinja_env.filters["consent_title"] = lambda v: CONSENT.get(v, "Not recorded")
    app.jinja_env.filters["summary_row"] = lambda row: {"key": {"text": row[0]}, "value": {"text": row[1]}}
    return app


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    # SQLite leaves foreign keys unchecked unless asked; PostgreSQL always checks them.
    if dbapi_connection.__class__.__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        # A write-ahead log: each commit is one flush of the log to disk, where the default rollback journal
        # made four (about 15 ms here, most of a task's completion); and the worker's reads no longer wait
        # on the web's writes. synchronous=FULL keeps every committed change through a power cut.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()
