"""Bearer tokens: made, listed and revoked on the command line; kept only as a SHA-256; the only way in."""

from __future__ import annotations

import hashlib

from flask import Flask
from sqlalchemy import func, select
from support import user

from app.extensions import db
from app.models import ApiToken

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
    assert "demo.ssw" in listing.output and "active" in listing.output and "case system" in listing.output
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
