"""Bearer tokens: made, listed and revoked on the command line; kept only as a SHA-256; the only way in."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import Flask
from sqlalchemy import func, select
from support import user

from app.extensions import db
from app.models import ApiToken, AuditEvent, Case

MINE = "/api/v1/tasks"


def invoke(app: Flask, *args: str):
    # The command runs in an app context of its own: end this test's transaction first, as another process
    # would find it, so SQLite is not left locked by a reader.
    db.session.commit()
    result = app.test_cli_runner().invoke(args=list(args))
    db.session.expire_all()
    return result


def test_a_token_made_on_the_command_line_works_and_only_its_hash_is_kept(fresh, api) -> None:
    result = invoke(fresh, "tokens", "create", "demo.ssw", "--label", "case system")
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert len(secret) >= 40

    row = db.session.scalar(select(ApiToken))
    assert row.user_id == user("ssw").id and row.label == "case system"
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {row.token_hash, row.label}
    assert row.last_used_at is None

    assert api.with_token(secret).get(MINE).json["tray"] == "mine"
    db.session.refresh(row)
    assert row.last_used_at is not None

    listing = invoke(fresh, "tokens", "list")
    assert listing.exit_code == 0, listing.output
    assert "demo.ssw" in listing.output and "case system" in listing.output
    assert "read write" in listing.output and "until " in listing.output
    assert secret not in listing.output and row.token_hash not in listing.output


def test_each_token_is_different(fresh) -> None:
    first = invoke(fresh, "tokens", "create", "demo.fpoc").output.strip().splitlines()[-1]
    second = invoke(fresh, "tokens", "create", "demo.fpoc").output.strip().splitlines()[-1]
    assert first != second
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 2


def test_a_revoked_token_is_refused(fresh, api) -> None:
    secret = invoke(fresh, "tokens", "create", "demo.ssw").output.strip().splitlines()[-1]
    client = api.with_token(secret)
    client.get(MINE, expect=200)
    token_id = db.session.scalar(select(ApiToken.id))

    result = invoke(fresh, "tokens", "revoke", str(token_id))
    assert result.exit_code == 0, result.output
    refused = client.get(MINE, expect=401)
    assert refused.json == {"error": "The token has been revoked."}
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert "revoked" in invoke(fresh, "tokens", "list").output


def test_the_commands_refuse_unknown_users_and_tokens_in_plain_words(fresh) -> None:
    result = invoke(fresh, "tokens", "create", "nobody.here")
    assert result.exit_code == 1
    assert "there is no user 'nobody.here'" in result.output
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0
    result = invoke(fresh, "tokens", "revoke", "999")
    assert result.exit_code == 1
    assert "there is no token 999" in result.output
    assert "Traceback" not in result.output


def test_a_missing_or_wrong_token_is_refused_with_a_challenge(api) -> None:
    for client, headers in [
        (api.with_token(None), {}),
        (api.with_token("compass_not-a-real-token"), {}),
        (api.with_token(None), {"Authorization": "Bearer "}),
        (api.with_token(None), {"Authorization": "Basic ZGVtby5zc3c6Y29tcGFzcy1kZW1v"}),
    ]:
        answer = client.get(MINE, expect=401, headers=headers)
        assert answer.headers["WWW-Authenticate"].startswith('Bearer realm="compass"')
        assert set(answer.json) == {"error"} and answer.json["error"]


def test_the_token_of_an_inactive_user_is_refused(api) -> None:
    client = api.as_role("ssw")
    client.get(MINE, expect=200)
    user("ssw").active = False
    db.session.commit()
    answer = client.get(MINE, expect=401)
    assert "no longer active" in answer.json["error"]


def test_the_web_session_cookie_never_lets_anyone_into_the_api(fresh, web) -> None:
    web.login("ssw")
    assert web.client.get("/tasks").status_code == 200  # signed in on the web
    response = web.client.get(MINE)
    assert response.status_code == 401
    assert response.get_json()["error"]
    # Nor does posting without a token, even though the API needs no CSRF token.
    response = web.client.post("/api/v1/cases", json={"flow": "initial_contact", "data": {}})
    assert response.status_code == 401


def test_a_token_stops_working_when_it_expires(fresh, api, clock) -> None:
    result = invoke(fresh, "tokens", "create", "demo.ssw", "--days", "30")
    assert result.exit_code == 0, result.output
    client = api.with_token(result.output.strip().splitlines()[-1])
    clock.shift(timedelta(days=30) - timedelta(minutes=1))
    client.get(MINE, expect=200)
    clock.shift(timedelta(minutes=2))
    answer = client.get(MINE, expect=401)
    assert answer.json == {"error": "The token has expired; ask for a new one."}
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    assert _refusals() == ["expired"]


def test_a_token_does_only_what_its_scopes_allow(fresh, api) -> None:
    police_system = api.as_role("police", scopes=("notifications",))
    answer = police_system.get(MINE, expect=403)
    assert "needs the 'read' scope" in answer.json["error"]
    assert 'error="insufficient_scope", scope="read"' in answer.headers["WWW-Authenticate"]
    reader = api.as_role("fpoc", scopes=("read",))
    reader.get(MINE, expect=200)
    before = db.session.scalar(select(func.count()).select_from(Case))
    refused = reader.post("/api/v1/cases", {"flow": "initial_contact", "data": {}}, expect=403)
    assert "needs the 'write' scope" in refused.json["error"]
    assert db.session.scalar(select(func.count()).select_from(Case)) == before
    notifying = reader.post("/api/v1/notifications/domestic-abuse", {}, expect=403)
    assert "needs the 'notifications' scope" in notifying.json["error"]
    refused = db.session.scalars(
        select(AuditEvent).where(AuditEvent.name == "API_TOKEN_SCOPE_REFUSED").order_by(AuditEvent.id)
    ).all()
    assert [(e.data["scope"], e.user_id) for e in refused] == [
        ("read", user("police").id),
        ("write", user("fpoc").id),
        ("notifications", user("fpoc").id),
    ]
    assert len({e.data["token_id"] for e in refused}) == 2


def test_the_command_refuses_an_unknown_scope_or_a_life_too_long(fresh) -> None:
    for args, said in [
        (["--scope", "admin"], "scopes must be some of read, write, notifications; not admin"),
        (["--days", "400"], "a token lives from 1 to 366 days, not 400"),
        (["--days", "0"], "a token lives from 1 to 366 days, not 0"),
    ]:
        result = invoke(fresh, "tokens", "create", "demo.police", *args)
        assert result.exit_code == 1 and said in result.output, result.output
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0
    made = invoke(fresh, "tokens", "create", "demo.police", "--scope", "notifications", "--days", "7")
    assert made.exit_code == 0 and "may notifications" in made.output
    assert db.session.scalar(select(ApiToken.scopes)) == "notifications"


def _refusals() -> list[str]:
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.name == "API_TOKEN_REFUSED").order_by(AuditEvent.id)
    )
    return [event.data["reason"] for event in events]
