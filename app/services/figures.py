"""The steering-group figures (§4.11, §14), computed as docs/figures.md defines them.

Every figure is counted in the database (COUNT and GROUP BY over indexed dates), never by loading cases or
workflows, so a quarter at a large authority's scale reads only the rows of that quarter. The one figure that
needs the working-day calendar (decisions within one working day) reads two timestamps per referral of the
period and applies the clocks' own rule to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Select, and_, case, exists, func, literal, select

from app.engine.calendar import Calendar
from app.extensions import db
from app.models import Case, CasePerson, Referral
from app.models.domestic_abuse import DaTriageDecision
from app.models.mat import MatDecision
from app.models.strategy import StrategyDiscussion
from app.models.types import utcnow
from app.referral_sources import SOURCES, UNKNOWN
from app.roles import CONTACT_OUTCOMES, MAT_OUTCOMES
from app.services import periods

NOT_DECIDED = "pending"
DA_LEVELS = {
    1: "Level 1: record only",
    2: "Level 2: support letter",
    3: "Level 3: early offer of help",
    4: "Level 4: child in need or child protection",
}
QUARTER_NAMES = {4: "April to June", 7: "July to September", 10: "October to December", 1: "January to March"}


@dataclass(frozen=True)
class Period(periods.Period):
    @property
    def title(self) -> str:
        quarter = quarter_of(self.first)
        if quarter == self:
            year = self.first.year if self.first.month >= 4 else self.first.year - 1
            return f"{QUARTER_NAMES[self.first.month]} {self.first.year} (quarter of {year} to {year + 1})"
        return super().title


def quarter_of(day: date) -> Period:
    """The financial-year quarter (April–June, July–September, October–December, January–March) holding a day."""
    first_month = ((day.month - 1) // 3) * 3 + 1
    first = date(day.year, first_month, 1)
    following = date(day.year + 1, 1, 1) if first_month == 10 else date(day.year, first_month + 3, 1)
    return Period(first, following - timedelta(days=1))


def recent_quarters(today: date) -> list[Period]:
    """Every quarter of this financial year and the last, newest first."""
    year = today.year if today.month >= 4 else today.year - 1
    quarters = []
    for start_year in (year, year - 1):
        for month in (4, 7, 10):
            quarters.append(quarter_of(date(start_year, month, 1)))
        quarters.append(quarter_of(date(start_year + 1, 1, 1)))
    return sorted((q for q in quarters if q.first <= today), key=lambda q: q.first, reverse=True)


def period_from(values: dict[str, str], today: date) -> Period:
    """The period a request asks for; nothing asked means the quarter holding today."""
    return periods.read(values, lambda: quarter_of(today), Period)


# --- The figures ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    numerator: int
    denominator: int

    @property
    def percent(self) -> float | None:
        return None if self.denominator == 0 else round(100 * self.numerator / self.denominator, 1)

    @property
    def text(self) -> str:
        if self.percent is None:
            return "None to count"
        return f"{self.percent:g}% ({self.numerator} of {self.denominator})"


@dataclass(frozen=True)
class Part:
    key: str
    title: str
    count: int


@dataclass(frozen=True)
class Agency:
    code: str
    title: str
    contacts: int
    referrals: int

    @property
    def conversion(self) -> Share:
        return Share(self.referrals, self.contacts)


@dataclass(frozen=True)
class Month:
    title: str
    contacts: int
    referrals: int
    strategy_discussions: int


@dataclass
class Figures:
    period: Period
    worked_out_at: datetime
    contacts: int = 0
    contact_records: int = 0
    referrals: int = 0
    strategy_discussions: int = 0
    by_source: list[Part] = field(default_factory=list)
    by_outcome: list[Part] = field(default_factory=list)
    conversion: Share = Share(0, 0)
    within_one_working_day: Share = Share(0, 0)
    re_referrals: Share = Share(0, 0)
    mat_outcomes: list[Part] = field(default_factory=list)
    da_levels: list[Part] = field(default_factory=list)
    per_agency: list[Agency] = field(default_factory=list)
    by_month: list[Month] = field(default_factory=list)
    contacts_by_month: list[int] = field(default_factory=list)


def _counted_case() -> ColumnElement[bool]:
    """A case the figures count: not recorded in error, and about a child's welfare (not a §12 request)."""
    return and_(Case.voided_at.is_(None), Case.request_type != "information_request")


def _child_contacts(starts: datetime, ends: datetime) -> Select[Any]:
    return (
        select(func.count(CasePerson.id))
        .join(Case, Case.id == CasePerson.case_id)
        .where(CasePerson.role == "child", _counted_case(), Case.created_at >= starts, Case.created_at < ends)
    )


def _became_referral() -> ColumnElement[bool]:
    return exists().where(Referral.child_id == CasePerson.id, Referral.accepted_at.is_not(None))


