"""Configuration from the environment. Every variable here is also set in docker-compose.yml."""

import os
import secrets
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
INSTANCE = ROOT / "instance"
# The council's own time: every moment is stored in UTC and shown in this zone.
LONDON = ZoneInfo("Europe/London")

# Environment variables the application reads, with their meaning. The compose test checks this list.
ENVIRONMENT = {
    "DATABASE_URL": "SQLAlchemy URL of the database (default: SQLite in instance/compass.db)",
    "SECRET_KEY": "signs sessions and CSRF tokens; required unless COMPASS_DEMO=1",
    "COMPASS_DEMO": "1 to seed demo users and allow a generated secret key",
    "MAX_TREE_DEPTH": "deepest task tree an instance may be saved with (default 800)",
    "SESSION_COOKIE_SECURE": "1 when served over HTTPS",
    "COMPASS_IDLE_MINUTES": "minutes without activity after which a signed-in session ends (default 30)",
    "COMPASS_CLOSURE_DAYS": "the council's own closure days as comma-separated ISO dates (2026-12-29,2026-12-30)",
    "COMPASS_CENSUS_LA_CODE": "the council's code in the DfE's Children in Need census (default 893)",
    "SMTP_HOST": "SMTP server for e-mails from the outbox (unset: e-mails go to the local sink, listed at /outbox)",
    "SMTP_PORT": "its port (default 25)",
    "SMTP_USERNAME": "user name to sign in to the SMTP server, if it asks for one",
    "SMTP_PASSWORD": "password to sign in to the SMTP server",
    "SMTP_STARTTLS": "1 to switch the SMTP connection to TLS before sending",
    "MAIL_FROM": "the From address of Compass's e-mails (default compass@compass.local)",
}
# Office hours, local time (Europe/London), for working-day clocks; a deployment may override them in config.
OFFICE_OPENS = "09:00"
OFFICE_CLOSES = "17:00"


def _secret_key(demo: bool) -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if not demo:
        raise RuntimeError("SECRET_KEY must be set (or COMPASS_DEMO=1 for a demonstration)")
    INSTANCE.mkdir(exist_ok=True)
    path = INSTANCE / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


def closure_days(text: str) -> list[str]:
    """The closure days as ISO dates. A mistyped date stops the app at start-up rather than letting every
    working-day deadline silently ignore the day the council meant to close."""
    days = []
    for part in text.split(","):
        if part.strip():
            try:
                days.append(date.fromisoformat(part.strip()).isoformat())
            except ValueError:
                raise RuntimeError(f"COMPASS_CLOSURE_DAYS: {part.strip()!r} is not a date like 2026-12-29") from None
    return days


def from_environment() -> dict[str, object]:
    demo = os.environ.get("COMPASS_DEMO", "0") == "1"
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        # Only the embedded SQLite default needs the instance folder; production images may not write here.
        INSTANCE.mkdir(exist_ok=True)
        database_url = f"sqlite:///{INSTANCE / 'compass.db'}"
    return {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": _secret_key(demo),
        "COMPASS_DEMO": demo,
        "MAX_TREE_DEPTH": int(os.environ.get("MAX_TREE_DEPTH", "800")),
        "SESSION_COOKIE_SECURE": os.environ.get("SESSION_COOKIE_SECURE", "0") == "1",
        "IDLE_MINUTES": int(os.environ.get("COMPASS_IDLE_MINUTES", "30")),
        "WTF_CSRF_TIME_LIMIT": None,
        "MAX_CONTENT_LENGTH": 4 * 1024 * 1024,
        "OFFICE_OPENS": OFFICE_OPENS,
        "OFFICE_CLOSES": OFFICE_CLOSES,
        "CLOSURE_DAYS": closure_days(os.environ.get("COMPASS_CLOSURE_DAYS", "")),
        # The council's code in the DfE's returns (the Children in Need census); 893 is Shropshire.
        "CENSUS_LA_CODE": os.environ.get("COMPASS_CENSUS_LA_CODE", "893"),
        "SMTP_HOST": os.environ.get("SMTP_HOST", ""),
        "SMTP_PORT": int(os.environ.get("SMTP_PORT", "25")),
        "SMTP_USERNAME": os.environ.get("SMTP_USERNAME", ""),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD", ""),
        "SMTP_STARTTLS": os.environ.get("SMTP_STARTTLS", "0") == "1",
        "MAIL_FROM": os.environ.get("MAIL_FROM", "compass@compass.local"),
    }
