"""The working-day calendar (DESIGN.md rule 8): statutory clocks as absolute UTC moments.

Each table row is one situation the front door meets, written in London local time the way a practitioner
would say it, with the UTC moment that is stored. The dates are real: Easter 2027 (Good Friday 26 March,
Easter Monday 29 March) falls next to the spring clock change (28 March 2027), and the clocks go back on
25 October 2026.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app import config
from app.engine.calendar import MAX_WORKING_DAYS, Calendar

LONDON = ZoneInfo("Europe/London")
# The council's own closure days: between Christmas and New Year, 2026.
CHRISTMAS_CLOSURE = frozenset({date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31)})
COUNCIL = Calendar(closure_days=CHRISTMAS_CLOSURE)
DEFAULT = Calendar()


def london(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- Which days are working days ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2027-03-25", True),  # Maundy Thursday is an ordinary day
        ("2027-03-26", False),  # Good Friday
        ("2027-03-29", False),  # Easter Monday
        ("2027-03-30", True),
        ("2026-10-24", False),  # a Saturday
        ("2026-10-25", False),  # a Sunday
        ("2026-08-31", False),  # the late summer bank holiday in England and Wales
        ("2026-08-03", True),  # Scotland's summer bank holiday is not ours
        ("2026-01-02", True),  # nor is Scotland's 2 January
        ("2026-12-28", False),  # Boxing Day falls on a Saturday, so the Monday is the substitute
        ("2026-12-29", False),  # a council closure day
        ("2027-01-04", True),
    ],
)
def test_working_days_are_weekdays_that_are_not_bank_holidays_or_closure_days(day: str, working: bool) -> None:
    assert COUNCIL.is_working_day(date.fromisoformat(day)) is working


def test_closure_days_come_only_from_the_settings() -> None:
    assert not COUNCIL.is_working_day(date(2026, 12, 29))
    assert DEFAULT.is_working_day(date(2026, 12, 29))


def test_a_moment_is_not_taken_for_a_day() -> None:
    # 23:30 UTC on a Sunday is already Monday in summer in London: which day is meant must be said.
    with pytest.raises(TypeError, match="takes a date"):
        COUNCIL.is_working_day(datetime(2026, 10, 25, 23, 30, tzinfo=UTC))


# --- n working days after receipt -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "n", "due_local", "due_utc"),
    [
        pytest.param(
            "2027-03-25 10:00", 1, "2027-03-30 10:00", "2027-03-30 09:00", id="thursday-before-easter-and-clock-change"
        ),
        pytest.param("2026-10-23 16:59", 1, "2026-10-26 16:59", "2026-10-26 16:59", id="friday-1659-to-monday-1659"),
        pytest.param(
            "2026-10-24 23:30", 1, "2026-10-26 17:00", "2026-10-26 17:00", id="saturday-night-the-clocks-go-back"
        ),
        pytest.param("2026-10-16 20:00", 1, "2026-10-19 17:00", "2026-10-19 16:00", id="friday-after-hours"),
        pytest.param("2026-10-16 17:00", 1, "2026-10-19 17:00", "2026-10-19 16:00", id="friday-at-closing-time"),
        pytest.param("2026-10-13 07:30", 1, "2026-10-13 17:00", "2026-10-13 16:00", id="before-opening-same-day"),
        pytest.param("2026-10-13 09:00", 1, "2026-10-13 17:00", "2026-10-13 16:00", id="at-opening-a-whole-day"),
        pytest.param("2026-10-23 09:30", 1, "2026-10-26 09:30", "2026-10-26 09:30", id="same-local-time-after-change"),
        pytest.param("2026-12-24 11:00", 1, "2027-01-04 11:00", "2027-01-04 11:00", id="christmas-eve-closure-days"),
        pytest.param("2026-05-01 14:00", 3, "2026-05-07 14:00", "2026-05-07 13:00", id="escalation-3-over-may-day"),
        pytest.param("2026-10-17 12:00", 0, "2026-10-19 09:00", "2026-10-19 08:00", id="clock-starts-monday-in-bst"),
        pytest.param("2026-10-24 12:00", 0, "2026-10-26 09:00", "2026-10-26 09:00", id="clock-starts-monday-in-gmt"),
    ],
)
def test_working_day_deadlines(received: str, n: int, due_local: str, due_utc: str) -> None:
    due = COUNCIL.add_working_days(london(received), n)
    assert due == utc(due_utc)
    assert due.tzinfo is UTC
    assert due.astimezone(LONDON).replace(tzinfo=None) == datetime.fromisoformat(due_local)


def test_without_closure_days_christmas_eve_is_due_after_the_bank_holidays_only() -> None:
    assert DEFAULT.add_working_days(london("2026-12-24 11:00"), 1) == utc("2026-12-29 11:00")


def test_a_deadline_that_ends_a_whole_day_is_its_close_not_the_next_opening() -> None:
    """Office time from 09:00 Monday to 17:00 Monday equals that to 09:00 Tuesday; the earlier is due."""
    received = london("2026-10-19 09:00")
    assert COUNCIL.add_working_days(received, 2) == london("2026-10-20 17:00")


def test_the_same_answer_for_the_same_moment_in_any_zone() -> None:
    in_london = london("2026-10-23 16:59")
    assert COUNCIL.add_working_days(in_london.astimezone(UTC), 1) == COUNCIL.add_working_days(in_london, 1)


@pytest.mark.parametrize("n", [-1, 1.5, True, "1", MAX_WORKING_DAYS + 1])
def test_a_count_of_working_days_must_be_a_small_whole_number(n: object) -> None:
    with pytest.raises(ValueError, match="whole number"):
        COUNCIL.add_working_days(london("2026-10-13 10:00"), n)  # type: ignore[arg-type]


def test_a_naive_moment_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="time zone"):
        COUNCIL.add_working_days(datetime(2026, 10, 13, 10, 0), 1)


# --- The end of the working day ("the same day") ----------------------------------------------------


@pytest.mark.parametrize(
    ("received", "due_local", "due_utc"),
    [
        pytest.param("2026-10-13 10:00", "2026-10-13 17:00", "2026-10-13 16:00", id="during-the-day"),
        pytest.param("2026-10-13 07:00", "2026-10-13 17:00", "2026-10-13 16:00", id="before-opening"),
        pytest.param("2026-10-13 17:00", "2026-10-14 17:00", "2026-10-14 16:00", id="at-closing-time"),
        pytest.param("2026-10-13 18:30", "2026-10-14 17:00", "2026-10-14 16:00", id="after-hours"),
        pytest.param("2026-10-23 18:00", "2026-10-26 17:00", "2026-10-26 17:00", id="friday-night-clocks-go-back"),
        pytest.param("2027-03-26 10:00", "2027-03-30 17:00", "2027-03-30 16:00", id="good-friday"),
        pytest.param("2026-12-29 10:00", "2027-01-04 17:00", "2027-01-04 17:00", id="closure-day"),
    ],
)
def test_end_of_working_day(received: str, due_local: str, due_utc: str) -> None:
    due = COUNCIL.end_of_working_day(london(received))
    assert due == utc(due_utc)
    assert due.astimezone(LONDON).replace(tzinfo=None) == datetime.fromisoformat(due_local)


# --- Elapsed clocks -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "hours", "due_utc", "wall_clock_hours"),
    [
        # 00:30 GMT on the night the clocks go forward: two real hours later the wall clock says 03:30.
        pytest.param("2027-03-28 00:30", 2, "2027-03-28 02:30", 3, id="spring-forward"),
        # 00:30 BST on the night they go back: two real hours later the wall clock says 01:30.
        pytest.param("2026-10-25 00:30", 2, "2026-10-25 01:30", 1, id="autumn-back"),
        pytest.param("2026-10-13 16:00", 4, "2026-10-13 19:00", 4, id="after-hours-still-counts"),
        pytest.param("2026-10-13 16:00", 0.5, "2026-10-13 15:30", 0.5, id="half-an-hour"),
    ],
)
def test_elapsed_hours_stay_elapsed_across_clock_changes(
    received: str, hours: float, due_utc: str, wall_clock_hours: float
) -> None:
    start = london(received)
    due = Calendar.add_hours(start, hours)
    assert due == utc(due_utc)
    assert due - start == timedelta(hours=hours)
    wall_clock = due.astimezone(LONDON).replace(tzinfo=None) - start.replace(tzinfo=None)
    assert wall_clock == timedelta(hours=wall_clock_hours)


# --- Settings -------------------------------------------------------------------------------------


def test_the_calendar_is_built_from_the_settings() -> None:
    calendar = Calendar.from_settings(
        {"OFFICE_OPENS": "08:30", "OFFICE_CLOSES": "16:30", "CLOSURE_DAYS": ["2026-12-29", "2026-12-30"]}
    )
    assert (calendar.opens, calendar.closes) == (time(8, 30), time(16, 30))
    assert calendar.closure_days == {date(2026, 12, 29), date(2026, 12, 30)}
    # 16:45 is after hours in this office, so the clock starts at Wednesday's opening.
    assert calendar.add_working_days(london("2026-10-13 16:45"), 1) == london("2026-10-14 16:30")


def test_missing_settings_mean_nine_to_five_and_no_closure_days() -> None:
    assert Calendar.from_settings({}) == Calendar()
    assert (Calendar().opens, Calendar().closes) == (time(9), time(17))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"OFFICE_OPENS": "17:00", "OFFICE_CLOSES": "09:00"}, "open before it closes"),
        ({"OFFICE_OPENS": "nine"}, "OFFICE_OPENS must be a time"),
        ({"CLOSURE_DAYS": ["2026-12-32"]}, "day is out of range"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Calendar.from_settings(settings)


def test_closure_days_are_read_from_the_environment_as_comma_separated_dates() -> None:
    assert config.closure_days("2026-12-29, 2026-12-30,") == ["2026-12-29", "2026-12-30"]
    assert config.closure_days("") == []
    with pytest.raises(RuntimeError, match="COMPASS_CLOSURE_DAYS: '29/12/2026' is not a date"):
        config.closure_days("2026-12-28,29/12/2026")


def test_from_environment_gives_the_calendar_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Both set, so that reading the settings writes nothing to the instance folder.
    monkeypatch.setenv("SECRET_KEY", "calendar-test")
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    monkeypatch.setenv("COMPASS_CLOSURE_DAYS", "2026-12-29,2026-12-30")
    settings = config.from_environment()
    calendar = Calendar.from_settings(settings)
    assert calendar == Calendar(closure_days=frozenset({date(2026, 12, 29), date(2026, 12, 30)}))


@pytest.mark.parametrize(
    ("now_local", "meeting_local"),
    [
        ("2026-11-24 09:59", "2026-11-24 10:00"),  # before today's meeting: today's
        ("2026-11-24 10:00", "2026-11-25 10:00"),  # it has begun: the next working day's
        ("2026-11-27 16:00", "2026-11-30 10:00"),  # Friday afternoon: Monday's
        ("2026-12-24 11:00", "2026-12-29 10:00"),  # Christmas Eve, after the meeting: past the bank holidays
        ("2027-03-27 22:00", "2027-03-30 10:00"),  # Easter Saturday night, before the clocks go forward
    ],
)
def test_the_next_daily_meeting(now_local: str, meeting_local: str) -> None:
    now = datetime.fromisoformat(now_local).replace(tzinfo=LONDON)
    meeting = DEFAULT.next_working_day_at(now, time(10, 0))
    assert meeting.astimezone(LONDON).strftime("%Y-%m-%d %H:%M") == meeting_local
    assert meeting.tzinfo == UTC