def _referrals(starts: datetime, ends: datetime) -> Select[Any]:
    return (
        select(func.count(Referral.id))
        .join(Case, Case.id == Referral.case_id)
        .where(_counted_case(), Referral.accepted_at >= starts, Referral.accepted_at < ends)
    )


def _strategy_discussions(starts: datetime, ends: datetime) -> Select[Any]:
    return (
        select(func.count(StrategyDiscussion.id))
        .join(Case, Case.id == StrategyDiscussion.case_id)
        .where(_counted_case(), StrategyDiscussion.held_at >= starts, StrategyDiscussion.held_at < ends)
    )


def compute(period: Period, now: datetime | None = None) -> Figures:
    now = now or utcnow()
    starts, ends = period.starts, period.ends
    scalar = db.session.scalar
    figures = Figures(period=period, worked_out_at=now)
    _from_child_contacts(figures, starts, ends, _months(period))
    figures.contact_records = (
        scalar(select(func.count(Case.id)).where(_counted_case(), Case.created_at >= starts, Case.created_at < ends))
        or 0
    )
    figures.referrals = scalar(_referrals(starts, ends)) or 0
    figures.strategy_discussions = scalar(_strategy_discussions(starts, ends)) or 0
    re_referrals = scalar(_referrals(starts, ends).where(Referral.re_referral.is_(True))) or 0
    figures.re_referrals = Share(re_referrals, figures.referrals)
    figures.within_one_working_day = _decided_within_a_working_day(starts, ends, now)
    figures.mat_outcomes = _mat_outcomes(starts, ends)
    figures.da_levels = _da_levels(starts, ends)
    figures.by_month = _by_month(period, figures.contacts_by_month)
    return figures


def _grouped(query: Any) -> dict[Any, int]:
    return {key: count for key, count in db.session.execute(query).all()}


def _source_key() -> ColumnElement[str]:
    # A literal, not a bound parameter: PostgreSQL matches GROUP BY to the select list only when both say the
    # same text, and two bound parameters are two different expressions to it.
    return func.coalesce(Case.referral_source, literal(UNKNOWN, literal_execute=True))


def _from_child_contacts(figures: Figures, starts: datetime, ends: datetime, months: list[Period]) -> None:
    """Contacts, by source, by outcome, per month and per agency, from one read of the period's child contacts
    grouped by (source, outcome, month), and their conversion from a second, grouped by source: at a large
    council each read of a quarter's children costs as much as all the arithmetic after it. (Asking in the
    first read whether each child became a referral leads PostgreSQL to read every referral ever made.)"""
    outcome = func.coalesce(CasePerson.outcome, literal(NOT_DECIDED, literal_execute=True))
    each = (
        _child_contacts(starts, ends)
        .with_only_columns(
            _source_key().label("source"),
            outcome.label("outcome"),
            _month_number(Case.created_at, months).label("month"),
        )
        .subquery()
    )
    columns = (each.c.source, each.c.outcome, each.c.month)
    groups = db.session.execute(select(*columns, func.count()).group_by(*columns)).all()
    referred = _grouped(
        _child_contacts(starts, ends)
        .where(_became_referral())
        .with_only_columns(_source_key(), func.count(CasePerson.id))
        .group_by(_source_key())
    )
    by_source: dict[str, int] = {}
    by_outcome: dict[str, int] = {}
    figures.contacts_by_month = [0] * len(months)
    for source, child_outcome, month, count in groups:
        figures.contacts_by_month[month] += count
        by_source[source] = by_source.get(source, 0) + count
        by_outcome[child_outcome] = by_outcome.get(child_outcome, 0) + count
    figures.contacts = sum(by_source.values())
    figures.conversion = Share(sum(referred.values()), figures.contacts)
    figures.by_source = [Part(code, f"{code} {title}", by_source.get(code, 0)) for code, title in SOURCES.items()]
    titles = {**CONTACT_OUTCOMES, NOT_DECIDED: "Not decided yet"}
    figures.by_outcome = [Part(key, title, by_outcome.pop(key, 0)) for key, title in titles.items()]
    # An outcome set by a flow but not among the nine (a hand-over's own word) is still counted, under its key.
    figures.by_outcome += [Part(key, key, count) for key, count in sorted(by_outcome.items())]
    figures.per_agency = [
        Agency(code, f"{code} {title}", by_source[code], referred.get(code, 0))
        for code, title in SOURCES.items()
        if by_source.get(code)
    ]


def _mat_outcomes(starts: datetime, ends: datetime) -> list[Part]:
    counts = _grouped(
        select(MatDecision.outcome, func.count(MatDecision.id))
        .join(Case, Case.id == MatDecision.case_id)
        .where(_counted_case(), MatDecision.decided_at >= starts, MatDecision.decided_at < ends)
        .group_by(MatDecision.outcome)
    )
    return [Part(key, title, counts.get(key, 0)) for key, title in MAT_OUTCOMES.items()]


