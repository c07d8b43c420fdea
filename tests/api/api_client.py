"""A client for the JSON API that carries a real bearer token, made the way `tokens create` makes one.

Like the web client, it talks to a second app object on the same database, so a request never shares the
test's own app context (its `g` and its database session). A plain module, so tests import it by name."""

from __future__ import annotations

from typing import Any

from flask import Flask
from jsonschema import Draft202012Validator

from app.extensions import db
from app.services import api_tokens
from app.web.api import openapi


class Answer:
    def __init__(self, response: Any):
        self.status = response.status_code
        self.headers = response.headers
        self.text = response.get_data(as_text=True)
        self.json = response.get_json(silent=True)


class ApiClient:
    def __init__(self, flask_app: Flask, secret: str | None):
        self.client = flask_app.test_client()
        self.secret = secret

    def call(
        self,
        method: str,
        url: str,
        body: Any = None,
        expect: int | None = None,
        headers: dict[str, str] | None = None,
        raw: str | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if self.secret is not None:
            sent.setdefault("Authorization", f"Bearer {self.secret}")
        if raw is not None:
            response = self.client.open(url, method=method, data=raw, headers=sent, content_type="application/json")
        else:
            response = self.client.open(url, method=method, json=body, headers=sent)
        db.session.expire_all()
        answer = Answer(response)
        # Every answer of the API is JSON, whatever happened.
        assert response.mimetype == "application/json", (url, response.status_code, answer.text[:500])
        assert "Traceback" not in answer.text
        if expect is not None:
            assert answer.status == expect, (method, url, answer.status, answer.text[:3000])
        return answer

    def get(self, url: str, expect: int | None = 200, **kw: Any) -> Answer:
        return self.call("GET", url, expect=expect, **kw)

    def post(self, url: str, body: Any = None, expect: int | None = None, **kw: Any) -> Answer:
        return self.call("POST", url, body, expect=expect, **kw)


class Api:
    """Makes clients: one per demo role, each with a token of its own."""

    def __init__(self, flask_app: Flask):
        self.app = flask_app

    def as_role(self, role: str, scopes: tuple[str, ...] = tuple(api_tokens.SCOPES)) -> ApiClient:
        """A client whose token may do everything its role may, unless `scopes` narrows it."""
        return self.with_token(api_tokens.create(f"demo.{role}", f"tests as {role}", scopes).secret)

    def with_token(self, secret: str | None) -> ApiClient:
        return ApiClient(self.app, secret)


def assert_documented(name: str, body: Any) -> None:
    """The body matches the schema the OpenAPI document gives it, so the document says what the API does."""
    document = openapi.document()
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in Draft202012Validator(schema).iter_errors(body)]
    assert errors == [], errors
