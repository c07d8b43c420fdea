"""Security hardening of the web pages: headers and a Content-Security-Policy with no inline script, the
session cookie, a new session at sign-in, signing out after a spell without activity, and locking a
username after repeated wrong passwords."""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from harness import make_app
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Draft, LoginGuard

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
PAGES = ["/login", "/tasks", "/tasks/team", "/cases", "/people/search", "/mat", "/lado", "/restricted-records"]


def events(name: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.name == name).order_by(AuditEvent.id)))


def sign_in(web, username: str, password: str):
    return web.post("/login", {"username": username, "password": password})


def test_every_page_carries_the_security_headers(web) -> None:
    manager = web.another().login("service_manager")
    for url in PAGES:
        response = manager.client.get(url)
        assert response.status_code == 200, url
        headers = response.headers
        assert (
            headers["Content-Security-Policy"] == manager.client.get("/no-such-page").headers["Content-Security-Policy"]
        )  # error pages too
        assert headers["X-Content-Type-Options"] == "nosniff", url
        assert headers["X-Frame-Options"] == "DENY", url
        assert headers["Referrer-Policy"] == "no-referrer", url
        assert headers["Cache-Control"] == "no-store", url
        policy = headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "Strict-Transport-Security" not in headers  # only when served over HTTPS


def test_no_page_has_an_inline_script_or_style_but_the_one_the_policy_names_by_hash(web) -> None:
    manager = web.another().login("service_manager")
    for url in PAGES:
        response = manager.client.get(url)
        html = response.get_data(as_text=True)
        policy = response.headers["Content-Security-Policy"]
        script_src = next(part for part in policy.split("; ") if part.startswith("script-src "))
        assert "style=" not in html and "<style" not in html, url
        for attributes, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S):
            if "src=" in attributes:
                assert body.strip() == "", url
                continue
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in script_src, (url, body)
        assert re.search(r"\son[a-z]+=", html) is None, url  # no onclick= and the like


def test_the_assets_may_be_cached_but_pages_may_not(web) -> None:
    response = web.client.get("/assets/compass.css")
    assert response.status_code == 200 and "no-store" not in response.headers.get("Cache-Control", "")
    assert web.client.get("/login").headers["Cache-Control"] == "no-store"


def test_the_session_cookie_is_http_only_and_same_site(web) -> None:
    response = sign_in(web, "demo.ssw", "compass-demo")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # served over plain HTTP here; the next test sets it


def test_over_https_the_cookie_is_secure_and_browsers_are_told_to_keep_to_https(fresh: Flask) -> None:
    secure = make_app(fresh.config["SQLALCHEMY_DATABASE_URI"], SESSION_COOKIE_SECURE=True)
    client = secure.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True))
    assert token
    response = client.post("/login", data={"username": "demo.ssw", "password": "compass-demo", "csrf_token": token[1]})
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_signing_in_starts_a_new_session_so_a_planted_one_is_worth_nothing(web) -> None:
    with web.client.session_transaction() as planted:
        planted["planted"] = "by someone else"
        planted["_user_id"] = "999"
    web.login("ssw")
    with web.client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] != "999"


def test_a_form_posted_without_its_csrf_token_is_refused_and_nothing_is_saved(web) -> None:
    web.login("fpoc")
    before = db.session.scalar(select(func.count()).select_from(Draft))
    response = web.client.post("/drafts", data={"_draft": "contact", "concern": "No token"})
    assert response.status_code == 400
    assert "nothing was saved" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Draft)) == before


@pytest.fixture
def idle_app(fresh: Flask) -> Flask:
    """The app with the real idle setting (the shared test app waits ten years, as tests move the clock)."""
    return make_app(fresh.config["SQLALCHEMY_DATABASE_URI"], IDLE_MINUTES=30, SESSION_MAX_HOURS=12)


def test_thirty_minutes_without_activity_sign_someone_out_and_their_draft_is_kept(web, idle_app: Flask) -> None:
    web.app = idle_app
    web.client = idle_app.test_client()
    with time_machine.travel(NOW, tick=False):
        web.login("fpoc")
        token = web.token("/contacts/new")
        saved = web.client.post("/drafts", data={"_draft": "contact", "concern": "Half typed", "csrf_token": token})
        assert saved.status_code in (200, 204), saved.get_data(as_text=True)
    with time_machine.travel(NOW + timedelta(minutes=29), tick=False):
        web.get("/tasks")  # activity: the half hour starts again from here
    with time_machine.travel(NOW + timedelta(minutes=58), tick=False):
        web.get("/tasks")
    with time_machine.travel(NOW + timedelta(minutes=58 + 31), tick=False):
        response = web.client.get("/cases")
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=/cases")
        login_page = web.client.get("/login").get_data(as_text=True)
        assert "signed out after 30 minutes without activity" in login_page
        assert web.client.get("/tasks").status_code == 302  # signed out for good, not just once
    assert len(events("USER_SIGNED_OUT_IDLE")) == 1
    (draft,) = db.session.scalars(select(Draft))
    assert draft.data.get("concern") == "Half typed"