def _da_levels(starts: datetime, ends: datetime) -> list[Part]:
    counts = _grouped(
        select(DaTriageDecision.level, func.count(DaTriageDecision.id))
        .join(Case, Case.id == DaTriageDecision.case_id)
        .where(_counted_case(), DaTriageDecision.decided_at >= starts, DaTriageDecision.decided_at < ends)
        .group_by(DaTriageDecision.level)
    )
    return [Part(str(level), title, counts.get(level, 0)) for level, title in DA_LEVELS.items()]


def _decided_within_a_working_day(starts: datetime, ends: datetime, now: datetime) -> Share:
    calendar = Calendar.from_settings(current_app.config)
    rows = db.session.execute(
        select(Referral.accepted_at, Referral.outcome_at)
        .join(Case, Case.id == Referral.case_id)
        .where(_counted_case(), Referral.accepted_at >= starts, Referral.accepted_at < ends)
    ).all()
    counted = within = 0
    for accepted_at, outcome_at in rows:
        if accepted_at is None:  # the query asks for accepted referrals; this only tells the type checker
            continue
        due = calendar.add_working_days(accepted_at, 1)
        if outcome_at is None and due > now:
            continue  # still inside its working day: neither met nor missed yet
        counted += 1
        if outcome_at is not None and outcome_at <= due:
            within += 1
    return Share(within, counted)


def _months(period: Period) -> list[Period]:
    months = []
    first = period.first
    while first <= period.last:
        following = date(first.year + 1, 1, 1) if first.month == 12 else date(first.year, first.month + 1, 1)
        months.append(Period(first, min(period.last, following - timedelta(days=1))))
        first = following
    return months


def _per_month(query: Select[Any], moment: Any, months: list[Period]) -> list[int]:
    """One count per month from one read of the period: a column per month, each counting its own rows."""
    columns = [
        func.coalesce(func.sum(case((and_(moment >= m.starts, moment < m.ends), 1), else_=0)), 0) for m in months
    ]
    found = db.session.execute(query.with_only_columns(*columns)).one()
    return [int(n) for n in found]


def _month_number(moment: Any, months: list[Period]) -> ColumnElement[int]:
    """Which of the period's months a moment falls in, counted from 0, as the database works it out."""
    if len(months) == 1:
        return literal(0, literal_execute=True)
    return case(*((moment < month.ends, n) for n, month in enumerate(months[:-1])), else_=len(months) - 1)


def _by_month(period: Period, contacts: list[int]) -> list[Month]:
    months = _months(period)
    starts, ends = period.starts, period.ends
    referrals = _per_month(_referrals(starts, ends), Referral.accepted_at, months)
    discussions = _per_month(_strategy_discussions(starts, ends), StrategyDiscussion.held_at, months)
    return [Month(f"{month.first:%B %Y}", contacts[n], referrals[n], discussions[n]) for n, month in enumerate(months)]


def as_rows(figures: Figures) -> list[list[Any]]:
    """One row per figure and part, for the CSV: measure, part, numerator, denominator, value."""
    rows: list[list[Any]] = [["measure", "part", "numerator", "denominator", "value"]]
    for measure, count in (
        ("contacts", figures.contacts),
        ("contact_records", figures.contact_records),
        ("referrals", figures.referrals),
        ("strategy_discussions", figures.strategy_discussions),
    ):
        rows.append([measure, "", count, "", count])
    for measure, share in (
        ("conversion_to_referral", figures.conversion),
        ("referral_decisions_within_one_working_day", figures.within_one_working_day),
        ("re_referrals_within_12_months", figures.re_referrals),
    ):
        rows.append([measure, "", share.numerator, share.denominator, "" if share.percent is None else share.percent])
    for measure, parts in (
        ("contacts_by_source", figures.by_source),
        ("contacts_by_outcome", figures.by_outcome),
        ("mat_outcomes", figures.mat_outcomes),
        ("da_triage_levels", figures.da_levels),
    ):
        rows += [[measure, part.title, part.count, "", part.count] for part in parts]
    for agency in figures.per_agency:
        share = agency.conversion
        rows.append(["per_agency_conversion", agency.title, share.numerator, share.denominator, share.percent or 0])
    for month in figures.by_month:
        rows.append(["contacts_by_month", month.title, month.contacts, "", month.contacts])
        rows.append(["referrals_by_month", month.title, month.referrals, "", month.referrals])
        rows.append(
            ["strategy_discussions_by_month", month.title, month.strategy_discussions, "", month.strategy_discussions]
        )
    return rows
