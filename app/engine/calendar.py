"""The working-day calendar, and the diagram helpers that turn statutory clocks into absolute timer moments.

DESIGN.md rule 8: time is stored in UTC and reasoned about in Europe/London. A statutory clock is either
elapsed ("within 2–4 hours": plain hours, whatever the day) or counted in working days ("within one working
day of receipt"). A working day is a weekday that is neither an England and Wales bank holiday (the two
nations share them; `holidays` subdivision "ENG") nor one of the council's own closure days, and the office
is open on it from OFFICE_OPENS until OFFICE_CLOSES, local time (09:00–17:00 unless configured). The office
is open at a moment when `opens <= local time < closes` on a working day: something received at 17:00 exactly
arrives after the office has closed.

The rule for "n working days after receipt" (`Calendar.add_working_days`):

- Received while the office is open, the clock starts at once, and the deadline is the same local time of
  day n working days later: accepted 16:59 on a Friday, one working day is 16:59 on the Monday (or the
  Tuesday after a bank-holiday Monday).
- Received while it is closed (before opening, after closing, at a weekend, on a bank holiday or closure
  day), the clock starts when the office next opens, and a working day started at the opening is over at
  that day's close. So one working day from 20:00 on a Friday, or from a Saturday, is due at 17:00 on the
  Monday: the close of the working day following receipt, and not 09:00 on the Tuesday, which is the same
  amount of office time but a later moment.

Put the other way, the deadline is the earliest moment at which n working days' worth of office time has
passed since receipt. Zero working days is the moment the clock starts.

`end_of_working_day` ("the same day") is the close of the day of receipt when that is a working day and the
office has not yet closed, and otherwise the close of the next working day.

Everything is computed in Europe/London with zoneinfo and returned as an aware UTC datetime, so a 09:00
deadline is 08:00 UTC in summer and 09:00 UTC in winter, and an elapsed clock that crosses a clock change
still counts real hours. Nothing here reads the clock: callers pass `start`, except the diagram helpers,
which must read it at the moment diagram code calls them.

The engine does not import Flask: `Calendar.from_settings` takes the application's settings as a plain
mapping (app/config.py reads them from the environment).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays

LONDON = ZoneInfo("Europe/London")
DEFAULT_OPENS = time(9, 0)
DEFAULT_CLOSES = time(17, 0)
# The helpers run unrestricted on behalf of diagram code, so their loops must be bounded by their arguments.
# Statutory clocks run to weeks, not years: five years is far beyond any of them.
MAX_WORKING_DAYS = 1300
MAX_HOURS = 5 * 366 * 24

HELPER_NAMES = ("working_days", "end_of_working_day", "hours_from_now", "next_working_day_at", "close_of_day")
# What each helper stands in with at a deploy's trial run: the child process has no calendar, and the
# trial only needs a value of the right kind so the code after the call runs too.
TRIAL_RESULTS: dict[str, str] = dict.fromkeys(HELPER_NAMES, "2000-01-04T17:00:00+00:00")


@functools.lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[date]:
    # One frozen set per year: a shared `holidays` object fills itself in lazily, which is not thread-safe.
    return frozenset(holidays.UK(subdiv="ENG", years=year).keys())


def _parse_time(value: time | str, name: str) -> time:
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{name} must be a time of day such as 09:00, not {value!r}") from None


def _parse_days(values: Iterable[date | str]) -> frozenset[date]:
    days = set()
    for value in values:
        if isinstance(value, datetime):
            raise ValueError(f"a closure day is a date, not a moment: {value!r}")
        days.add(value if isinstance(value, date) else date.fromisoformat(str(value).strip()))
    return frozenset(days)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        # A naive moment could be UTC or London time; guessing would move a deadline by an hour.
        raise ValueError(f"a moment must carry its time zone: {moment!r}")
    return moment


@dataclass(frozen=True)
class Calendar:
    opens: time = DEFAULT_OPENS
    closes: time = DEFAULT_CLOSES
    closure_days: frozenset[date] = field(default_factory=frozenset)
    zone: ZoneInfo = LONDON

    def __post_init__(self) -> None:
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("office hours are local times of day, without a time zone")
        if not self.opens < self.closes:
            raise ValueError(f"the office must open before it closes ({self.opens} to {self.closes})")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Calendar:
        """From OFFICE_OPENS, OFFICE_CLOSES ("HH:MM") and CLOSURE_DAYS (ISO dates); missing ones default."""
        return cls(
            opens=_parse_time(settings.get("OFFICE_OPENS", DEFAULT_OPENS), "OFFICE_OPENS"),
            closes=_parse_time(settings.get("OFFICE_CLOSES", DEFAULT_CLOSES), "OFFICE_CLOSES"),
            closure_days=_parse_days(settings.get("CLOSURE_DAYS") or ()),
        )

    # --- Days ------------------------------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        if isinstance(day, datetime):
            # A datetime is a date too, but which day it falls on depends on the zone: make the caller say.
            raise TypeError("is_working_day takes a date; convert a moment to local time first")
        return day.weekday() < 5 and day not in _bank_holidays(day.year) and day not in self.closure_days

    def next_working_day(self, day: date) -> date:
        """The first working day after `day`. Closure days are a finite list, so this always ends."""
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    # --- Moments ---------------------------------------------------------------------------------------

    def _at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, tzinfo=self.zone).astimezone(UTC)

    def _clock_start(self, start: datetime) -> tuple[date, time]:
        """The local day and time of day at which a clock started by something received at `start` runs."""
        local = _aware(start).astimezone(self.zone)
        day, clock = local.date(), local.time()
        if self.is_working_day(day):
            if self.opens <= clock < self.closes:
                return day, clock
            if clock < self.opens:
                return day, self.opens
        return self.next_working_day(day), self.opens

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """The moment n working days after receipt at `start` (the rule is in the module docstring)."""
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_WORKING_DAYS:
            raise ValueError(f"a number of working days must be a whole number from 0 to {MAX_WORKING_DAYS}")
        day, clock = self._clock_start(start)
        if n == 0:
            return self._at(day, clock)
        if clock == self.opens:
            # A whole first day: it ends at its own close, the earlier of the two equal amounts of office time.
            for _ in range(n - 1):
                day = self.next_working_day(day)
            return self._at(day, self.closes)
        for _ in range(n):
            day = self.next_working_day(day)
        return self._at(day, clock)

    def end_of_working_day(self, start: datetime) -> datetime:
        """The close of the same working day, or of the next one when `start` is after hours or not on one."""
        local = _aware(start).astimezone(self.zone)
        day = local.date()
        if not (self.is_working_day(day) and local.time() < self.closes):
            day = self.next_working_day(day)
        return self._at(day, self.closes)

    def next_working_day_at(self, start: datetime, clock: time) -> datetime:
        """The next daily meeting at `clock` London time: today's, if today is a working day and it has not
        begun by `start`; otherwise the next working day's."""
        local = _aware(start).astimezone(self.zone)
        day = local.date()
        if not (self.is_working_day(day) and local.time() < clock):
            day = self.next_working_day(day)
        return self._at(day, clock)

    @staticmethod
    def add_hours(start: datetime, hours: float) -> datetime:
        """Elapsed time: real hours in UTC, so a night with a clock change is still that many hours long."""
        return _aware(start).astimezone(UTC) + timedelta(hours=hours)


