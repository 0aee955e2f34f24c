"""The report's HTML page in a real browser (Debian's chromium): with many campaigns and a month of
days no two axis labels touch, every chart has axis titles, counts tick in whole numbers, shares are
percentages, money names its currency. Skipped without chromium, except in CI (CI is set), where a
missing browser is a failure."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import pytest

from postback_relay_tools.report import NO_CURRENCY, CampaignRow, Report, to_html
from tests.emulator import report_browser

pytestmark = pytest.mark.slow  # a local stack, servers or many moto calls: not in make test-quick

START = dt.date(2026, 4, 1)


def month_of_campaigns() -> Report:
    days = [START + dt.timedelta(days=n) for n in range(30)]
    rows = [
        CampaignRow(
            "AppsFlyer",
            f"PB_{country}_Prospecting_Lookalike_{n}",
            40 + 7 * n,
            20 + n,
            40 + 7 * n,
            5 + n,
            40 + 7 * n,
            {"EUR": 120.5 + n, "USD": 80.0 * n},
        )
        for n, country in enumerate(("DE", "FR", "ES", "IT", "NL", "PL", "SE", "AT", "BE", "CH"))
    ]
    rows += [
        CampaignRow("Adjust", "spring", 55, 30, 55, 10, 50, {"JPY": 120_000.0}),
        CampaignRow("Adjust", "organic", 300, 120, 300, 40, 280, {"JPY": 3_000.0, NO_CURRENCY: 9.99}),
        CampaignRow("Branch", "summer", 12, 3, 12, 1, 12, {}),
    ]
    daily = {
        "AppsFlyer": [(n * 7) % 23 + 5 for n in range(30)],
        "Adjust": [(n * 5) % 17 + 3 for n in range(30)],
        "Branch": [n % 3 for n in range(30)],
    }
    return Report(START, days[-1], rows, days, daily, cost=14_701, queries=22)


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory: pytest.TempPathFactory) -> Any:
    why = report_browser.missing()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and the report page cannot be checked: {why}")
        pytest.skip(why)
    path = Path(tmp_path_factory.mktemp("page")) / "report.html"
    path.write_text(to_html(month_of_campaigns()))
    with report_browser.page() as page:
        page.goto(path.as_uri())
        yield page


def boxes(page: Any, selector: str) -> list[dict[str, float]]:
    return [b for b in (e.bounding_box() for e in page.query_selector_all(selector)) if b is not None]


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and (b["y"] < a["y"] + a["height"])
    )


CHARTS = ("daily-installs", "installs-by-campaign", "retention-by-campaign", "revenue-eur", "revenue-jpy")


@pytest.mark.parametrize("chart", CHARTS)
def test_no_two_axis_labels_touch(browser_page: Any, chart: str) -> None:
    for axis in ("x-axis", "y-axis"):
        labels = boxes(browser_page, f"#{chart} .{axis} text")
        assert labels, (chart, axis)
        for n, a in enumerate(labels):
            for b in labels[n + 1 :]:
                assert not overlap(a, b), (chart, axis, a, b)


@pytest.mark.parametrize("chart", CHARTS)
def test_every_chart_titles_its_axes_and_stays_on_the_page(browser_page: Any, chart: str) -> None:
    titles = [e.text_content() for e in browser_page.query_selector_all(f"#{chart} .axis-title")]
    assert titles
    assert all(titles)
    svg = browser_page.query_selector(f"#{chart}").bounding_box()
    for label in boxes(browser_page, f"#{chart} text"):
        assert svg["x"] - 1 <= label["x"]
        assert label["x"] + label["width"] <= svg["x"] + svg["width"] + 1


def test_counts_tick_in_whole_numbers_and_shares_in_percent(browser_page: Any) -> None:
    def ticks(chart: str, axis: str) -> list[str]:
        return [e.text_content() or "" for e in browser_page.query_selector_all(f"#{chart} .{axis} .tick")]

    assert all(re.fullmatch(r"[\d,]+", t) for t in ticks("daily-installs", "y-axis"))
    assert all(re.fullmatch(r"[\d,]+", t) for t in ticks("installs-by-campaign", "x-axis"))
    assert ticks("retention-by-campaign", "x-axis") == ["0%", "20%", "40%", "60%", "80%", "100%"]
    # a month of days: labelled, but not every one of them
    assert 5 <= len(ticks("daily-installs", "x-axis")) < 30


def test_money_names_its_currency_and_organic_is_named(browser_page: Any) -> None:
    text = browser_page.inner_text("body")
    for currency in ("EUR", "JPY", "USD", "unspecified currency"):
        assert f"Revenue ({currency})" in text
    assert "Revenue (JPY)" in (browser_page.query_selector("#revenue-jpy .axis-title").text_content() or "")
    assert "organic" in text
    assert "(none)" not in text
    headers = [e.text_content() for e in browser_page.query_selector_all("thead th")]
    assert headers[:5] == ["Partner", "Campaign", "Installs", "Day-1 retention", "Day-7 retention"]
    assert "retained_d1" not in text
    # the totals: (40 + 47 + … + 103) + 55 + 300 + 12 installs
    assert "1,082" in browser_page.inner_text(".totals")


def test_the_page_needs_nothing_from_the_network(browser_page: Any) -> None:
    assert browser_page.evaluate("performance.getEntriesByType('resource').length") == 0
