"""Command-line tasks for the JSON API: tokens."""

from datetime import datetime
from zoneinfo import ZoneInfo

import click
from flask import Flask

LONDON = ZoneInfo("Europe/London")


def _when(moment: datetime | None) -> str:
    # Stored in UTC, shown in the council's own time like everything else people read.
    return moment.astimezone(LONDON).strftime("%Y-%m-%d %H:%M") if moment else ""


def register(app: Flask) -> None:
    tokens = click.Group("tokens", help="Bearer tokens for the JSON API.")
    app.cli.add_command(tokens)

    @tokens.command("create")
    @click.argument("username")
    @click.option("--label", default="", help="Which system will hold the token, to recognise it later.")
    @click.option(
        "--scope",
        "scopes",
        multiple=True,
        help="What the token may do: read, write, notifications (repeat for several; default read and write).",
    )
    @click.option("--days", default=90, show_default=True, help="How many days the token works (at most 366).")
    def create(username: str, label: str, scopes: tuple[str, ...], days: int) -> None:
        """Make a token acting with USERNAME's permissions, and print it once."""
        from app.services import api_tokens

        try:
            made = api_tokens.create(username, label, scopes or api_tokens.DEFAULT_SCOPES, days)
        except LookupError:
            click.echo(f"refused: there is no user {username!r} (flask --app app users list shows them)", err=True)
            raise SystemExit(1) from None
        except ValueError as problem:
            click.echo(f"refused: {problem}", err=True)
            raise SystemExit(1) from None
        click.echo(
            f"token {made.row.id} for {made.row.user.username}, may {made.row.scopes.replace(' ', ' and ')}, "
            f"until {_when(made.row.expires_at)}; it is shown only now, so keep it safe:"
        )
        click.echo(made.secret)

    @tokens.command("list")
    def list_tokens() -> None:
        """Print every token with its user and when it was last used (never the token itself)."""
        from app.services import api_tokens

        for row in api_tokens.all_tokens():
            state = f"revoked {_when(row.revoked_at)}" if row.revoked_at else f"until {_when(row.expires_at)}"
            used = _when(row.last_used_at) or "never"
            click.echo(f"{row.id:5} {row.user.username:24} {row.scopes:20} {state:24} last used {used:16} {row.label}")

    @tokens.command("revoke")
    @click.argument("token_id", type=int)
    def revoke(token_id: int) -> None:
        """Revoke token TOKEN_ID for good: requests carrying it are refused from now on."""
        from app.services import api_tokens

        try:
            row = api_tokens.revoke(token_id)
        except LookupError:
            click.echo(f"refused: there is no token {token_id} (flask --app app tokens list shows them)", err=True)
            raise SystemExit(1) from None
        click.echo(f"token {row.id} of {row.user.username} revoked")
