"""Letters as their reader gets them: a queued outbox row as HTML (on the case page) and as a PDF.

Everything comes from what the outbox row froze when the step that made the letter committed (DESIGN.md
rule 4): subject, body, recipient and address, dated the day it was queued. Nothing is re-rendered from the
case as it is now, so the page and the PDF show exactly what was, or will be, posted. The letter's wording
was decided by its template in app/templates/letters/<template>.txt; this module only lays it out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import render_template
from markupsafe import Markup
from weasyprint import HTML
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from app.extensions import db
from app.models import Case, OutboxItem, User
from app.services import audit

LONDON = ZoneInfo("Europe/London")
SIGN_OFF = "Compass, children's services"


class LetterNotRendered(RuntimeError):
    """The PDF could not be made; an ordinary exception, so the app's error page answers, never a trace."""


@dataclass(frozen=True)
class Block:
    """A run of the body: a paragraph (its lines kept as written) or a bulleted list."""

    kind: str  # "paragraph" or "list"
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Letter:
    subject: str
    recipient_name: str
    address_lines: tuple[str, ...]
    by_email: bool
    dated: str
    blocks: tuple[Block, ...]
    sign_off: str


def letter_of(item: OutboxItem) -> Letter:
    """The frozen row, laid out: the date it was queued, the address block, and the body in blocks."""
    blocks = _blocks(item.body)
    # The templates end with the council's sign-off; the layout prints it once, in its own place.
    if blocks and blocks[-1] == Block("paragraph", (SIGN_OFF,)):
        blocks = blocks[:-1]
    return Letter(
        subject=item.subject,
        recipient_name=item.recipient_name,
        address_lines=_address_lines(item.address),
        by_email=item.channel == "email",
        dated=_london_date(item),
        blocks=tuple(blocks),
        sign_off=SIGN_OFF,
    )


def html(item: OutboxItem) -> Markup:
    """The letter as a fragment of a page, in GOV.UK styles, for the case page's letter view. Markup, because
    the template has already escaped every frozen field once; escaping it again would show the tags."""
    return Markup(render_template("letters/_letter.html", letter=letter_of(item)))  # noqa: S704


def print_html(item: OutboxItem) -> str:
    """The letter as a whole document for print: the same fragment with an A4 stylesheet written inline."""
    return render_template("letters/print.html", letter=letter_of(item))


def pdf(item: OutboxItem) -> bytes:
    """The letter as an A4 PDF. WeasyPrint is handed the document as a string with nothing to fetch, and a
    fetcher that refuses every URL, so a letter can never reach out to the network or the file system."""
    try:
        return bytes(HTML(string=print_html(item), url_fetcher=RefuseEveryURL(fail_on_errors=True)).write_pdf())
    except FatalURLFetchingError as err:
        # WeasyPrint's fatal error is a BaseException, which would get past the app's error page.
        raise LetterNotRendered(f"the letter tried to fetch a resource: {err}") from None


def filename(case: Case, item: OutboxItem) -> str:
    """A download name that says which case and which letter, safe in a Content-Disposition header."""
    name = f"{case.reference}-{item.template}-{item.id}.pdf"
    return re.sub(r"[^A-Za-z0-9._-]", "-", name)


def record_download(user: User, item: OutboxItem) -> None:
    """A downloaded letter leaves the system: recorded like any reading of a case (DESIGN.md rule 9)."""
    audit.record("LETTER_DOWNLOADED", user.id, case_id=item.case_id, outbox_item_id=item.id)
    db.session.commit()


def record_view(user: User, item: OutboxItem) -> None:
    """A letter read on screen is a look at the case like any other."""
    audit.record("LETTER_VIEWED", user.id, case_id=item.case_id, outbox_item_id=item.id)
    db.session.commit()


class RefuseEveryURL(URLFetcher):
    """A letter is self-contained; any URL in it is a mistake, refused rather than fetched."""

    def fetch(self, url: str, headers: object = None) -> URLFetcherResponse:
        raise ValueError(f"letters fetch nothing: refused {url[:80]}")


def _london_date(item: OutboxItem) -> str:
    # Stored in UTC; the date on the letter is the council's own day, with the clock change handled.
    moment = item.created_at.astimezone(LONDON)
    return f"{moment.day} {moment:%B %Y}"


def _address_lines(address: str) -> tuple[str, ...]:
    """An address as it goes on an envelope: one part a line, split at line breaks or commas."""
    parts = re.split(r"[\n,]", address or "")
    return tuple(p.strip() for p in parts if p.strip())


def _blocks(body: str) -> list[Block]:
    """Paragraphs are separated by blank lines; lines beginning "- " are bullets, as the templates write."""
    blocks: list[Block] = []
    for chunk in re.split(r"\n\s*\n", body.strip()):
        run: list[str] = []
        run_kind = ""
        for raw in chunk.splitlines():
            line = raw.strip()
            if not line:
                continue
            kind = "list" if line.startswith("- ") else "paragraph"
            if kind != run_kind and run:
                blocks.append(Block(run_kind, tuple(run)))
                run = []
            run_kind = kind
            run.append(line[2:] if kind == "list" else line)
        if run:
            blocks.append(Block(run_kind, tuple(run)))
    return blocks
