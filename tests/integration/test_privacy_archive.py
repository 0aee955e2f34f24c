"""The raw archive keeps IP addresses and user agents only as keyed hashes, and replay from it
still gives every postback's Amplitude calls, with the insert_ids of the first time."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from postback_relay.inbound import read_postback
from postback_relay.privacy import HASHED_PREFIX, keyed_hash, network_field
from postback_relay_tools.cli import main
from postback_relay_tools.local.amplitude_sink import AmplitudeSink
from tests.integration.support import ROUTE_EVENTS, invoke, route_for, sample

KEY = "archive-test-key"


def network_values(raw: Any) -> list[tuple[str, str]]:
    """(kind, value) of every IP or user-agent field in a raw postback, at any depth."""
    found: list[tuple[str, str]] = []
    stack = [raw]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for name, value in node.items():
                kind = network_field(name)
                if kind and isinstance(value, str) and value:
                    found.append((kind, value))
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return found


def archived(bucket: str) -> list[dict[str, Any]]:
    s3 = boto3.client("s3")
    return [
        json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()))
        for entry in s3.list_objects_v2(Bucket=bucket, Prefix="raw/").get("Contents", [])
    ]


def test_the_samples_carry_ips_and_user_agents() -> None:
    """Otherwise the test below would prove nothing."""
    carrying = [name for name in ROUTE_EVENTS if network_values(received(sample(name)))]
    assert {name.split("-")[0] for name in carrying} >= {"appsflyer", "branch"}


def received(event: dict[str, Any]) -> dict[str, Any]:
    return read_postback(APIGatewayProxyEventV2(event), 65536)


@pytest.mark.parametrize("event_file", ROUTE_EVENTS)
def test_the_archive_holds_no_raw_ip_or_user_agent_and_replays_the_same_calls(
    env: dict[str, str],
    sink: AmplitudeSink,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    event_file: str,
) -> None:
    monkeypatch.setenv("RELAY_HASH_SALT", KEY)
    event = sample(event_file)
    raw = received(event)
    status, answer = invoke(route_for(event).function.logical_id, event)
    assert status == 200, answer

    [item] = archived(env["RELAY_ARCHIVE_BUCKET"])
    text = json.dumps(item)
    for kind, value in network_values(raw):
        assert value not in text
        assert json.dumps(HASHED_PREFIX + keyed_hash(KEY, f"{kind}|{value.strip()}")) in text
    assert len(item["redacted"]) == len(network_values(raw))

    capsys.readouterr()
    partner = event["rawPath"].removeprefix("/v1/postbacks/")
    day = datetime.fromtimestamp(item["received_at_ms"] / 1000, UTC).date().isoformat()
    source = f"s3://{env['RELAY_ARCHIVE_BUCKET']}/raw"
    assert main(["replay", "--from", source, "--partner", partner, "--since", day]) == 0
    out = capsys.readouterr().out
    [listed, summary] = out.strip().splitlines()
    assert json.loads(summary)["calls"] == len(answer["requests"])
    assert listed == f"{answer['postback_id']}: " + ", ".join(
        f"{request['endpoint']} {request['insert_id']}" for request in answer["requests"]
    )
