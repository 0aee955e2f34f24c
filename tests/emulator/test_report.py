"""`postback-relay report` over the local loop: partner postbacks through the relay, SDK events to
the emulator, then installs, day-1/7 retention and revenue per partner and campaign."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from postback_relay.local.stack import LOCAL_AMPLITUDE_KEY, LocalStack
from tests.conftest import ROOT, TOKEN, fixture_json

INSTALL_MS = 1_773_480_413_589  # 2026-03-14 09:26:53.589 UTC, the fixture's install time
DAY_MS = 86_400_000
_STACK_VARIABLES = ("AWS_ENDPOINT_URL", "AMPLITUDE_API_KEY", "AMPLITUDE_SECRET_KEY", "AMPLITUDE_API_URL")


@pytest.fixture(scope="module")
def campaigns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, Path]]:
    state = Path(tmp_path_factory.mktemp("report")) / "serve.json"
    with LocalStack(
        ROOT / "template.yaml", port=0, amplitude_url="", state_file=state, environment={"RELAY_TOKEN": TOKEN}
    ) as stack:
        users = [("alpha", [0, 1, 7], 9.99), ("alpha", [0], 0.0), ("beta", [0, 1], 0.0)]
        for index, (campaign, active_days, revenue) in enumerate(users):
            idfv = f"11111111-2222-4333-8444-{index:012d}"
            postback = fixture_json("appsflyer", "install_ios.json")
            postback.update(
                {
                    "idfa": f"AAAAAAAA-BBBB-4CCC-8DDD-{index:012d}",
                    "idfv": idfv,
                    "campaign": campaign,
                    "customer_user_id": None,
                }
            )
            answer = requests.post(
                f"{stack.url}/v1/postbacks/appsflyer", params={"token": TOKEN}, json=postback, timeout=10
            )
            assert answer.status_code == 200, answer.text
            events = [
                {
                    "event_type": "session_start",
                    "device_id": idfv,
                    "idfv": idfv,
                    "platform": "iOS",
                    "time": INSTALL_MS + 60_000 + day * DAY_MS,
                    "insert_id": f"s-{index}-{day}",
                }
                for day in active_days
            ]
            if revenue:
                events.append(
                    {
                        "event_type": "purchase",
                        "device_id": idfv,
                        "time": INSTALL_MS + DAY_MS + 120_000,
                        "revenue": revenue,
                        "price": revenue,
                        "quantity": 1,
                        "insert_id": f"p-{index}",
                    }
                )
            sent = requests.post(
                f"{stack.state.amplitude_url}/2/httpapi",
                json={"api_key": LOCAL_AMPLITUDE_KEY, "events": events},
                timeout=10,
            )
            assert sent.status_code == 200, sent.text
        yield stack, state


def report(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if name not in _STACK_VARIABLES}
    return subprocess.run(  # noqa: S603 - our own CLI
        [
            sys.executable,
            "-m",
            "postback_relay.cli",
            "report",
            "--start",
            "20260314",
            "--end",
            "20260322",
            *args,
            "--state-file",
            str(state),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )


def test_report_counts_installs_retention_and_revenue_per_campaign(
    campaigns: tuple[LocalStack, Path], tmp_path: Path
) -> None:
    _, state = campaigns
    done = report(state, "--csv", str(tmp_path / "report.csv"), "--html", str(tmp_path / "report.html"))
    rows = {row["campaign"]: row for row in csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text()))}
    assert rows["alpha"] == {
        "partner": "AppsFlyer",
        "campaign": "alpha",
        "installs": "2",
        "retained_d1": "1",
        "retained_d7": "1",
        "revenue": "9.99",
    }
    assert rows["beta"] == {
        "partner": "AppsFlyer",
        "campaign": "beta",
        "installs": "1",
        "retained_d1": "1",
        "retained_d7": "0",
        "revenue": "0.0",
    }
    assert "AppsFlyer  alpha" in done.stdout
    page = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in page
    assert "<td>alpha</td>" in page
