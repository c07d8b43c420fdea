"""What every web answer carries for safety, and the signed-in session's limits.

- Security headers on every response, with a Content-Security-Policy that allows no inline script or style:
  our pages load their scripts and styles from files. The one inline script the GOV.UK page template writes
  (it marks the page as able to run JavaScript) is allowed by its exact SHA-256, so an injected script is not.
- Pages with case data are never kept in a cache (a shared computer's back button shows nothing).
- The session ends after a spell without activity (COMPASS_IDLE_MINUTES, 30 by default), and after twelve
  hours however active; forms save drafts as people type, so being signed out loses nothing.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response, flash, redirect, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_login import current_user, logout_user
from itsdangerous import BadSignature

from app.models.types import utcnow
from app.services import users

IDLE_KEY = "last_seen"
STARTED_KEY = "signed_in_at"
NOTED_EVERY = timedelta(minutes=1)


def _template_script_hashes() -> list[str]:
    """The SHA-256 sources of the inline scripts in the GOV.UK page template we extend."""
    import govuk_frontend_jinja

    template = Path(govuk_frontend_jinja.__file__).parent / "templates" / "template.html"
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", template.read_text(encoding="utf-8"), flags=re.S)
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii") + "'"
        for script in scripts
        if "{{" not in script  # a script with template expressions cannot have a fixed hash
    ]


def content_security_policy() -> str:
    script_src = " ".join(["'self'", *_template_script_hashes()])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {script_src}",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class IdleEndingSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the session's age judged by the two moments kept inside the
    signed cookie (last activity, and signing in) instead of the age of the cookie's signature: a session
    ends after the idle spell or twelve hours, not a month after the cookie was last written."""

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        try:
            return self.session_class(serializer.loads(value))
        except BadSignature:
            return self.session_class()


def note_activity() -> None:
    """Start the idle clock and the session's whole life: called as someone signs in."""
    now = utcnow().isoformat()
    session[IDLE_KEY] = now
    session[STARTED_KEY] = now


def register(app: Flask) -> None:
    app.session_interface = IdleEndingSessions()
    policy = content_security_policy()
    idle = timedelta(minutes=int(app.config.get("IDLE_MINUTES", 30)))
    longest = timedelta(hours=int(app.config.get("SESSION_MAX_HOURS", 12)))

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if request.endpoint != "assets":
            # Every page but the shared assets may show a child's details: keep none in any cache.
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.before_request
    def end_idle_session() -> Any:
        if request.endpoint == "assets" or request.path.startswith("/api/"):
            return None  # the API has no session; assets say nothing about activity
        if not current_user.is_authenticated:
            return None
        now = utcnow()
        last_seen = _moment(session.get(IDLE_KEY))
        started = _moment(session.get(STARTED_KEY))
        # A signed-in session always carries both moments (set at sign-in); one without them is older than
        # this rule and ends as an idle one does. However active, a session lasts a working day at most.
        if last_seen is None or started is None or now - last_seen > idle or now - started > longest:
            users.signed_out_idle(current_user.id)
            logout_user()
            session.clear()
            minutes = int(idle.total_seconds() // 60)
            hours = int(longest.total_seconds() // 3600)
            idle_out = last_seen is None or now - last_seen > idle
            why = f"after {minutes} minutes without activity" if idle_out else f"after {hours} hours signed in"
            flash(
                f"You were signed out {why}. "
                "Sign in again to carry on; what you had typed into a form is kept as a draft.",
                "info",
            )
            return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
        if now - last_seen >= NOTED_EVERY:
            session[IDLE_KEY] = now.isoformat()  # not at every page: each change re-sends the session cookie
        return None


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
