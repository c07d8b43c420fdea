"""The steering-group figures in a real browser: the service manager opens Figures from the menu, chooses a
quarter, and the charts are drawn (by Chart.js, under the page's Content-Security-Policy) from the same numbers
as the tables; axe-core checks the page and the print view."""

from __future__ import annotations

from typing import Any

import pytest
from figures_data import KNOWN, load_known_cases
from playwright.sync_api import Page, expect
from test_contact_journey import sign_in

pytestmark = pytest.mark.browser


def test_a_manager_reads_the_quarter_and_its_charts(site: str, page: Page, axe: Any) -> None:
    load_known_cases(KNOWN["cases"])
    sign_in(page, site, "demo.service_manager")
    page.get_by_role("link", name="Figures", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Figures for the steering group")
    page.get_by_text("Choose the period").click()
    page.get_by_role("link", name="October to December 2026 (quarter of 2026 to 2027)").click()
    expect(page.locator("#period")).to_have_text("October to December 2026 (quarter of 2026 to 2027)")
    expect(page.locator("#headline")).to_contain_text("61.5% (8 of 13)")
    drawn = page.evaluate(
        """() => [...document.querySelectorAll("canvas[data-series]")].map((canvas) => {
             const chart = Chart.getChart(canvas);
             return chart ? {labels: chart.data.labels, data: chart.data.datasets.map((d) => d.data),
                             height: canvas.height} : null;
           })"""
    )
    by_month, by_source = drawn
    assert by_month["labels"] == ["October 2026", "November 2026", "December 2026"]
    assert by_month["data"] == [[3, 3, 7], [3, 1, 5], [0, 0, 1]]
    assert by_month["height"] > 0
    counted = dict(zip(by_source["labels"], by_source["data"][0], strict=True))
    assert counted["6 Police"] == 3 and counted["2A Schools"] == 3
    axe.check(page, "the steering-group figures with charts")

    page.get_by_role("link", name="Print view").click()
    expect(page.locator("#headline")).to_contain_text("22.2% (2 of 9)")
    axe.check(page, "the figures' print view")
    axe.assert_no_violations()
