"""A child's involvement with children's services, as imported from the main record system, and the
re-referral rule: a referral within 12 months of a previous one for the same child is a re-referral (§4.11)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from app.extensions import db
from app.models import Case, Involvement, Referral
from app.roles import INVOLVEMENT_KINDS

LONDON = ZoneInfo("Europe/London")

KINDS = INVOLVEMENT_KINDS
STATUSES = ("open", "closed")


def open_involvement(person_id: int) -> list[Involvement]:
    """What the child is open to now, oldest first: an allocated social worker's case goes to that worker at
    once (§4.15), targeted early help to the lead professional (§8.11)."""
    return list(
        db.session.scalars(
            select(Involvement)
            .where(Involvement.person_id == person_id, Involvement.status == "open")
            .order_by(Involvement.started_on, Involvement.id)
        )
    )


def all_involvement(person_id: int) -> list[Involvement]:
    """Everything the main record system holds for the child, newest first."""
    return list(
        db.session.scalars(
            select(Involvement)
            .where(Involvement.person_id == person_id)
            .order_by(Involvement.started_on.desc(), Involvement.id.desc())
        )
    )


def previous_referral_within(
    person_id: int, on_date: date | datetime, months: int = 12, *, exclude_referral_id: int | None = None
) -> date | None:
    """The date of the child's latest referral in the `months` up to and including `on_date`, or None.

    Past referrals come from the main record system and from Compass's own accepted referrals; a referral of
    a contact recorded in error does not count, nor one not yet accepted. Pass the referral being accepted as
    `exclude_referral_id` so it is not its own previous referral. Dates are the council's (Europe/London).
    """
    day = on_date.astimezone(LONDON).date() if isinstance(on_date, datetime) else on_date
    since = day - relativedelta(months=months)
    imported = db.session.scalar(
        select(Involvement.started_on)
        .where(
            Involvement.person_id == person_id,
            Involvement.kind == "referral",
            Involvement.started_on >= since,
            Involvement.started_on <= day,
        )
        .order_by(Involvement.started_on.desc())
        .limit(1)
    )
    ours = select(Referral.accepted_at).join(Case, Referral.case_id == Case.id)
    ours = ours.where(
        Referral.person_id == person_id,
        Referral.accepted_at >= _start_of(since),
        Referral.accepted_at < _start_of(day + timedelta(days=1)),
        Case.voided_at.is_(None),
        Case.status != "voided",
    )
    if exclude_referral_id is not None:
        ours = ours.where(Referral.id != exclude_referral_id)
    accepted = db.session.scalar(ours.order_by(Referral.accepted_at.desc()).limit(1))
    found = [d for d in (imported, accepted.astimezone(LONDON).date() if accepted else None) if d is not None]
    return max(found) if found else None


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LONDON).astimezone(UTC)
