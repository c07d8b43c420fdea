"""Shared fixtures: the app on a real database (SQLite always, PostgreSQL when TEST_DATABASE_URL is set),
users per role, and helpers that act the way the web does.

In CI a test that needs a missing part (PostgreSQL, Chromium) fails instead of skipping, so a green run
always means everything ran.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from harness import database_url, make_app
from support import start_afresh

from app.extensions import db

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session", params=BACKENDS)
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    flask_app = make_app(database_url(request.param, tmp_path_factory))
    with flask_app.app_context():
        db.drop_all()
        db.create_all()
        yield flask_app
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture(scope="session")
def pg_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The app on PostgreSQL only, for what only makes sense there."""
    flask_app = make_app(database_url("postgresql", tmp_path_factory))
    with flask_app.app_context():
        db.drop_all()
        db.create_all()
        yield flask_app
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def fresh(app: Flask) -> Iterator[Flask]:
    start_afresh()
    yield app
    db.session.rollback()


@pytest.fixture
def pg_fresh(pg_app: Flask) -> Iterator[Flask]:
    start_afresh()
    yield pg_app
    db.session.rollback()


class WebClient:
    """A test client that signs in and posts forms with their CSRF token, as a browser does.

    It talks to a second app object on the same database: the test's own app context stays pushed for its
    database checks, and a request must not share that context's `g` (where the signed-in user lives).
    """

    def __init__(self, flask_app: Flask):
        self.app = flask_app
        self.client = flask_app.test_client()

    def another(self) -> WebClient:
        return WebClient(self.app)

    def token(self, url: str) -> str:
        page = self.client.get(url)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
        assert match, f"no CSRF token on {url} ({page.status_code})"
        return match.group(1)

    def login(self, role: str) -> WebClient:
        self.post("/login", {"username": f"demo.{role}", "password": "compass-demo"}, expect=302)
        return self

    def get(self, url: str, expect: int = 200) -> str:
        response = self.client.get(url)
        db.session.expire_all()
        assert response.status_code == expect, (url, response.status_code, response.get_data(as_text=True)[:2000])
        return response.get_data(as_text=True)

    def post(self, url: str, data: dict[str, Any] | list[tuple[str, str]], expect: int | None = None) -> Any:
        pairs = list(data.items()) if isinstance(data, dict) else list(data)
        pairs.append(("csrf_token", self.token(url)))
        response = self.client.post(url, data=_multidict(pairs))
        db.session.expire_all()
        if expect is not None:
            assert response.status_code == expect, (url, response.status_code, response.get_data(as_text=True)[:3000])
        return response


def _multidict(pairs: list[tuple[str, Any]]) -> Any:
    from werkzeug.datastructures import MultiDict

    return MultiDict([(k, str(v)) for k, v in pairs])


_web_apps: dict[str, Flask] = {}


@pytest.fixture
def web(fresh: Flask) -> WebClient:
    url = fresh.config["SQLALCHEMY_DATABASE_URI"]
    if url not in _web_apps:
        _web_apps[url] = make_app(url)
    return WebClient(_web_apps[url])


@pytest.fixture
def clock() -> Iterator[Any]:
    """The scenarios' fake clock, stopped at SCENARIO_START; a test moves it with `clock.shift(...)`."""
    import time_machine
    from support import SCENARIO_START

    with time_machine.travel(SCENARIO_START, tick=False) as traveller:
        yield traveller
