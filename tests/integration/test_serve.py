"""The local stack end to end: real HTTP into `serve`, real HTTP out to a strict stand-in for
Amplitude, moto's SQS server in between, and the retry consumer running as the event source would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from postback_relay_tools.local.amplitude_sink import AmplitudeSink, FaultPlan
from tests.conftest import API_KEY, ROOT, fixture_json
from tests.integration.support import POSTBACK_URL, STACK_VARIABLES, cli, local_stack, post, realistic_postbacks


@pytest.fixture
def stand_in() -> Iterator[AmplitudeSink]:
    with AmplitudeSink(api_key=API_KEY) as server:
        yield server


def delivered_keys(sink: AmplitudeSink) -> list[str]:
    """One key per delivered Amplitude call: attribution by postback id, identify by user, HTTP V2 by insert_id."""
    keys = []
    for received in sink.received():
        if received.endpoint == "attribution":
            keys.append(received.payload["event_properties"]["postback_id"])
        elif received.endpoint == "identify":
            keys.append(f"identify:{received.payload['user_id']}")
        else:
            keys.append(received.payload["insert_id"])
    return keys


def call_key(request: dict[str, Any], user_id: str) -> str:
    return f"identify:{user_id}" if request["endpoint"] == "identify" else request["insert_id"]


def test_health_and_unknown_routes(tmp_path: Path, stand_in: AmplitudeSink) -> None:
    with local_stack(tmp_path, stand_in) as stack:
        health = requests.get(f"{stack.url}/health", timeout=5)
        assert health.status_code == 200
        assert f"POST {POSTBACK_URL}" in health.json()["routes"]
        missing = requests.get(f"{stack.url}/v1/postbacks/nobody", timeout=5)
        assert missing.status_code == 404


def test_realistic_postbacks_arrive_with_ids_platform_time_and_campaign(
    tmp_path: Path, stand_in: AmplitudeSink
) -> None:
    ios, android = realistic_postbacks(2)
    with local_stack(tmp_path, stand_in) as stack:
        assert post(stack, ios).status_code == 200
        assert post(stack, android).status_code == 200
        unauthorized = post(stack, ios, token="not-the-token")
    assert unauthorized.status_code == 401
    assert unauthorized.json()["error"] == "invalid relay token"
    events = {r.payload["platform"]: r.payload for r in stand_in.received("attribution")}
    assert events["ios"]["idfa"] == ios["idfa"].upper()
    assert events["android"]["adid"] == android["advertising_id"].lower()
    assert events["ios"]["time"] == 1_795_179_600_000  # 2026-11-20 13:00:00 UTC
    for platform, postback in (("ios", ios), ("android", android)):
        properties = events[platform]["user_properties"]
        assert properties["[AppsFlyer] media source"] == postback["media_source"]
        assert properties["[AppsFlyer] campaign"] == postback["campaign"]
    assert len(stand_in.received("attribution")) == 2  # the unauthorized resend reached nobody


def test_with_30_percent_faults_every_postback_is_delivered_once_or_dead_lettered(
    tmp_path: Path, stand_in: AmplitudeSink
) -> None:
    postbacks = realistic_postbacks(60)
    stand_in.faults = FaultPlan.random(rate=0.3, seed=20261123)
    # Few attempts, so that some calls exhaust them and the dead-letter path is exercised too.
    with local_stack(tmp_path, stand_in, RELAY_MAX_ATTEMPTS="3") as stack:
        expected: dict[str, str] = {}
        for postback in postbacks:
            answer = post(stack, postback)
            assert answer.status_code in (200, 202), answer.text
            for request in answer.json()["requests"]:
                expected[call_key(request, postback["customer_user_id"])] = request["insert_id"]
        assert stack.wait_until_settled(timeout_s=120), stack.queue_depth("RetryQueue")

        letters = json.loads(cli(tmp_path, "dlq", "list", "--json").stdout)
        delivered = delivered_keys(stand_in)
        dead = [letter["call"]["insert_id"] for letter in letters]
        assert all(letter["reason"] == "max_attempts" and letter["attempts"] == 3 for letter in letters)
        assert all(letter["status"] in (429, 500, 503, None) and letter["error"] for letter in letters)
        # The accounting: each call delivered exactly once, or dead-lettered with its reason; none lost.
        assert len(delivered) == len(set(delivered)), "a call was delivered twice"
        delivered_ids = {expected[key] for key in delivered}
        assert delivered_ids.isdisjoint(dead)
        assert delivered_ids | set(dead) == set(expected.values())
        assert stand_in.requests_seen() > len(expected)  # faults really happened

        # Amplitude recovers; the replayed dead letters are delivered, once each.
        stand_in.faults = FaultPlan.none()
        replay = cli(tmp_path, "dlq", "replay")
        assert f"replayed {len(dead)} dead letter(s)" in replay.stdout
        assert stack.wait_until_settled(timeout_s=60)
        assert json.loads(cli(tmp_path, "dlq", "list", "--json").stdout) == []
        delivered = delivered_keys(stand_in)
        assert sorted(delivered) == sorted(expected)


def test_amplitude_rejection_lands_in_the_dead_letter_queue_with_its_reason(
    tmp_path: Path, stand_in: AmplitudeSink
) -> None:
    [postback] = realistic_postbacks(1)
    with local_stack(tmp_path, stand_in, AMPLITUDE_API_KEY="revoked-key") as stack:
        answer = post(stack, postback)
        assert (answer.status_code, answer.json()["status"]) == (202, "dead_lettered")
        letters = json.loads(cli(tmp_path, "dlq", "list", "--json").stdout)
    assert {(letter["reason"], letter["status"]) for letter in letters} == {("rejected", 400)}
    assert {letter["call"]["endpoint"] for letter in letters} == {"attribution", "identify"}
    assert stand_in.received() == []


def test_serve_command_starts_and_prints_a_ready_to_paste_postback(tmp_path: Path) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in (*STACK_VARIABLES, "AMPLITUDE_API_URL", "RELAY_TOKEN", "RELAY_TOKENS")
    }
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        [
            sys.executable,
            "-m",
            "postback_relay_tools.cli",
            "serve",
            "--port",
            "0",
            "--template",
            str(ROOT / "template.yaml"),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Dead letters"):
                break
        banner = "".join(lines)
        url = banner.split("local stack on ")[1].split()[0]
        assert requests.get(f"{url}/health", timeout=5).status_code == 200
        curl = next(line for line in lines if "curl -sS -X POST" in line)
        assert "/v1/postbacks/appsflyer?token=" in curl
        assert (tmp_path / ".postback-relay" / "serve.json").exists()
        token = banner.split("Relay token: ")[1].split()[0]
        postback = fixture_json("appsflyer", "install_ios.json")
        answer = requests.post(f"{url}/v1/postbacks/appsflyer", params={"token": token}, json=postback, timeout=10)
        assert answer.status_code == 200
        assert requests.get(f"{url}/v1/postbacks/appsflyer", params={"token": "wrong"}, timeout=10).status_code == 401
    finally:
        process.terminate()
        logs, errors = process.communicate(timeout=30)
    assert not (tmp_path / ".postback-relay" / "serve.json").exists()
    # What the stack logged while serving: the relay's JSON logs, never a secret or an identifier.
    assert '"message":"postback accepted"' in logs
    for secret in (
        token,
        "wrong",
        "local-amplitude-key",
        postback["idfa"],
        postback["idfv"],
        postback["customer_user_id"],
        postback["ip"],
    ):
        assert secret not in logs + errors
