"""The `api` fixture: clients of the JSON API with real tokens, on the test database."""

from __future__ import annotations

import pytest
from api_client import Api
from flask import Flask
from harness import make_app

_api_apps: dict[str, Flask] = {}


@pytest.fixture
def api(fresh: Flask) -> Api:
    url = fresh.config["SQLALCHEMY_DATABASE_URI"]
    if url not in _api_apps:
        _api_apps[url] = make_app(url)
    return Api(_api_apps[url])
