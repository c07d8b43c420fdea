"""Signing in and out."""

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app import policy
from app.services import users

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
            user = users.authenticate(username, password)
            if user is not None:
                login_user(user)
                return redirect(_safe_next(request.args.get("next")))
            errors.append({"text": "The username or password is not right", "href": "#username"})
    return render_template("login.html", errors=errors, username=username), 400 if errors else 200


def _safe_next(target: str | None) -> str:
    # Only a path on this site: never send someone on to another host after signing in.
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("tasks.my_tasks")


@bp.route("/logout", methods=["POST"])
@login_required
@policy.login_only
def logout() -> Any:
    users.logged_out(current_user.id)
    logout_user()
    return redirect(url_for("auth.login"))
