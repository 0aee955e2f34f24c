"""`postback-relay verify` against the local loop: postback → relay → emulator → verify."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from postback_relay.local.stack import LOCAL_AMPLITUDE_KEY, LocalStack
from tests.conftest import ROOT, TOKEN, fixture_json

_STACK_VARIABLES = ("AWS_ENDPOINT_URL", "AMPLITUDE_API_KEY", "AMPLITUDE_SECRET_KEY", "AMPLITUDE_API_URL")


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, Path]]:
    state = Path(tmp_path_factory.mktemp("verify")) / "serve.json"
    saved = os.environ.pop("AMPLITUDE_API_URL", None)
    try:
        with LocalStack(
            ROOT / "template.yaml", port=0, amplitude_url="", state_file=state, environment={"RELAY_TOKEN": TOKEN}
        ) as stack:
            yield stack, state
    finally:
        if saved is not None:
            os.environ["AMPLITUDE_API_URL"] = saved


def verify(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if name not in _STACK_VARIABLES}
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "postback_relay.cli", "verify", *args, "--state-file", str(state)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


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


def install_postback(stack: LocalStack, idfa: str, idfv: str, campaign: str) -> None:
    postback = fixture_json("appsflyer", "install_ios.json")
    postback.update({"idfa": idfa, "idfv": idfv, "campaign": campaign, "customer_user_id": None})
    answer = requests.post(f"{stack.url}/v1/postbacks/appsflyer", params={"token": TOKEN}, json=postback, timeout=10)
    assert answer.status_code == 200, answer.text


def test_the_local_loop_shows_the_campaign_on_the_user(loop: tuple[LocalStack, Path]) -> None:
    stack, state = loop
    idfv = "11111111-2222-4333-8444-555555555555"
    install_postback(stack, "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE", idfv, "verify-campaign")
    sdk_event(stack, idfv)  # the app opens: Amplitude matches the held attribution by IDFV
    done = verify(state, "--device", idfv, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["attributed"] is True
    assert verdict["attribution_properties"]["[AppsFlyer] campaign"] == "verify-campaign"
    assert [event["event_type"] for event in verdict["attribution_events"]] == ["[AppsFlyer] Install"]
    assert "[AppsFlyer] campaign: verify-campaign" in verify(state, "--device", idfv).stdout


def test_a_user_whose_attribution_never_matched_is_explained(loop: tuple[LocalStack, Path]) -> None:
    stack, state = loop
    install_postback(stack, "AAAAAAAA-BBBB-4CCC-8DDD-000000000001", "99999999-2222-4333-8444-555555555555", "held")
    sdk_event(stack, "77777777-2222-4333-8444-555555555555")  # the SDK reports another id: nothing matches
    done = verify(state, "--device", "77777777-2222-4333-8444-555555555555")
    assert done.returncode == 1
    assert "Attribution: none on this user." in done.stdout
    assert "72 h" in done.stdout


def test_an_unknown_user_is_explained(loop: tuple[LocalStack, Path]) -> None:
    _, state = loop
    done = verify(state, "--user", "nobody-42")
    assert done.returncode == 1
    assert "No Amplitude user matches." in done.stdout
    assert "SDK has not sent an event" in done.stdout
    assert "advertising ids" in verify(state, "--idfa", "AAAAAAAA-BBBB-4CCC-8DDD-FFFFFFFFFFFF").stdout
