"""docker-compose.yml and the Dockerfile match the code (DESIGN.md rule 11).

No Docker engine runs here, so the compose file is parsed and every command, variable and URL in it is
checked against the application itself: the commands against the Flask CLI (plugins and nested groups
included), the variables against what app/config.py reads, the URL against the db service.
"""

from __future__ import annotations

import importlib
import re
import shlex
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from flask import Flask
from flask.cli import FlaskGroup, ScriptInfo
from sqlalchemy.engine import make_url

from app import config, create_app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
# The services that run the application's own image.
APP_SERVICES = sorted(name for name, service in SERVICES.items() if "build" in service)
RUNTIME_FOLDERS = ["app", "handlers", "processes", "forms", "migrations"]


def command_of(service: str) -> list[str]:
    command = SERVICES[service].get("command")
    assert command, f"the {service} service has no command"
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def simple_commands(service: str) -> list[list[str]]:
    """The service's command as simple commands: `sh -c "a && b; c"` is three of them."""
    argv = command_of(service)
    if argv[:2] in (["sh", "-c"], ["bash", "-c"], ["/bin/sh", "-c"]):
        return [shlex.split(part) for part in re.split(r"&&|\|\||;|\|", argv[2]) if part.strip()]
    return [argv]


def flask_invocations(service: str) -> list[list[str]]:
    """The arguments after `flask --app app` in each flask command of a service."""
    found = []
    for argv in simple_commands(service):
        if argv and Path(argv[0]).name == "flask":
            assert argv[1:3] == ["--app", "app"], f"{service}: {shlex.join(argv)} does not load the app package"
            found.append(argv[3:])
    return found


