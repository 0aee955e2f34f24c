"""`postback-relay compare` over the local loop: `serve` in shadow mode beside a "native" AppsFlyer
integration (events written straight into serve's Amplitude emulator), postbacks for the same users
plus some that differ and some missing on either side; then the Dashboard API's 429s waited out on a
driven clock."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from postback_relay.archive import Archive, ArchivedPostback
from postback_relay.partners.registry import find_partner
from postback_relay_tools.cli import main
from postback_relay_tools.compare import CompareError, Pacer, compare_partner
from postback_relay_tools.dashboard import DashboardClient
from postback_relay_tools.local.stack import LocalStack
from tests.conftest import EVERY_ROUTE_TOKEN, ROOT, TOKEN
from tests.emulator.conftest import KEY, SECRET, Clock, make_emulator
from tests.integration.support import sample

SOURCE = "googleadwords_int"
CAMPAIGN = "PB_iOS_US_Search_Brand"


def idfv(index: int) -> str:
    return f"868049A3-4B2F-4A11-9B00-CFFC3621{index:04d}"


def appsflyer_install(index: int, campaign: str = CAMPAIGN, user: bool = True) -> dict[str, Any]:
    """The AppsFlyer Push API install sample for person `index` (its own IDFV and IDFA)."""
    body: dict[str, Any] = json.loads(sample("appsflyer-install-ios-post.json")["body"])
    body.update(
        idfv=idfv(index),
        idfa=f"A7071198-3848-40A5-B3D0-94578D9B{index:04d}",
        customer_user_id=f"user-{index}" if user else None,
        campaign=campaign,
    )
    return body


def native_install(index: int, time_ms: int, campaign: str = CAMPAIGN, user: bool = True) -> dict[str, Any]:
    """What Amplitude's own AppsFlyer integration leaves on a user: its install event, its properties."""
    return {
        "event_type": "[AppsFlyer] Install",
        **({"user_id": f"user-{index}"} if user else {}),
        "device_id": idfv(index),
        "time": time_ms,
        "platform": "iOS",
        "insert_id": f"native-install-{index}",
        "user_properties": {"[AppsFlyer] media source": SOURCE, "[AppsFlyer] campaign": campaign},
    }


def sdk_open(index: int, time_ms: int) -> dict[str, Any]:
    return {"event_type": "session_start", "user_id": f"user-{index}", "device_id": idfv(index), "time": time_ms}


@pytest.fixture
def shadow_stack(tmp_path: Path) -> Iterator[LocalStack]:
    """`serve` with RELAY_MODE=shadow and its own Amplitude emulator."""
    with LocalStack(
        ROOT / "template.yaml",
        port=0,
        amplitude_url="",
        state_file=tmp_path / "serve.json",
        environment={"RELAY_TOKENS": EVERY_ROUTE_TOKEN, "RELAY_MODE": "shadow"},
    ) as stack:
        yield stack


