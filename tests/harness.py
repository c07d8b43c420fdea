"""What every test folder's fixtures share: the app on a real database, and the rule that a missing part
fails in CI. A plain module (not a conftest), so any conftest or test can import it by name."""

from __future__ import annotations

import os
from typing import Any

import pytest
from flask import Flask

from app import create_app


def missing_part(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing in CI; the suite must run every test")
    pytest.skip(f"{what} is not available here")


def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    if backend == "postgresql":
        url = os.environ.get("TEST_DATABASE_URL")
        if not url:
            missing_part("PostgreSQL (TEST_DATABASE_URL)")
        return str(url)
    return f"sqlite:///{tmp_path_factory.mktemp('sqlite')}/compass-test.db"


def make_app(url: str, **extra: Any) -> Flask:
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "test-secret",
            "TESTING": True,
            "COMPASS_DEMO": True,
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            # Tests move the fake clock by days between one person's pages; signing out after a spell without
            # activity has tests of its own, on an app with the real setting (tests/web/test_security.py).
            "IDLE_MINUTES": 60 * 24 * 365 * 10,
            "SESSION_MAX_HOURS": 24 * 365 * 10,
            **extra,
        }
    )
