"""Who is calling: the bearer token of each request, and nothing else (never the web's session cookie)."""

from __future__ import annotations

from flask import g, request

from app.models import User
from app.services import api_tokens
from app.web.api import bp
from app.web.api.errors import ApiError

REALM = 'Bearer realm="compass"'


@bp.before_request
def authenticate() -> None:
    # Every route of the blueprint passes through here, so none can be reached without a token by mistake.
    g.pop("api_user", None)
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.strip().partition(" ")
    if not header:
        raise ApiError(
            401,
            "Send a token in the Authorization header: 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": REALM},
        )
    if scheme.lower() != "bearer":
        raise ApiError(
            401,
            "Only bearer tokens are accepted: 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": REALM},
        )
    try:
        token = api_tokens.token_for(secret.strip())
    except api_tokens.TokenRefused as refused:
        raise ApiError(401, str(refused), headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'}) from None
    needed = scope_needed(request.endpoint or "", request.method)
    if needed not in token.scope_set:
        api_tokens.refused_scope(token, needed)
        raise ApiError(
            403,
            f"This token may not {api_tokens.SCOPES[needed]}: it needs the '{needed}' scope "
            f"(it has: {', '.join(sorted(token.scope_set))}).",
            headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{needed}"'},
        )
    g.api_user = token.user


# Every route's scope is named here; a route missing from this table needs "write", the safer guess.
SCOPE_OF_ENDPOINT = {
    "api.receive_domestic_abuse_notification": "notifications",
    "api.create_case": "write",
    "api.complete_task": "write",
}


def scope_needed(endpoint: str, method: str) -> str:
    if endpoint in SCOPE_OF_ENDPOINT:
        return SCOPE_OF_ENDPOINT[endpoint]
    return "read" if method in ("GET", "HEAD") else "write"


def caller() -> User:
    user: User = g.api_user
    return user
