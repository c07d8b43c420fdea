"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from app.extensions import db


@pytest.fixture
def bare(app: Flask) -> Iterator[Flask]:
    """An empty database for the migrations to build; the tables the other tests use are put back after."""
    db.session.remove()
    db.drop_all()
    try:
        yield app
    finally:
        db.session.remove()
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        db.create_all()


def test_migrations_match_the_models_and_go_both_ways(bare: Flask) -> None:
    upgrade()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
    assert diff == []
    downgrade(revision="base")
    names = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
    assert names == set()


def test_the_need_to_know_migration_keeps_a_database_with_cases_in_it(bare: Flask) -> None:
    """Upgrading a database in use: cases with people pointing at them, audit events already recorded and a
    token already handed out all come through, the events sealed into chains that verify."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from app.services import audit_chain

    now = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    upgrade(revision="0015")
    with db.engine.begin() as conn:
        rows = {
            "team": {"id": 1, "key": "compass", "name": "Compass"},
            "user_account": {
                "id": 1,
                "username": "ssw",
                "name": "S",
                "password_hash": "x",
                "team_id": 1,
                "active": True,
                "created_at": now,
            },
            "person": {"id": 1, "name": "A Child", "name_key": "a child", "created_at": now},
            "case_record": {
                "id": 1,
                "reference": "CT-000001",
                "status": "open",
                "source": "phone",
                "concern": "c",
                "created_at": now,
                "created_by_id": 1,
                "request_type": "concern",
                "disabled_childrens_team": False,
                "marf_expected": False,
            },
            "case_person": {
                "id": 1,
                "case_id": 1,
                "person_id": 1,
                "key": "child-1",
                "role": "child",
                "details": "{}",
            },
            "api_token": {"id": 1, "user_id": 1, "token_hash": "h" * 64, "label": "police feed", "created_at": now},
        }
        for table, values in rows.items():
            names = ", ".join(values)
            conn.execute(
                text(f"INSERT INTO {table} ({names}) VALUES ({', '.join(':' + k for k in values)})"),  # noqa: S608 (our own table names)
                values,
            )
        for case_id in (1, 1, None):
            conn.execute(
                text("INSERT INTO audit_event (name, at, case_id, data) VALUES ('CASE_VIEWED', :at, :c, :d)"),
                {"at": now, "c": case_id, "d": '{"case_id": 1}'},
            )
    upgrade()
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT restricted FROM case_record")).scalar_one() in (False, 0)
        scopes, expires = conn.execute(text("SELECT scopes, expires_at FROM api_token")).one()
        assert scopes == "read write notifications" and expires is not None
    report = audit_chain.verify()
    assert report.intact, report.problems
    assert (report.chains, report.events) == (2, 3)
