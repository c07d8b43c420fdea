"""Command-line tasks: flask --app app <command>."""

import click
from flask import Flask
from sqlalchemy import select

from app.engine.specs import BundleRefused
from app.extensions import db
from app.services.worker import POLL_INTERVAL


def register(app: Flask) -> None:
    from app import cli_api, cli_demo_data, cli_records

    cli_records.register(app)
    cli_api.register(app)
    cli_demo_data.register(app)

    audit = click.Group("audit", help="The audit trail.")
    app.cli.add_command(audit)

    @audit.command("verify")
    def verify_audit() -> None:
        """Check every case's chain of audit events; exit 1 and name each break when one is found."""
        from app.services import audit_chain

        report = audit_chain.verify()
        for problem in report.problems:
            click.echo(f"broken: {problem}", err=True)
        if not report.intact:
            click.echo(f"{len(report.problems)} problems in {report.chains} chains of {report.events} events", err=True)
            raise SystemExit(1)
        click.echo(f"intact: {report.chains} chains, {report.events} events")

    @app.cli.command("import-processes")
    def import_processes() -> None:
        """Import processes/ and forms/ (idempotent by content hash)."""
        from app.services import bundles

        try:
            reports = bundles.import_shipped()
        except BundleRefused as err:
            for problem in err.problems:
                click.echo(f"refused: {problem}", err=True)
            raise SystemExit(1) from None
        for r in reports:
            state = "imported" if r.created else "already imported"
            click.echo(f"{r.flow}: bundle {r.bundle_id} {state}{', live' if r.live else ''}")

    @app.cli.command("seed-demo")
    def seed_demo() -> None:
        """Create one demo user per role (demo mode only)."""
        from app.services import users

        if not app.config.get("COMPASS_DEMO"):
            click.echo("refused: demo users are only made when COMPASS_DEMO=1", err=True)
            raise SystemExit(1)
        created = users.seed_demo()
        click.echo(f"demo users: {created} created, password for all: {users.DEMO_PASSWORD}")

    users_group = click.Group("users", help="Users and their roles.")
    app.cli.add_command(users_group)

    @users_group.command("list")
    def list_users() -> None:
        """Print each user with their team and roles."""
        from app.models import User

        for user in db.session.scalars(select(User).order_by(User.username)):
            roles = ", ".join(sorted(user.roles))
            click.echo(f"{user.username:24} {user.team_key or '-':14} {roles}")

    @app.cli.command("worker")
    @click.option("--once", is_flag=True, help="Make one pass and stop.")
    @click.option("--interval", default=POLL_INTERVAL, show_default=True, help="Longest sleep between passes.")
    def worker(once: bool, interval: float) -> None:
        """Wake instances whose timers are due and deliver the outbox's due e-mails."""
        import time

        from sqlalchemy.exc import InterfaceError, OperationalError

        from app.services import worker as work

        while True:
            try:
                woken, delivered = work.work_once()
                if once:
                    click.echo(f"woke {woken} instance(s), delivered {delivered} e-mail(s)")
                    return
                if woken >= work.BATCH:
                    continue  # a full batch: more may be due now, so go again at once
                until_next = work.seconds_to_next_wake()
            except (OperationalError, InterfaceError) as err:
                if once:
                    raise
                # The database went away mid-pass (a restart, a failover, a cut connection): the pass's
                # transaction rolled back, so nothing is half done. Drop the dead connection and go again
                # after the interval, rather than stop firing timers and sending e-mails for good.
                click.echo(f"worker: lost the database ({type(err.orig).__name__}); trying again", err=True)
                db.session.remove()
                time.sleep(interval)
                continue
            # Sleep until the next timer is due, but never longer than the interval: e-mails to retry and
            # timers set by the web app since this pass are looked at within one interval.
            if until_next is None or (woken == 0 and until_next == 0):
                pause = interval  # nothing waits, or what is due did not fire this pass: never spin
            else:
                pause = min(interval, until_next + 0.01)
            time.sleep(pause)

    @app.cli.command("reindex")
    def reindex() -> None:
        """Rebuild the task mirror from the saved workflow states."""
        from app.services import workflow

        instances, tasks = workflow.rebuild_mirror()
        click.echo(f"task mirror rebuilt: {tasks} ready tasks from {instances} running instances")
