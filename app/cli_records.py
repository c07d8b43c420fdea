"""Command-line tasks for records imported from the council's main children's record system."""

from pathlib import Path

import click
from flask import Flask


def register(app: Flask) -> None:
    @app.cli.command("import-records")
    @click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--dry-run", is_flag=True, help="Check every row and report, but save nothing.")
    def import_records(file: Path, dry_run: bool) -> None:
        """Import open cases, allocated workers and past involvement from a CSV file (docs/records-import.md)."""
        from app.services import records_import

        try:
            data = file.read_bytes()
        except OSError as err:
            click.echo(f"refused: cannot read {file}: {err.strerror or err}", err=True)
            raise SystemExit(1) from None
        try:
            report = records_import.import_file(data, dry_run=dry_run)
        except records_import.FileRefused as err:
            click.echo(f"refused: {file}: {err}", err=True)
            raise SystemExit(1) from None
        for row in report.rows:
            click.echo(str(row))
        click.echo(report.summary())
        # A refused row is work someone must look at: a scheduled import must not look like a clean run.
        if report.refused:
            raise SystemExit(1)

    @app.cli.command("demo-records")
    def demo_records() -> None:
        """Create known children with open involvement and past referrals (demo mode only; idempotent)."""
        from app.services import records_import

        if not app.config.get("COMPASS_DEMO"):
            click.echo("refused: demo records are only made when COMPASS_DEMO=1", err=True)
            raise SystemExit(1)
        report = records_import.seed_demo_records()
        for row in report.rows:
            click.echo(str(row).replace("row ", "demo record ", 1))
        click.echo(report.summary())
        if report.refused:
            raise SystemExit(1)

    @app.cli.command("reindex-people")
    def reindex_people() -> None:
        """Rebuild the name index that people search looks names up in."""
        from app.services import people

        count = people.reindex_names()
        click.echo(f"name index rebuilt for {count} children")
