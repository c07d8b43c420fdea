"""The steering-group figures (§4.11, §14), computed as docs/figures.md defines them.

Every figure is a sum over the period's days of that day's counts, which app/services/figures_days.py works
out from the tables (never from cases or workflows) and keeps once a day can no longer change by the clock
alone, so a quarter at a large authority's scale is added up from about ninety rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from app.models.types import utcnow
from app.referral_sources import SOURCES
from app.roles import CONTACT_OUTCOMES, MAT_OUTCOMES
from app.services import figures_days, periods

NOT_DECIDED = figures_days.NOT_DECIDED
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


def compute(period: Period, now: datetime | None = None) -> Figures:
    """The period's figures, added up from its days' counts (app/services/figures_days.py)."""
    now = now or utcnow()
    days = figures_days.counts(period, now)
    figures = Figures(period=period, worked_out_at=now)
    months = _months(period)
    by_source: dict[str, int] = {}
    by_outcome: dict[str, int] = {}
    referred: dict[str, int] = {}
    mat: dict[str, int] = {}
    da: dict[str, int] = {}
    within = counted = re_referrals = 0
    month_of = {(month.first.year, month.first.month): n for n, month in enumerate(months)}
    pieces: list[list[dict[str, Any]]] = [[] for _ in months]
    for first_day, piece in days.items():
        pieces[month_of[first_day.year, first_day.month]].append(piece)
    figures.by_month = [Month(f"{month.first:%B %Y}", 0, 0, 0) for month in months]
    for n, month in enumerate(months):
        contacts = referrals = discussions = 0
        for day in pieces[n]:
            for source, outcome, count in day["contacts"]:
                contacts += count
                by_source[source] = by_source.get(source, 0) + count
                by_outcome[outcome] = by_outcome.get(outcome, 0) + count
            for source, count in day["referred"]:
                referred[source] = referred.get(source, 0) + count
            referrals += day["referrals"]
            discussions += day["discussions"]
            figures.contact_records += day["records"]
            re_referrals += day["re_referrals"]
            within += day["within"][0]
            counted += day["within"][1]
            for key, count in day["mat"].items():
                mat[key] = mat.get(key, 0) + count
            for key, count in day["da"].items():
                da[key] = da.get(key, 0) + count
        figures.by_month[n] = Month(f"{month.first:%B %Y}", contacts, referrals, discussions)
    figures.contacts_by_month = [m.contacts for m in figures.by_month]
    figures.contacts = sum(by_source.values())
    figures.referrals = sum(m.referrals for m in figures.by_month)
    figures.strategy_discussions = sum(m.strategy_discussions for m in figures.by_month)
    figures.re_referrals = Share(re_referrals, figures.referrals)
    figures.within_one_working_day = Share(within, counted)
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
    figures.mat_outcomes = [Part(key, title, mat.get(key, 0)) for key, title in MAT_OUTCOMES.items()]
    figures.da_levels = [Part(str(level), title, da.get(str(level), 0)) for level, title in DA_LEVELS.items()]
    return figures


def _months(period: Period) -> list[Period]:
    months = []
    first = period.first
    while first <= period.last:
        following = date(first.year + 1, 1, 1) if first.month == 12 else date(first.year, first.month + 1, 1)
        months.append(Period(first, min(period.last, following - timedelta(days=1))))
        first = following
    return months


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