def environment_of(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


@pytest.fixture(scope="module")
def flask_app() -> Flask:
    return create_app({"SECRET_KEY": "compose-test", "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def resolve(flask_app: Flask, words: list[str]) -> click.Command:
    """The command `flask --app app <words>` runs, found the way the flask script finds it."""
    group = FlaskGroup(create_app=lambda: flask_app)
    command: click.Command = group
    path: list[str] = []
    # FlaskGroup pushes an app context as a resource of the click context: close it when done.
    with ExitStack() as contexts:
        ctx = contexts.enter_context(
            click.Context(group, info_name="flask", obj=ScriptInfo(create_app=lambda: flask_app))
        )
        for word in words:
            if not isinstance(command, click.Group) or word.startswith("-"):
                break
            found = command.get_command(ctx, word)
            path.append(word)
            assert found is not None, f"`flask --app app {' '.join(path)}` is not a command of the app"
            ctx = contexts.enter_context(click.Context(found, info_name=word, parent=ctx))
            command = found
    assert not isinstance(command, click.Group), f"`flask --app app {' '.join(words)}` names a group, not a command"
    return command


# --- Services ------------------------------------------------------------------------------------


def test_the_database_service_is_postgres() -> None:
    assert SERVICES["db"]["image"].split(":")[0] == "postgres"


def test_the_app_services_are_the_ones_expected() -> None:
    assert {"web", "worker", "migrate"} <= set(APP_SERVICES)


def test_web_runs_gunicorn_on_the_wsgi_app() -> None:
    argv = command_of("web")
    assert Path(argv[0]).name == "gunicorn"
    assert argv[-1] == "app.wsgi:app"
    bind = argv[argv.index("--bind") + 1]
    port = bind.rsplit(":", 1)[1]
    assert any(str(mapping).endswith(f":{port}") for mapping in SERVICES["web"].get("ports", []))


def test_the_wsgi_module_exposes_the_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/wsgi.db"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SECRET_KEY", "wsgi-test-secret")
    monkeypatch.setenv("COMPASS_DEMO", "0")
    monkeypatch.delitem(sys.modules, "app.wsgi", raising=False)
    wsgi = importlib.import_module("app.wsgi")
    try:
        assert isinstance(wsgi.app, Flask)
        assert wsgi.app.config["SQLALCHEMY_DATABASE_URI"] == url
        assert wsgi.app.config["SECRET_KEY"] == "wsgi-test-secret"
        assert wsgi.app.config["COMPASS_DEMO"] is False
        assert "/login" in {rule.rule for rule in wsgi.app.url_map.iter_rules()}
    finally:
        sys.modules.pop("app.wsgi", None)


def test_migrate_upgrades_the_database_then_imports_the_processes() -> None:
    invocations = flask_invocations("migrate")
    assert ["db", "upgrade"] in invocations
    assert ["import-processes"] in invocations
    assert invocations.index(["db", "upgrade"]) < invocations.index(["import-processes"])
    # Both must succeed for the next to run, and the app services wait for migrate to finish well.
    assert "&&" in command_of("migrate")[-1]
    for service in ("web", "worker"):
        assert SERVICES[service]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_the_worker_runs_the_worker_command() -> None:
    assert flask_invocations("worker") == [["worker"]]


@pytest.mark.parametrize("service", APP_SERVICES)
def test_every_flask_command_in_the_compose_file_is_a_real_command(flask_app: Flask, service: str) -> None:
    for words in flask_invocations(service):
        command = resolve(flask_app, words)
        assert command.callback is not None


def test_the_command_check_can_tell_a_missing_command(flask_app: Flask) -> None:
    assert resolve(flask_app, ["db", "upgrade"]).name == "upgrade"
    with pytest.raises(AssertionError, match="not a command"):
        resolve(flask_app, ["db", "upgrade-everything"])
    with pytest.raises(AssertionError, match="names a group"):
        resolve(flask_app, ["users"])


# --- Environment ---------------------------------------------------------------------------------


@pytest.mark.parametrize("service", APP_SERVICES)
def test_every_variable_set_is_one_the_code_reads_and_every_one_it_reads_is_set(service: str) -> None:
    assert set(environment_of(service)) == set(config.ENVIRONMENT)


def test_config_environment_lists_what_the_code_really_reads() -> None:
    source = (ROOT / "app" / "config.py").read_text(encoding="utf-8")
    read = set(re.findall(r"os\.environ\.get\(\s*\"([A-Z_]+)\"", source))
    read |= set(re.findall(r"os\.environ\[\s*\"([A-Z_]+)\"\s*\]", source))
    assert read == set(config.ENVIRONMENT)


def test_database_url_points_at_the_db_service_with_psycopg() -> None:
    db_env = SERVICES["db"]["environment"]
    for service in APP_SERVICES:
        raw = environment_of(service)["DATABASE_URL"]
        url = make_url(re.sub(r"\$\{(\w+)[^}]*\}", r"\1", raw))
        assert url.drivername == "postgresql+psycopg", service
        assert url.host == "db" and "db" in SERVICES, service
        assert url.port in (None, 5432), service
        assert url.username == db_env["POSTGRES_USER"], service
        assert url.database == db_env["POSTGRES_DB"], service
        assert "${POSTGRES_PASSWORD" in raw and "${POSTGRES_PASSWORD" in str(db_env["POSTGRES_PASSWORD"])


def test_the_app_services_wait_for_a_healthy_database() -> None:
    assert SERVICES["db"].get("healthcheck")
    assert SERVICES["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"


# --- The image -----------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_the_dockerfile_copies_every_folder_the_app_needs_at_run_time() -> None:
    copied: set[str] = set()
    for keyword, rest in dockerfile_instructions():
        if keyword in ("COPY", "ADD"):
            words = [w for w in shlex.split(rest) if not w.startswith("--")]
            copied |= {w.strip("/").removeprefix("./") for w in words[:-1]}
    for folder in RUNTIME_FOLDERS:
        assert (ROOT / folder).is_dir(), folder
        assert folder in copied or "." in copied, f"the Dockerfile does not copy {folder}/"


def test_the_image_user_can_create_what_the_app_creates_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The app's configuration creates instance/ beside the code; the image must let its user do that, or
    the code must not need to when the database and secret come from the environment."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(config, "INSTANCE", blocker / "instance")  # a folder that cannot be created
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://compass:x@db:5432/compass")
    monkeypatch.setenv("SECRET_KEY", "image-test-secret")
    monkeypatch.setenv("COMPASS_DEMO", "0")
    try:
        config.from_environment()
        needs_instance = False
    except OSError:
        needs_instance = True

    instructions = dockerfile_instructions()
    users = [rest.split(":")[0] for keyword, rest in instructions if keyword == "USER"]
    runs_as = users[-1] if users else "root"
    workdir = [rest for keyword, rest in instructions if keyword == "WORKDIR"][-1]
    provided = any(
        keyword == "RUN" and "instance" in rest and ("chown" in rest or "chmod" in rest)
        for keyword, rest in instructions
    )
    assert not needs_instance or runs_as in ("root", "0") or provided, (
        f"the image runs as {runs_as!r}, who cannot create {workdir}/instance, but app/config.py "
        "from_environment() creates that folder at every start"
    )
