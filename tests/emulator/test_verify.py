"""`postback-relay verify` against the local loop: postback → relay → emulator → verify.

The stack runs on a virtual clock (what `serve --virtual-clock` runs), so the 72 h hold of an
attribution event is moved through, not waited for; verify reads the time from the emulator's
Date header, as it reads Amplitude's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from postback_relay_tools.local.stack import LOCAL_AMPLITUDE_KEY, LocalStack
from tests.conftest import ROOT, TOKEN, fixture_json

pytestmark = pytest.mark.slow  # a local stack, servers or many moto calls: not in make test-quick

_STACK_VARIABLES = ("AWS_ENDPOINT_URL", "AMPLITUDE_API_KEY", "AMPLITUDE_SECRET_KEY", "AMPLITUDE_API_URL")
START_S = datetime(2026, 11, 23, 13, 0, tzinfo=UTC).timestamp()
HOUR_S = 3600


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, Path]]:
    state = Path(tmp_path_factory.mktemp("verify")) / "serve.json"
    saved = os.environ.pop("AMPLITUDE_API_URL", None)
    try:
        with LocalStack(
            ROOT / "template.yaml",
            port=0,
            amplitude_url="",
            state_file=state,
            environment={"RELAY_TOKEN": TOKEN},
            virtual_clock=True,
            clock_start_s=START_S,
        ) as stack:
            yield stack, state
    finally:
        if saved is not None:
            os.environ["AMPLITUDE_API_URL"] = saved


def verify(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if name not in _STACK_VARIABLES}
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "postback_relay_tools.cli", "verify", *args, "--state-file", str(state)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def verdict(state: Path, *args: str) -> dict[str, Any]:
    done = verify(state, *args, "--json")
    assert done.stderr == ""
    answer: dict[str, Any] = json.loads(done.stdout)
    assert done.returncode == (0 if answer["attributed"] else 1)
    return answer


def only_partner(answer: dict[str, Any]) -> dict[str, Any]:
    [partner] = answer["partners"]
    assert isinstance(partner, dict)
    return partner


def sdk_event(stack: LocalStack, device_id: str, user_id: str | None = None) -> None:
    """What the app's Amplitude SDK sends on launch: an event with its device id."""
    event = {
        "event_type": "session_start",
        "device_id": device_id,
        "insert_id": f"sdk-{device_id}",
        "idfv": device_id,
        "platform": "iOS",
    }
    if user_id:
        event["user_id"] = user_id
    answer = requests.post(
        f"{stack.state.amplitude_url}/2/httpapi", json={"api_key": LOCAL_AMPLITUDE_KEY, "events": [event]}, timeout=10
    )
    assert answer.status_code == 200, answer.text


def install_postback(
    stack: LocalStack, idfa: str, idfv: str, campaign: str, user_id: str | None = None, hours_ago: int = 1
) -> str:
    """An AppsFlyer install `hours_ago` before the stack's now; returns its install time as verify prints it."""
    installed = datetime.fromtimestamp(stack.now_ms() / 1000 - hours_ago * HOUR_S, UTC)
    postback = fixture_json("appsflyer", "install_ios.json")
    postback.update(
        {
            "idfa": idfa,
            "idfv": idfv,
            "campaign": campaign,
            "customer_user_id": user_id,
            "install_time": installed.strftime("%Y-%m-%d %H:%M:%S.000"),
            "event_time": installed.strftime("%Y-%m-%d %H:%M:%S.000"),
            "attributed_touch_time": installed.strftime("%Y-%m-%d %H:%M:%S.000"),
        }
    )
    answer = requests.post(f"{stack.url}/v1/postbacks/appsflyer", params={"token": TOKEN}, json=postback, timeout=10)
    assert answer.status_code == 200, answer.text
    return installed.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_local_loop_shows_the_campaign_and_the_matched_install(loop: tuple[LocalStack, Path]) -> None:
    stack, state = loop
    idfv = "11111111-2222-4333-8444-555555555555"
    installed = install_postback(stack, "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE", idfv, "verify-campaign")
    sdk_event(stack, idfv)  # the app opens: Amplitude matches the held attribution by IDFV
    answer = verdict(state, "--device", idfv)
    assert answer["attributed"] is True
    partner = only_partner(answer)
    assert (partner["label"], partner["status"]) == ("[AppsFlyer]", "matched")
    assert partner["properties"]["[AppsFlyer] campaign"] == "verify-campaign"
    assert partner["events"] == [{"event_type": "[AppsFlyer] Install", "event_time": installed}]
    text = verify(state, "--device", idfv).stdout
    assert "[AppsFlyer] campaign: verify-campaign" in text
    assert f"[AppsFlyer] install time: {installed}" in text  # ISO 8601 UTC, not epoch milliseconds
    assert f"Attribution event: matched: [AppsFlyer] Install at {installed}" in text


