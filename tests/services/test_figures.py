"""The steering-group figures against a known set of contacts whose every figure was worked out by hand
(figures_cases.json, following docs/figures.md), and against a case that went through the real flows."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
import time_machine
from figures_data import KNOWN, KNOWN_PERIOD, load_known_cases, moment
from flows import run_scenario
from sqlalchemy import select
from support import SCENARIO_START

from app.extensions import db
from app.models import Referral
from app.services import figures, periods


@pytest.fixture
def known(fresh) -> figures.Figures:
    load_known_cases(KNOWN["cases"])
    return figures.compute(KNOWN_PERIOD, now=moment(KNOWN["now"]))


EXPECTED = KNOWN["expected"]


def test_contacts_count_each_child_and_leave_out_voided_contacts_and_information_requests(known) -> None:
    assert known.contacts == EXPECTED["contacts"]
    assert known.contact_records == EXPECTED["contact_records"]


def test_referrals_count_by_the_day_they_were_accepted(known) -> None:
    assert known.referrals == EXPECTED["referrals"]


def test_strategy_discussions_count_those_held(known) -> None:
    assert known.strategy_discussions == EXPECTED["strategy_discussions"]


def test_contacts_by_source_in_census_codes(known) -> None:
    counted = {part.key: part.count for part in known.by_source if part.count}
    assert counted == EXPECTED["contacts_by_source"]


def test_contacts_by_outcome_with_the_children_not_decided_yet(known) -> None:
    counted = {part.key: part.count for part in known.by_outcome if part.count}
    assert counted == EXPECTED["contacts_by_outcome"]


def test_conversion_to_referral(known) -> None:
    assert [known.conversion.numerator, known.conversion.denominator] == EXPECTED["conversion_to_referral"]


def test_decisions_within_one_working_day_leave_out_a_referral_still_inside_its_day(known) -> None:
    share = known.within_one_working_day
    assert [share.numerator, share.denominator] == EXPECTED["referral_decisions_within_one_working_day"]


def test_re_referrals_within_twelve_months(known) -> None:
    share = known.re_referrals
    assert [share.numerator, share.denominator] == EXPECTED["re_referrals_within_12_months"]


def test_multi_agency_triage_outcomes(known) -> None:
    assert {part.key: part.count for part in known.mat_outcomes} == EXPECTED["mat_outcomes"]


def test_domestic_abuse_triage_by_level(known) -> None:
    assert {part.key: part.count for part in known.da_levels} == EXPECTED["da_triage_levels"]


def test_per_agency(known) -> None:
    assert {a.code: [a.contacts, a.referrals] for a in known.per_agency} == EXPECTED["per_agency"]


def test_by_month(known) -> None:
    counted = {m.title: [m.contacts, m.referrals, m.strategy_discussions] for m in known.by_month}
    assert counted == EXPECTED["by_month"]


def test_the_csv_rows_carry_every_figure(known) -> None:
    rows = figures.as_rows(known)
    assert rows[0] == ["measure", "part", "numerator", "denominator", "value"]
    by_measure = {(r[0], r[1]): r[2:] for r in rows[1:]}
    assert by_measure[("contacts", "")] == [13, "", 13]
    assert by_measure[("referral_decisions_within_one_working_day", "")] == [5, 8, 62.5]
    assert by_measure[("re_referrals_within_12_months", "")] == [2, 9, 22.2]
    assert by_measure[("da_triage_levels", "Level 4: child in need or child protection")] == [1, "", 1]


def test_a_significant_harm_referral_through_the_real_flow_is_decided_as_it_is_accepted(fresh) -> None:
    """A contact about a child at risk of significant harm, through the initial contact's own steps: its
    referral is accepted and decided (a strategy discussion) in one moment, inside the working day."""
    scenario = json.loads(
        Path("processes/initial_contact/scenarios/s47_strategy_discussion.json").read_text(encoding="utf-8")
    )
    run_scenario(scenario)
    referral = db.session.scalar(select(Referral))
    assert referral.outcome == "strategy_discussion"
    assert referral.outcome_at == referral.accepted_at
    with time_machine.travel(SCENARIO_START.replace(day=28), tick=False):
        found = figures.compute(figures.quarter_of(SCENARIO_START.date()))
    assert (found.referrals, found.contacts) == (1, 1)
    assert (found.within_one_working_day.numerator, found.within_one_working_day.denominator) == (1, 1)
    assert (found.conversion.numerator, found.conversion.denominator) == (1, 1)


@pytest.mark.parametrize(
    ("day", "first", "last"),
    [
        (date(2026, 11, 26), date(2026, 10, 1), date(2026, 12, 31)),
        (date(2027, 3, 31), date(2027, 1, 1), date(2027, 3, 31)),
        (date(2026, 4, 1), date(2026, 4, 1), date(2026, 6, 30)),
        (date(2026, 9, 30), date(2026, 7, 1), date(2026, 9, 30)),
    ],
)
def test_the_quarter_holding_a_day(day: date, first: date, last: date) -> None:
    assert figures.quarter_of(day) == figures.Period(first, last)


def test_a_day_belongs_to_the_period_by_london_time() -> None:
    october = figures.Period(date(2026, 10, 1), date(2026, 10, 31))
    # Summer time on 1 October: the day starts at 23:00 UTC the evening before; winter on 31 October ends at midnight.
    assert october.starts == datetime.fromisoformat("2026-09-30T23:00:00+00:00")
    assert october.ends == datetime.fromisoformat("2026-11-01T00:00:00+00:00")


def test_recent_quarters_are_this_financial_year_and_the_last_up_to_today() -> None:
    found = figures.recent_quarters(date(2026, 11, 26))
    assert [q.first for q in found] == [
        date(2026, 10, 1),
        date(2026, 7, 1),
        date(2026, 4, 1),
        date(2026, 1, 1),
        date(2025, 10, 1),
        date(2025, 7, 1),
        date(2025, 4, 1),
    ]


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"from": "2026-13-01", "to": "2026-12-31"}, "from", "The date the period starts must be a real date"),
        ({"from-day": "31", "from-month": "2", "from-year": "2026", "to": "2026-12-31"}, "from", "real date"),
        ({"from": "2026-12-01", "to": "2026-11-01"}, "to", "same as or after the date it starts"),
        ({"from": "2026-12-01"}, "to", "Enter the date the period ends"),
        ({"from": "1900-01-01", "to": "2026-11-01"}, "from", "between 2000 and 2100"),
        ({"from": "2010-01-01", "to": "2026-11-01"}, "to", "six years or shorter"),
        ({"from-day": "x", "from-month": "1", "from-year": "2026", "to": "2026-11-01"}, "from", "real date"),
    ],
)
def test_a_period_that_is_not_one_is_refused_in_words(values: dict[str, str], field: str, message: str) -> None:
    with pytest.raises(periods.PeriodInvalid) as refused:
        figures.period_from(values, date(2026, 11, 26))
    assert message in refused.value.errors[field]


def test_no_dates_means_the_quarter_holding_today() -> None:
    assert figures.period_from({}, date(2026, 11, 26)) == figures.Period(date(2026, 10, 1), date(2026, 12, 31))
    assert figures.period_from(
        {"from-day": "1", "from-month": "4", "from-year": "2026", "to": "2027-03-31"}, date(2026, 11, 26)
    ) == figures.Period(date(2026, 4, 1), date(2027, 3, 31))