# --- Diagram helpers --------------------------------------------------------------------------------------


def _now() -> datetime:
    # Read at call time, at the library's own level, so time-machine moves it as it moves SpiffWorkflow's timers.
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    # What a BPMN timeDate expression must produce: SpiffWorkflow reads it with datetime.fromisoformat.
    return moment.astimezone(UTC).isoformat()


def _hours(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("a number of hours must be a number")
    if not (math.isfinite(value) and 0 <= value <= MAX_HOURS):
        raise ValueError(f"a number of hours must be from 0 to {MAX_HOURS}")
    return float(value)


def diagram_helpers(calendar: Calendar) -> dict[str, Callable[..., str]]:
    """The functions every diagram expression and script may call. Each returns only an ISO 8601 text (an
    aware UTC moment, what a BPMN timeDate wants), never an object: these run outside the sandbox, and what
    they hand back is all diagram code gets to touch."""

    def working_days(n: int) -> str:
        return _iso(calendar.add_working_days(_now(), n))

    def end_of_working_day() -> str:
        return _iso(calendar.end_of_working_day(_now()))

    def hours_from_now(hours: float) -> str:
        return _iso(calendar.add_hours(_now(), _hours(hours)))

    def next_working_day_at(clock: str) -> str:
        return _iso(calendar.next_working_day_at(_now(), _parse_time(str(clock), "a meeting time")))

    def close_of_day(day: str) -> str:
        """The office's close on a given date (a review date, say), in London time whatever the season."""
        try:
            parsed = date.fromisoformat(str(day))
        except ValueError:
            raise ValueError(f"a day must be a date such as 2026-12-01, not {day!r}") from None
        return _iso(calendar._at(parsed, calendar.closes))

    return {
        "working_days": working_days,
        "end_of_working_day": end_of_working_day,
        "hours_from_now": hours_from_now,
        "next_working_day_at": next_working_day_at,
        "close_of_day": close_of_day,
    }
