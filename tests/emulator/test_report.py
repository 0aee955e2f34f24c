"""`postback-relay report` against the emulator: postbacks with known revenue in several currencies go
through the relay's mapping and Amplitude client, the app's sessions to /2/httpapi, and every
partner / campaign / currency cell of the report is checked. A month with seven partners runs within
Amplitude's query budget on a driven clock."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from postback_relay_tools.dashboard import DashboardClient, DashboardError, QueryBudget
from postback_relay_tools.emulator import AmplitudeEmulator
from postback_relay_tools.report import Report, build_report, partner_queries, select_partners, to_csv, to_table
from tests.emulator.conftest import KEY, SECRET, Clock, make_emulator
from tests.emulator.report_loop import Loop, day_ms

pytestmark = pytest.mark.slow  # a local stack, servers or many moto calls: not in make test-quick

START = dt.date(2026, 3, 2)
END = START + dt.timedelta(days=6)


def d(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


class CountingClient(DashboardClient):
    """The report's client, counting what Amplitude refused."""

    refused = 0

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        try:
            return super().get(path, **params)
        except DashboardError as error:
            self.refused += error.status == 429
            raise


def seed_week(loop: Loop) -> None:
    af, adjust = "AppsFlyer", "Adjust"
    loop.install(af, 1, "alpha", d(0))
    loop.purchase(af, 1, "4.99", "EUR", d(1))
    loop.purchase(af, 1, "19.99", "USD", d(2))
    loop.sdk(1, d(7))  # day 7
    loop.purchase(af, 1, "100.00", "USD", END + dt.timedelta(days=2))  # after the end day: not counted
    loop.install(af, 2, "alpha", d(1))
    loop.sdk(2, d(2))
    loop.install(af, 3, "beta", d(2))
    loop.purchase(af, 3, "9.99", "EUR", d(3))  # a purchase on day 1 is activity on day 1
    loop.install(af, 4, None, d(0))  # AppsFlyer says: organic
    loop.purchase(af, 4, "2.00", "USD", d(0))
    loop.sdk(4, d(7))
    loop.install(adjust, 5, "spring", d(0))
    loop.purchase(adjust, 5, "1200", "JPY", d(1))
    loop.install(adjust, 6, "spring", d(3))
    loop.install("Branch", 7, "summer", d(1))
    loop.purchase("Branch", 7, "29.99", "USD", d(4))
    loop.install("Kochava", 8, "kc", d(2))
    loop.purchase("Kochava", 8, "5.00", "GBP", d(2))
    loop.install("Singular", 9, "sg", d(5))
    loop.sdk(9, d(6))
    loop.install("Tenjin", 10, "tj", d(4))
    loop.purchase("Tenjin", 10, "3.50", "EUR", d(5))
    loop.install("Tenjin", 11, "tj", d(-3))  # installed before the range: not in its cohort
    loop.purchase("Tenjin", 11, "7.00", "EUR", d(1))
    # A user no partner attributed, paying through the SDK: in no partner's row.
    loop.sdk(12, d(1), event_type="purchase", price=50.0, quantity=1, revenue=50.0, currency="USD")


@pytest.fixture
def week() -> Iterator[tuple[AmplitudeEmulator, Clock]]:
    clock = Clock(day_ms(END + dt.timedelta(days=12)) / 1000)  # day 7 of every cohort is known
    emulator = make_emulator(clock).start()
    loop = Loop(emulator)
    try:
        seed_week(loop)
        yield emulator, clock
    finally:
        loop.close()
        emulator.close()


def run_report(emulator: AmplitudeEmulator, clock: Clock, start: dt.date, end: dt.date, **kwargs: Any) -> Any:
    client = CountingClient(f"{emulator.url}/api/2", KEY, SECRET)
    waits: list[float] = []
    budget = QueryBudget(clock=clock, sleep=clock.advance, on_wait=lambda s, _why: waits.append(s))
    report = build_report(client, start, end, budget=budget, **kwargs)
    return report, client.refused, waits


def cells(report: Report) -> dict[tuple[str, str], tuple[int, str, str, dict[str, float]]]:
    return {
        (r.partner, r.campaign): (
            r.installs,
            f"{r.retained_d1}/{r.measured_d1}",
            f"{r.retained_d7}/{r.measured_d7}",
            r.revenue,
        )
        for r in report.rows
    }


def test_every_cell_counts_only_the_partners_users_their_cohort_and_each_currency_apart(
    week: tuple[AmplitudeEmulator, Clock],
) -> None:
    emulator, clock = week
    report, refused, waits = run_report(emulator, clock, START, END)
    assert cells(report) == {
        ("Adjust", "spring"): (2, "1/2", "0/2", {"JPY": 1200.0}),
        ("AppsFlyer", "alpha"): (2, "2/2", "1/2", {"EUR": 4.99, "USD": 19.99}),
        ("AppsFlyer", "beta"): (1, "1/1", "0/1", {"EUR": 9.99}),
        ("AppsFlyer", "organic"): (1, "0/1", "1/1", {"USD": 2.0}),
        ("Branch", "summer"): (1, "0/1", "0/1", {"USD": 29.99}),
        ("Kochava", "kc"): (1, "0/1", "0/1", {"GBP": 5.0}),
        ("Singular", "sg"): (1, "1/1", "0/1", {}),
        ("Tenjin", "tj"): (1, "1/1", "0/1", {"EUR": 3.5}),
    }
    assert report.currencies == ["EUR", "GBP", "JPY", "USD"]
    total = report.totals()
    assert (total.installs, total.revenue) == (10, {"JPY": 1200.0, "EUR": 18.48, "USD": 51.98, "GBP": 5.0})
    assert (total.d1_share, total.d7_share) == (0.6, 0.2)
    # Seven days of six partners cost more than one budget window: the report waited, it did not fail.
    assert report.cost == 1 + 6 * 7 * (40 + 30)
    assert refused == 1
    assert waits
    assert report.daily_installs["AppsFlyer"] == [2, 1, 1, 0, 0, 0, 0]

    table = to_table(report)
    assert re.search(r"AppsFlyer +organic", table)
    assert "Revenue (JPY)" in table
    assert "1,200.00" in table
    assert "Day-1 retention" in table
    assert "100.0%" in table
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    alpha = next(r for r in rows if r["campaign"] == "alpha")
    assert alpha == {
        "partner": "AppsFlyer",
        "campaign": "alpha",
        "installs": "2",
        "retained_d1": "2",
        "measured_d1": "2",
        "retention_d1": "1.0000",
        "retained_d7": "1",
        "measured_d7": "2",
        "retention_d7": "0.5000",
        "revenue_EUR": "4.99",
        "revenue_GBP": "0.00",
        "revenue_JPY": "0.00",
        "revenue_USD": "19.99",
    }


