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
        g.api_user = api_tokens.user_for(secret.strip())
    except api_tokens.TokenRefused as refused:
        raise ApiError(401, str(refused), headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'}) from None


def caller() -> User:
    user: User = g.api_user
    return user
