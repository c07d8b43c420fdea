"""The figures pages: the quarter's figures for a manager, any range of dates, bad dates refused in words with
what was typed kept, the print view and the CSV, worked out from the known set of contacts."""

from __future__ import annotations

import csv
import io
import re

import pytest
import time_machine
from figures_data import KNOWN, load_known_cases, moment

QUARTER = "/figures?from=2026-10-01&to=2026-12-31"


@pytest.fixture
def manager(web):
    load_known_cases(KNOWN["cases"])
    with time_machine.travel(moment(KNOWN["now"]), tick=False):
        yield web.login("service_manager")


def _headline(page: str) -> dict[str, str]:
    block = page[page.index('id="headline"') :]
    block = block[: block.index("</dl>")]
    keys = re.findall(r'summary-list__key">([^<]+)<', block)
    values = re.findall(r'summary-list__value">([^<]+)<', block)
    return dict(zip(keys, values, strict=True))


def test_the_quarter_shows_each_figure_worked_out_by_hand(manager) -> None:
    page = manager.get(QUARTER)
    assert "October to December 2026 (quarter of 2026 to 2027)" in page
    assert _headline(page) == {
        "Contacts (children)": "13",
        "Contact records": "11",
        "Referrals (children)": "9",
        "Strategy discussions": "1",
        "Conversion to referral": "61.5% (8 of 13)",
        "Referral decisions within one working day": "62.5% (5 of 8)",
        "Re-referrals within 12 months": "22.2% (2 of 9)",
    }
    by_month = page[page.index('id="by-month"') :]
    assert re.search(r"December 2026</th>\s*<td[^>]*>7</td>\s*<td[^>]*>5</td>\s*<td[^>]*>1</td>", by_month)
    # The charts carry the same numbers, for the script to draw.
    assert "data-series=" in page and "chart.umd.min.js" in page


def test_a_team_manager_sees_them_too_and_nobody_is_named(web) -> None:
    load_known_cases(KNOWN["cases"])
    page = web.login("team_manager").get(QUARTER)
    assert "Contacts (children)" in page
    assert "Child A" not in page and "FIG-001" not in page


def test_no_dates_means_this_quarter(manager) -> None:
    page = manager.get("/figures")
    assert "October to December 2026" in page
    # The boxes hold the quarter's dates, to change by hand.
    assert 'name="from-day" type="text" value="1"' in page or re.search(r'name="from-day"[^>]*value="1"', page)


def test_a_range_typed_in_the_boxes(manager) -> None:
    page = manager.get("/figures?from-day=1&from-month=11&from-year=2026&to-day=30&to-month=11&to-year=2026")
    assert "1 November 2026 to 30 November 2026" in page
    assert _headline(page)["Contacts (children)"] == "3"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "from-day=31&from-month=2&from-year=2026&to-day=1&to-month=3&to-year=2026",
            "The date the period starts must be a real date",
        ),
        (
            "from-day=1&from-month=3&from-year=2026&to-day=1&to-month=2&to-year=2026",
            "must be the same as or after the date it starts",
        ),
        (
            "from-day=1&from-month=1&from-year=" + "9" * 40 + "&to=2026-01-01",
            "The year the period starts must include 4 numbers",
        ),
        ("from=2026-01-01", "Enter the date the period ends"),
    ],
)
def test_a_bad_period_is_refused_in_words_with_the_input_kept(manager, query: str, message: str) -> None:
    page = manager.get(f"/figures?{query}", expect=400)
    assert "There is a problem" in page
    assert message in page
    assert "Contacts (children)</dt>" not in page
    if "from-month=3" in query:
        assert re.search(r'name="from-month"[^>]*value="3"', page)


def test_the_print_view_has_the_tables_without_the_charts(manager) -> None:
    page = manager.get("/figures/print?from=2026-10-01&to=2026-12-31")
    assert _headline(page)["Referrals (children)"] == "9"
    assert "<canvas" not in page and "chart.umd.min.js" not in page


def test_the_csv_has_one_row_per_figure_and_part(manager) -> None:
    response = manager.client.get("/figures/export.csv?from=2026-10-01&to=2026-12-31")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert 'filename="compass-figures-2026-10-01-to-2026-12-31.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["measure", "part", "numerator", "denominator", "value"]
    assert ["conversion_to_referral", "", "8", "13", "61.5"] in rows
    assert ["contacts_by_source", "6 Police", "3", "", "3"] in rows
    assert ["mat_outcomes", "Further agency checks", "1", "", "1"] in rows
    assert ["referrals_by_month", "October 2026", "3", "", "3"] in rows


def test_the_csv_and_print_view_refuse_a_bad_period_in_words(manager) -> None:
    assert "must be a real date" in manager.get("/figures/export.csv?from=2026-02-31&to=2026-03-01", expect=400)
    assert "must be a real date" in manager.get("/figures/print?from=2026-02-31&to=2026-03-01", expect=400)
