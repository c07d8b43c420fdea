"""The command line: `flask --app app <command>`, through Flask's CLI runner on the test database, and the
commands `make run` runs, as real subprocesses on a brand-new SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from flask import Flask
from sqlalchemy import create_engine, delete, func, select, text
from support import user

from app.extensions import db
from app.models import LiveBundle, ProcessBundle, Task, User
from app.roles import ROLES
from app.services import bundles, contacts, scenarios

ROOT = Path(__file__).resolve().parents[2]
FLASK = Path(sys.executable).parent / "flask"
SCENARIO = bundles.PROCESSES_DIR / "initial_contact" / "scenarios" / "s17_consent_given.json"


def invoke(app: Flask, *args: str):
    # The command runs in an app context of its own: end this test's transaction first, as another process
    # would find it, so SQLite is not left locked by a reader.
    db.session.commit()
    result = app.test_cli_runner().invoke(args=list(args))
    db.session.expire_all()
    return result


def test_users_list_prints_every_demo_user_with_their_roles(fresh: Flask) -> None:
    result = invoke(fresh, "users", "list")
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.output.splitlines() if line.strip()]
    assert len(lines) == len(ROLES)
    by_name = {words[0]: words for words in lines}
    for role in ROLES.values():
        words = by_name[f"demo.{role.id}"]
        assert words[1] == role.team
        assert words[2:] == [role.id]


def test_users_list_shows_every_role_of_a_user_with_several(fresh: Flask) -> None:
    from app.services import users

    users.create_user("dual.worker", "Dual worker", "not-a-demo-password", ["ssw", "team_manager"], "compass")
    db.session.commit()
    result = invoke(fresh, "users", "list")
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("dual.worker ")]
    assert line.split()[1:] == ["compass", "ssw,", "team_manager"]
    assert "not-a-demo-password" not in result.output


SHIPPED = sorted(path.stem for path in bundles.PROCESSES_DIR.glob("*.bpmn"))


def test_import_processes_is_idempotent(fresh: Flask) -> None:
    # Start from no bundles at all (the fixture imported them; no case uses them yet).
    db.session.execute(delete(LiveBundle))
    db.session.execute(delete(ProcessBundle))
    db.session.commit()

    first = invoke(fresh, "import-processes")
    assert first.exit_code == 0, first.output
    bundles_of = dict(db.session.execute(select(ProcessBundle.flow, ProcessBundle.id)).tuples().all())
    assert sorted(bundles_of) == SHIPPED  # one bundle a flow
    assert first.output.strip().splitlines() == [f"{f}: bundle {bundles_of[f]} imported, live" for f in SHIPPED]

    second = invoke(fresh, "import-processes")
    assert second.exit_code == 0, second.output
    assert second.output.strip().splitlines() == [
        f"{f}: bundle {bundles_of[f]} already imported, live" for f in SHIPPED
    ]
    assert db.session.scalar(select(func.count()).select_from(ProcessBundle)) == len(SHIPPED)
    for flow, bundle_id in bundles_of.items():
        live = db.session.get(LiveBundle, flow)
        assert live is not None and live.bundle_id == bundle_id


def test_seed_demo_refuses_outside_demo_mode(fresh: Flask) -> None:
    db.session.delete(user("lado"))
    db.session.commit()
    fresh.config["COMPASS_DEMO"] = False
    try:
        result = invoke(fresh, "seed-demo")
    finally:
        fresh.config["COMPASS_DEMO"] = True
    assert result.exit_code == 1
    assert "refused" in result.output and "COMPASS_DEMO=1" in result.output
    assert db.session.scalar(select(User).where(User.username == "demo.lado")) is None


def test_seed_demo_is_idempotent_in_demo_mode(fresh: Flask) -> None:
    db.session.delete(user("lado"))
    db.session.commit()
    first = invoke(fresh, "seed-demo")
    assert first.exit_code == 0, first.output
    assert "1 created" in first.output
    second = invoke(fresh, "seed-demo")
    assert second.exit_code == 0, second.output
    assert "0 created" in second.output
    assert db.session.scalar(select(func.count()).select_from(User)) == len(ROLES)
    assert user("lado").roles == {"lado"}


def test_reindex_rebuilds_the_task_mirror(fresh: Flask) -> None:
    start = json.loads(SCENARIO.read_text(encoding="utf-8"))["start"]
    case = contacts.record_contact(user("fpoc"), start)
    assert scenarios.mirror_mismatch(case.id) is None
    tasks_before = {(t.id, t.bpmn_id, t.lane) for t in db.session.scalars(select(Task))}
    assert tasks_before

    db.session.execute(delete(Task))
    db.session.commit()
    assert scenarios.mirror_mismatch(case.id) is not None

    result = invoke(fresh, "reindex")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"task mirror rebuilt: {len(tasks_before)} ready tasks from 1 running instances"
    assert scenarios.mirror_mismatch(case.id) is None
    assert {(t.id, t.bpmn_id, t.lane) for t in db.session.scalars(select(Task))} == tasks_before


def _flask(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "DATABASE_URL", "COMPASS_"))}
    env.update({"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "COMPASS_DEMO": "1"})
    return subprocess.run(
        [str(FLASK), "--app", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_make_run_set_up_works_on_a_brand_new_sqlite_file(tmp_path: Path) -> None:
    assert not (tmp_path / "x.db").exists()
    for command in (["db", "upgrade"], ["import-processes"], ["seed-demo"]):
        done = _flask(tmp_path, *command)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
    assert f"demo users: {len(ROLES)} created" in done.stdout

    engine = create_engine(f"sqlite:///{tmp_path}/x.db")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM user_account")).scalar() == len(ROLES)
            assert sorted(conn.execute(text("SELECT flow FROM live_bundle")).scalars().all()) == SHIPPED
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()

    # Running the set-up again (a second `make run`) changes nothing and still succeeds.
    again = _flask(tmp_path, "import-processes")
    assert again.returncode == 0 and "already imported" in again.stdout, (again.stdout, again.stderr)
