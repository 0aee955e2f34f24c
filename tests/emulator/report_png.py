"""Regenerate docs/report.png: campaigns of three partners in three currencies go through the relay's
mapping into a local emulator, `postback-relay report --html` writes its page, and Debian's chromium
screenshots it. `make report-png` (or `python -m tests.emulator.report_png docs/report.png`)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tempfile
from pathlib import Path

from postback_relay_tools.emulator import AmplitudeEmulator, EmulatorSettings
from tests.emulator import report_browser
from tests.emulator.conftest import KEY, SECRET, Clock
from tests.emulator.report_loop import Loop, day_ms

START, DAYS = dt.date(2026, 4, 1), 14
CAMPAIGNS = {
    "AppsFlyer": ("PB_DE_Prospecting", "PB_FR_Prospecting", "PB_ES_Retargeting", "PB_IT_Lookalike", None),
    "Adjust": ("spring_sale_jp", "rewarded_video_jp", "search_brand_jp", None),
    "Branch": ("referral_us", "email_winback_us"),
}
CURRENCY = {"AppsFlyer": ("EUR", "4.99"), "Adjust": ("JPY", "1200"), "Branch": ("USD", "19.99")}


def seed(loop: Loop) -> None:
    user = 0
    for partner, campaigns in CAMPAIGNS.items():
        currency, price = CURRENCY[partner]
        for day in range(DAYS):
            for n, campaign in enumerate(campaigns):
                for _ in range((day + 3 * n) % 4 + (2 if campaign is None else 0)):
                    user += 1
                    installed = START + dt.timedelta(days=day)
                    loop.install(partner, user, campaign, installed)
                    if user % 2:
                        loop.sdk(user, installed + dt.timedelta(days=1))
                    if user % 5 == 0:
                        loop.sdk(user, installed + dt.timedelta(days=7))
                    if user % 3 == 0:
                        loop.purchase(partner, user, price, currency, installed + dt.timedelta(days=1))


def main(target: str) -> int:
    why = report_browser.missing()
    if why is not None:
        print(f"error: {why}", file=sys.stderr)
        return 2
    end = START + dt.timedelta(days=DAYS - 1)
    clock = Clock(day_ms(end + dt.timedelta(days=10)) / 1000)
    # The picture is of the page, not of the budget: this emulator does not make the report wait.
    settings = EmulatorSettings(cost_per_5_minutes=1_000_000, cost_per_hour=10_000_000)
    with AmplitudeEmulator(api_key=KEY, secret_key=SECRET, clock=clock, settings=settings) as emulator:
        loop = Loop(emulator)
        seed(loop)
        loop.close()
        with tempfile.TemporaryDirectory() as folder:
            page_path = Path(folder) / "report.html"
            subprocess.run(  # noqa: S603 - our own CLI
                [
                    sys.executable,
                    "-m",
                    "postback_relay_tools.cli",
                    "report",
                    "--start",
                    START.strftime("%Y%m%d"),
                    "--end",
                    end.strftime("%Y%m%d"),
                    "--dashboard-url",
                    f"{emulator.url}/api/2",
                    "--api-key",
                    KEY,
                    "--secret-key",
                    SECRET,
                    "--html",
                    str(page_path),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            with report_browser.page(width=980, height=900) as page:
                page.goto(page_path.as_uri())
                page.screenshot(path=target, full_page=True)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/report.png"))
