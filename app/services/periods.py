"""A period of whole days in the council's own time, as the managers' reports ask for them (the figures, the
census return): first and last day included, each day starting at midnight in London."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar

from app.config import LONDON
from app.models.types import utcnow


def london_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), LONDON).astimezone(UTC)


def today_in_london(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(LONDON).date()


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    @property
    def starts(self) -> datetime:
        return london_midnight(self.first)

    @property
    def ends(self) -> datetime:
        """The first moment after the period: midnight in London at the end of its last day."""
        return london_midnight(self.last + timedelta(days=1))

    @property
    def title(self) -> str:
        return f"{self.first:%-d %B %Y} to {self.last:%-d %B %Y}"

    def query(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


class PeriodInvalid(ValueError):
    """The dates asked for do not make a period; each error names its field for the error summary."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


# A range longer than this is refused: the steering group and the census never ask for one, and a chart of it
# would be unreadable.
LONGEST_PERIOD_DAYS = 6 * 366
P = TypeVar("P", bound=Period)


def read(values: Mapping[str, str], default: Callable[[], P], make: Callable[[date, date], P]) -> P:
    """The period a request asks for: `from` and `to` as YYYY-MM-DD (links), or each as day, month and year
    boxes (the form); nothing asked means `default()`. Refused in words, each error naming its field."""
    errors: dict[str, str] = {}
    first = _read_day(values, "from", "starts", errors)
    last = _read_day(values, "to", "ends", errors)
    if not errors and first is None and last is None:
        return default()
    if not errors:
        if first is None:
            errors["from"] = "Enter the date the period starts"
        if last is None:
            errors["to"] = "Enter the date the period ends"
    if errors:
        raise PeriodInvalid(errors)
    assert first is not None and last is not None
    for name, day, verb in (("from", first, "starts"), ("to", last, "ends")):
        # Nothing at the front door is older than 2000; far-off years would only overflow the date arithmetic.
        if not 2000 <= day.year <= 2100:
            errors[name] = f"The year the period {verb} must be between 2000 and 2100"
    if errors:
        raise PeriodInvalid(errors)
    if last < first:
        raise PeriodInvalid({"to": "The date the period ends must be the same as or after the date it starts"})
    if (last - first).days > LONGEST_PERIOD_DAYS:
        raise PeriodInvalid({"to": "The period must be six years or shorter"})
    return make(first, last)


def _read_day(values: Mapping[str, str], name: str, verb: str, errors: dict[str, str]) -> date | None:
    whole = str(values.get(name, "")).strip()
    parts = [str(values.get(f"{name}-{p}", "")).strip() for p in ("day", "month", "year")]
    if not whole and not any(parts):
        return None
    if whole:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", whole):
            with contextlib.suppress(ValueError):
                return date.fromisoformat(whole)
        errors[name] = f"The date the period {verb} must be a real date, like 2026-04-01"
        return None
    day, month, year = parts
    missing = [label for label, part in zip(("day", "month", "year"), parts) if not part]
    if missing:
        errors[name] = f"The date the period {verb} must include a {' and '.join(missing)}"
        return None
    if not (day.isdigit() and month.isdigit() and year.isdigit() and len(day) <= 2 and len(month) <= 2):
        errors[name] = f"The date the period {verb} must be a real date, like 1 4 2026"
        return None
    if len(year) != 4:
        errors[name] = f"The year the period {verb} must include 4 numbers"
        return None
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        errors[name] = f"The date the period {verb} must be a real date, like 1 4 2026"
        return None
