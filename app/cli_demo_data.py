"""Command-line task: demo data at scale (demo mode only)."""

import click
from flask import Flask


def register(app: Flask) -> None:
    @app.cli.command("demo-data")
    @click.option("--cases", type=click.IntRange(min=1), required=True, help="How many cases to make in bulk.")
    @click.option("--open-tasks", type=click.IntRange(min=0), default=0, show_default=True,
                  help="How many of their user tasks are open (waiting in trays).")  # fmt: skip
    @click.option("--seed", type=int, default=None, help="The same seed makes the same cases (UUIDs apart).")
    @click.option("--years", type=click.FloatRange(min=0.1, max=30), default=None,
                  help="Spread the closed cases over this many years (default: about 55 a working day).")  # fmt: skip
    def demo_data(cases: int, open_tasks: int, seed: int | None, years: float | None) -> None:
        """Fill the database with years of realistic cases, some with open work (docs in app/services/demo_data.py)."""
        from app.services import demo_data as generator

        if not app.config.get("COMPASS_DEMO"):
            click.echo("refused: demo data is only made when COMPASS_DEMO=1", err=True)
            raise SystemExit(1)
        try:
            report = generator.generate(cases, open_tasks, seed=seed, years=years, progress=click.echo)
        except ValueError as err:
            click.echo(f"refused: {err}", err=True)
            raise SystemExit(1) from None
        for line in report.lines():
            click.echo(line)