def test_compare_against_serve_in_shadow_mode_beside_a_native_integration(
    shadow_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = shadow_stack
    now_ms = int(time.time() * 1000)
    native = [
        native_install(1, now_ms),  # the relay agrees
        native_install(2, now_ms, campaign="PB_iOS_US_Search_Generic"),  # the relay credits another campaign
        sdk_open(3, now_ms),  # the app's user, with no attribution from the native integration
        native_install(5, now_ms),  # native installs the relay never received
        native_install(6, now_ms),
        native_install(7, now_ms, user=False),  # anonymous: found by its device id (the IDFV)
    ]
    ingested = requests.post(
        f"{stack.sink.url}/2/httpapi", json={"api_key": stack.sink.api_key, "events": native}, timeout=10
    )
    assert ingested.status_code == 200, ingested.text
    for body in (appsflyer_install(i) for i in (1, 2, 3, 4)), [appsflyer_install(7, user=False)]:
        for postback in body:
            answer = requests.post(f"{stack.url}/v1/postbacks/appsflyer?token={TOKEN}", json=postback, timeout=10)
            assert (answer.status_code, answer.json()["status"]) == (202, "shadow")
    # Shadow mode sent nothing: what Amplitude holds is the native integration's and the SDK's.
    assert stack.sink.received("attribution") == []
    assert stack.sink.received("identify") == []
    assert len(stack.sink.received("httpapi")) == len(native)

    day = datetime.now(UTC).date().isoformat()
    bucket = stack.physical_ids["ArchiveBucket"]
    args = ["compare", "--from", f"s3://{bucket}/raw", "--partner", "appsflyer", "--since", day]
    args += ["--state-file", str(tmp_path / "serve.json")]
    capsys.readouterr()  # serve's own log lines so far (it runs in this process)
    assert main([*args, "--json"]) == 0
    out = "\n".join(line for line in capsys.readouterr().out.splitlines() if not line.startswith('{"_aws"'))
    [summary] = [json.loads(line) for line in out.splitlines() if line.startswith('{"partner"')]
    assert {k: summary[k] for k in ("archived", "shadowed", "users", "compared", "matched", "differing")} == {
        "archived": 5,
        "shadowed": 5,
        "users": 5,
        "compared": 5,
        "matched": 2,
        "differing": 1,
    }
    assert summary["differing_by_property"] == {"[AppsFlyer] campaign": 1}
    assert summary["missing_in_amplitude"] == 2  # user-3 (no attribution on the user), user-4 (no such user)
    assert (summary["missing_in_relay"], summary["missing_in_relay_estimated"]) == (2, False)
    assert (summary["amplitude_install_users"], summary["relay_install_users"]) == (5, 5)
    [differing] = [d for d in summary["details"] if d["verdict"] == "differing"]
    assert differing["differences"] == {
        "[AppsFlyer] campaign": {"relay": CAMPAIGN, "amplitude": "PB_iOS_US_Search_Generic"}
    }
    assert sorted(d.get("reason") for d in summary["details"] if d["verdict"] == "missing_in_amplitude") == [
        "no attribution on the user",
        "no such user",
    ]
    # Per postback_id, never per person: no user id or device id in what compare prints.
    assert "user-" not in out
    assert idfv(1) not in out

    assert main(args) == 0
    text = capsys.readouterr().out
    assert "matched               2" in text
    assert "differing             1  ([AppsFlyer] campaign 1)" in text
    assert "missing in Amplitude  2" in text
    assert "missing in the relay  2  (Amplitude counts 5 user(s) with [AppsFlyer] Install on these days" in text


def test_compare_refuses_bad_arguments_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for args, problem in [
        (["--from", "bucket/raw", "--partner", "appsflyer", "--since", "2026-12-01"], "--from must be s3://"),
        (["--from", "s3://b/raw", "--partner", "nope", "--since", "2026-12-01"], "unknown partner 'nope'"),
        (["--from", "s3://b/raw", "--partner", "adjust", "--since", "1 Dec"], "Invalid isoformat"),
        (["--from", "s3://b/raw", "--partner", "adjust", "--since", "2026-12-02", "--until", "2026-12-01"], "--until"),
    ]:
        assert main(["compare", *args]) == 2
        err = capsys.readouterr().err
        assert problem in err
        assert len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------- the query budget


def archive_people(bucket: str, clock: Clock, count: int) -> None:
    archive = Archive(bucket)
    for index in range(1, count + 1):
        archive.put(ArchivedPostback("appsflyer", clock.ms, f"{index:040x}", appsflyer_install(index), shadowed=True))


def seeded(count: int, clock: Clock, **limits: Any) -> Any:
    emulator = make_emulator(clock, **limits).start()
    events = [native_install(index, clock.ms) for index in range(1, count + 1)]
    assert requests.post(f"{emulator.url}/2/httpapi", json={"api_key": KEY, "events": events}, timeout=10).ok
    return emulator


def test_429s_from_the_lookup_budget_are_waited_out_with_backoff_on_the_driven_clock(aws: dict[str, str]) -> None:
    clock = Clock()
    archive_people(aws["bucket"], clock, 3)
    emulator = seeded(3, clock, user_lookups_per_hour=4)  # 3 users x 2 lookups: the hour runs out
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)

    try:
        client = DashboardClient(f"{emulator.url}/api/2", KEY, SECRET)
        day = datetime.fromtimestamp(clock.now, UTC).date()
        result = compare_partner(
            client, Archive(aws["bucket"]), find_partner("appsflyer"), day, day, pacer=Pacer(sleep)
        )
    finally:
        emulator.close()

    assert (result.count("matched"), result.compared) == (3, 3)
    assert waits == [30, 60, 120, 240, 480, 900, 900, 900]  # doubling to the cap, until the hour had passed
    assert sum(waits) >= 3600
    summary = result.summary()
    assert (summary["throttled"], summary["waited_s"]) == (8, 3630.0)


def test_a_budget_that_does_not_clear_stops_compare_naming_the_fix(aws: dict[str, str]) -> None:
    clock = Clock()
    archive_people(aws["bucket"], clock, 2)
    emulator = seeded(2, clock, user_lookups_per_hour=1)
    try:
        client = DashboardClient(f"{emulator.url}/api/2", KEY, SECRET)
        day = datetime.fromtimestamp(clock.now, UTC).date()
        with pytest.raises(CompareError, match=r"429 after 210 s of backoff.*--max-users"):
            compare_partner(
                client,
                Archive(aws["bucket"]),
                find_partner("appsflyer"),
                day,
                day,
                pacer=Pacer(clock.advance, max_wait_s=300),
            )
    finally:
        emulator.close()


def test_max_users_looks_up_a_stable_sample_and_estimates_the_rest(aws: dict[str, str]) -> None:
    clock = Clock()
    archive_people(aws["bucket"], clock, 6)
    emulator = seeded(6, clock)
    try:
        client = DashboardClient(f"{emulator.url}/api/2", KEY, SECRET)
        day = datetime.fromtimestamp(clock.now, UTC).date()
        runs = [
            compare_partner(client, Archive(aws["bucket"]), find_partner("appsflyer"), day, day, max_users=4)
            for _ in range(2)
        ]
    finally:
        emulator.close()
    first = runs[0].summary()
    assert (first["users"], first["compared"], first["not_compared"], first["matched"]) == (6, 4, 2, 4)
    assert [r.postback_id for r in runs[0].results] == [r.postback_id for r in runs[1].results]
    assert (first["missing_in_relay"], first["missing_in_relay_estimated"]) == (0, True)
