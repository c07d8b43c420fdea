"""A period of whole days in the council's own time, as the managers' reports ask for them (the figures, the
census return): first and last day included, each day starting at midnight in London."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

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