def test_partner_filter_asks_only_for_that_partner(week: tuple[AmplitudeEmulator, Clock]) -> None:
    emulator, clock = week
    only = select_partners(partner_queries(), ["adjust"])
    report, refused, waits = run_report(emulator, clock, START, END, partners=only)
    assert {r.partner for r in report.rows} == {"Adjust"}
    assert (report.queries, report.cost, refused, waits) == (3, 1 + 7 * (40 + 30), 0, [])
    with pytest.raises(ValueError, match="unknown partner 'nope': known partners are Adjust, AppsFlyer"):
        select_partners(partner_queries(), ["nope"])


SEVEN = ("AppsFlyer", "Adjust", "Branch", "Kochava", "Singular", "Tenjin", "Tracker")


def test_a_month_of_seven_partners_fits_the_budget_by_waiting_for_it() -> None:
    start, end = dt.date(2026, 4, 1), dt.date(2026, 4, 30)
    clock = Clock(day_ms(end + dt.timedelta(days=10)) / 1000)
    with make_emulator(clock) as emulator:
        loop = Loop(emulator)
        user = 100
        for n, partner in enumerate(SEVEN):
            for day in range(0, 30, 3):  # ten installs a partner, across the month
                user += 1
                loop.install(partner, user, f"{partner.lower()}-{day % 2}", start + dt.timedelta(days=day))
                loop.purchase(partner, user, f"{n + 1}.00", "USD", start + dt.timedelta(days=day + 1))
        loop.close()
        report, refused, waits = run_report(emulator, clock, start, end)
    assert {r.partner for r in report.rows} == set(SEVEN)
    for partner in SEVEN:
        rows = [r for r in report.rows if r.partner == partner]
        assert sum(r.installs for r in rows) == 10
        assert sum(r.revenue.get("USD", 0.0) for r in rows) == pytest.approx(10 * (SEVEN.index(partner) + 1))
    # Each 30-day retention query would cost 1,200: it was split in two; revenue (900) went in one.
    assert report.queries == 1 + 7 * 3
    assert report.cost == 1 + 7 * (2 * 15 * 40 + 30 * 30)
    # One refusal taught the report Amplitude's window; after that it paced itself.
    assert refused == 1
    assert sum(waits) >= (report.cost // 1000 - 1) * 300 * 0.9


def test_a_query_over_amplitudes_cost_limit_is_never_sent() -> None:
    budget = QueryBudget(clock=Clock(), sleep=lambda _s: pytest.fail("no wait expected"))
    with pytest.raises(DashboardError, match="one query would cost 1200, over Amplitude's limit of 1000"):
        budget.run(1200, lambda: pytest.fail("not sent"))


# ------------------------------------------------------------------------------------------- the CLI


def cli(emulator: AmplitudeEmulator, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI
        [
            sys.executable,
            "-m",
            "postback_relay_tools.cli",
            "report",
            "--dashboard-url",
            f"{emulator.url}/api/2",
            "--api-key",
            KEY,
            "--secret-key",
            SECRET,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_writes_table_csv_and_a_self_contained_page(week: tuple[AmplitudeEmulator, Clock], tmp_path: Path) -> None:
    emulator, _ = week
    page, table = tmp_path / "report.html", tmp_path / "report.csv"
    done = cli(
        emulator,
        "--start",
        "20260302",
        "--end",
        "20260308",
        "--partner",
        "appsflyer",
        "--html",
        str(page),
        "--csv",
        str(table),
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"AppsFlyer +alpha", done.stdout)
    assert "organic" in done.stdout
    assert "at most 3 queries, cost up to 491" in done.stderr
    assert [r["campaign"] for r in csv.DictReader(io.StringIO(table.read_text()))] == ["alpha", "beta", "organic"]
    html = page.read_text()
    assert "<svg" in html
    assert "Revenue (EUR)" in html
    assert "organic" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--start", "20260302", "--end", "20260301"), "error: --end is before --start"),
        (("--start", "2026-03-02", "--end", "20260308"), "error: --start and --end are YYYYMMDD"),
        (("--start", "20260302", "--end", "20260308", "--partner", "Nope"), "error: unknown partner 'Nope'"),
    ],
)
def test_cli_refuses_bad_input_in_one_line(emu: AmplitudeEmulator, args: tuple[str, ...], message: str) -> None:
    done = cli(emu, *args)
    assert done.returncode == 2
    assert done.stderr.startswith(message)
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
