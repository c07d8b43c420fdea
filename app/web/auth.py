"""Signing in and out."""

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app import policy
from app.config import LONDON
from app.services import users
from app.web import security

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
@policy.public
def login() -> Any:
    errors: list[dict[str, str]] = []
    username = request.form.get("username", "")
    if request.method == "POST":
        password = request.form.get("password", "")
        if not username.strip():
            errors.append({"text": "Enter your username", "href": "#username"})
        if not password:
            errors.append({"text": "Enter your password", "href": "#password"})
        if not errors:
            try:
                user = users.authenticate(username, password)
            except users.SignInLocked as locked:
                until = locked.until.astimezone(LONDON).strftime("%H:%M")
                errors.append(
                    {
                        "text": f"Too many wrong passwords: this username is locked until {until}. "
                        "Try again then, or ask the service desk to check your account.",
                        "href": "#username",
                    }
                )
            else:
                if user is not None:
                    # A new session for the signed-in user: nothing from before signing in carries over, so a
                    # session planted on this browser beforehand is worth nothing.
                    session.clear()
                    login_user(user)
                    security.note_activity()
                    return redirect(_safe_next(request.args.get("next")))
                errors.append({"text": "The username or password is not right", "href": "#username"})
    return render_template("login.html", errors=errors, username=username), 400 if errors else 200


def _safe_next(target: str | None) -> str:
    # Only a path on this site: never send someone on to another host after signing in.
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("tasks.home")


@bp.route("/logout", methods=["POST"])
@login_required
@policy.login_only
def logout() -> Any:
    users.logged_out(current_user.id)
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))