def test_five_wrong_passwords_lock_the_username_for_fifteen_minutes(web) -> None:
    with time_machine.travel(NOW, tick=False):
        for _ in range(5):
            assert sign_in(web, "demo.ssw", "wrong").status_code == 400
        refused = sign_in(web, "demo.ssw", "compass-demo")
        assert refused.status_code == 400
        page = refused.get_data(as_text=True)
        assert "this username is locked until 10:15" in page  # London time; 10:00 UTC in November
        assert web.client.get("/tasks").status_code == 302  # not signed in
    with time_machine.travel(NOW + timedelta(minutes=14), tick=False):
        assert sign_in(web, "demo.ssw", "compass-demo").status_code == 400
    with time_machine.travel(NOW + timedelta(minutes=15, seconds=1), tick=False):
        assert sign_in(web, "demo.ssw", "compass-demo").status_code == 302
    assert len(events("USER_LOGIN_FAILED")) == 5
    assert len(events("USER_LOCKED_OUT")) == 1
    assert len(events("USER_LOGIN_REFUSED_LOCKED")) == 2
    assert db.session.scalars(select(LoginGuard)).all() == []  # a good sign-in clears the count


def test_a_username_nobody_has_locks_the_same_way_so_a_lock_tells_nothing(web) -> None:
    with time_machine.travel(NOW, tick=False):
        for _ in range(5):
            sign_in(web, "no.such.person", "guess")
        page = sign_in(web, "no.such.person", "guess").get_data(as_text=True)
    assert "this username is locked until" in page
    assert [e.user_id for e in events("USER_LOCKED_OUT")] == [None]


def test_wrong_passwords_spread_out_never_lock_when_a_right_one_comes_between(web) -> None:
    with time_machine.travel(NOW, tick=False):
        for _ in range(3):
            sign_in(web, "demo.fpoc", "wrong")
        assert sign_in(web, "demo.fpoc", "compass-demo").status_code == 302
        web.client.post("/logout", data={"csrf_token": web.token("/tasks")})
        for _ in range(4):
            sign_in(web, "demo.fpoc", "wrong")
        assert sign_in(web, "demo.fpoc", "compass-demo").status_code == 302
    assert events("USER_LOCKED_OUT") == []


@pytest.mark.postgres_only
def test_guesses_sent_all_at_once_are_counted_and_the_sixth_is_refused_unchecked(pg_fresh: Flask) -> None:
    """Ten wrong passwords at the same moment on ten connections: each try is counted before its password
    is checked, so no more than five are ever checked."""
    from app.services import users

    start = threading.Barrier(10)
    outcomes: list[str] = []

    def guess() -> None:
        with pg_fresh.app_context():
            start.wait()
            try:
                users.authenticate("demo.ssw", "wrong")
                outcomes.append("checked")
            except users.SignInLocked:
                outcomes.append("locked")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=guess) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["checked"] * 5 + ["locked"] * 5
    assert len(events("USER_LOGIN_FAILED")) == 5 and len(events("USER_LOCKED_OUT")) == 1


def test_a_session_lasts_twelve_hours_at_most_however_active(web, idle_app: Flask) -> None:
    web.app = idle_app
    web.client = idle_app.test_client()
    with time_machine.travel(NOW, tick=False) as clock:
        web.login("ssw")
        for _ in range(24):  # a page every 29 minutes keeps it from idling
            clock.shift(timedelta(minutes=29))
            assert web.client.get("/tasks").status_code == 200
        clock.shift(timedelta(minutes=29))  # 12 h 05 min after signing in
        assert web.client.get("/tasks").status_code == 302
        assert "signed out after 12 hours signed in" in web.client.get("/login").get_data(as_text=True)


def test_a_signed_in_session_without_its_moments_is_ended(web) -> None:
    web.login("ssw")
    with web.client.session_transaction() as session:
        del session["last_seen"]  # as in a cookie made before sessions carried it
    assert web.client.get("/tasks").status_code == 302