def test_properties_set_by_identify_do_not_hide_that_the_install_is_still_held(
    loop: tuple[LocalStack, Path],
) -> None:
    stack, state = loop
    idfv = "22222222-2222-4333-8444-555555555555"
    install_postback(stack, "AAAAAAAA-BBBB-4CCC-8DDD-000000000002", idfv, "held-campaign", user_id="user-held")
    done = verify(state, "--user", "user-held")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Properties: set, by the relay's Identify (the attribution event is not applied yet)" in done.stdout
    assert "[AppsFlyer] campaign: held-campaign" in done.stdout
    assert "Attribution event: not matched yet, held by Amplitude: no event from the app on this user's device yet" in (
        done.stdout
    )
    ends = datetime.fromtimestamp(stack.now_ms() / 1000 + 71 * HOUR_S, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"about 71 h left (until {ends}, 72 h from the postback's time" in done.stdout
    partner = only_partner(verdict(state, "--user", "user-held"))
    assert (partner["status"], partner["hold_left_s"], partner["events"]) == ("held", 71 * HOUR_S, [])

    stack.advance(5 * HOUR_S)
    sdk_event(stack, idfv, user_id="user-held")  # the app opens five hours later on that iPhone
    answer = verdict(state, "--user", "user-held")
    assert answer["attributed"] is True
    partner = only_partner(answer)
    assert partner["status"] == "matched"
    assert [event["event_type"] for event in partner["events"]] == ["[AppsFlyer] Install"]


def test_an_install_not_matched_within_72_hours_is_said_to_be_dropped(loop: tuple[LocalStack, Path]) -> None:
    stack, state = loop
    idfv = "33333333-2222-4333-8444-555555555555"
    install_postback(stack, "AAAAAAAA-BBBB-4CCC-8DDD-000000000003", idfv, "late", user_id="user-late")
    stack.advance(72 * HOUR_S)
    sdk_event(stack, idfv, user_id="user-late")  # too late: Amplitude dropped the held Install
    done = verify(state, "--user", "user-late")
    assert done.returncode == 1
    assert "Attribution event: not matched within 72 h from the postback's time" in done.stdout
    assert "Amplitude has most likely dropped the [AppsFlyer] Install event" in done.stdout
    partner = only_partner(verdict(state, "--user", "user-late"))
    assert (partner["status"], partner["events"]) == ("dropped", [])


def test_a_user_whose_attribution_never_matched_is_explained(loop: tuple[LocalStack, Path]) -> None:
    stack, state = loop
    install_postback(stack, "AAAAAAAA-BBBB-4CCC-8DDD-000000000001", "99999999-2222-4333-8444-555555555555", "held")
    sdk_event(stack, "77777777-2222-4333-8444-555555555555")  # the SDK reports another id: nothing matches
    done = verify(state, "--device", "77777777-2222-4333-8444-555555555555")
    assert done.returncode == 1
    assert "1 event(s) from the app" in done.stdout
    assert "Attribution: none on this user." in done.stdout
    assert "72 h" in done.stdout


def test_an_unknown_user_is_explained(loop: tuple[LocalStack, Path]) -> None:
    _, state = loop
    done = verify(state, "--user", "nobody-42")
    assert done.returncode == 1
    assert "No Amplitude user matches." in done.stdout
    assert "SDK has not sent an event" in done.stdout


def test_an_advertising_id_lookup_says_what_to_pass_instead(loop: tuple[LocalStack, Path]) -> None:
    _, state = loop
    done = verify(state, "--idfa", "AAAAAAAA-BBBB-4CCC-8DDD-FFFFFFFFFFFF")
    assert (done.returncode, done.stdout) == (2, "")
    [line] = done.stderr.splitlines()
    assert "cannot look up an advertising id" in line
    assert "--device" in line
    assert "--user" in line
    assert "AAAAAAAA" not in line
