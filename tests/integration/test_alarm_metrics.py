"""The per-partner alarms read what the functions write: each partner function, invoked as Lambda
invokes it, emits the EMF metric (name and exact dimension set) that its quiet alarm and its 401/422
alarms in template.yaml watch."""

from __future__ import annotations

import json
from typing import Any

import pytest

from postback_relay import observability
from postback_relay.partners.registry import coded_partners
from postback_relay.runtime import reset_runtime
from tests.integration.support import SAMPLE_TOKEN, SAMPLE_TOKENS, invoke, request, route_for, sample
from tests.unit.template_document import resources, template

# One sample postback per partner function (events/).
SAMPLES = (
    "appsflyer-install-ios-post.json",
    "adjust-install-ios-get.json",
    "branch-install-ios-post.json",
    "kochava-install-android-get.json",
    "singular-install-android-post.json",
    "tenjin-install-ios-get.json",
    "custom-unity-ads-install-ios-get.json",
)
SERVICE = template()["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """A function reading the metrics written so far, as (name, dimensions) pairs."""
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", SERVICE)  # as the template sets it
    monkeypatch.setattr(observability, "_emitters", {})  # emitters read the service once, when made

    def read() -> set[tuple[str, frozenset[tuple[str, str]]]]:
        found = set()
        for line in capsys.readouterr().out.splitlines():
            if not line.startswith("{"):
                continue
            document = json.loads(line)
            for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
                [dimension_names] = directive["Dimensions"]
                dimensions = frozenset((name, document[name]) for name in dimension_names)
                found |= {(metric["Name"], dimensions) for metric in directive["Metrics"]}
        return found

    return read


def watched(metric_name: str) -> set[tuple[str, frozenset[tuple[str, str]]]]:
    """What the template's alarms on `metric_name` read."""
    return {
        (metric_name, frozenset((d["Name"], d["Value"]) for d in alarm["Properties"]["Dimensions"]))
        for alarm in resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == metric_name
    }


def invoke_sample(name: str) -> int:
    event = sample(name)
    status, _ = invoke(route_for(event).function.logical_id, event)
    return status


def test_accepted_postbacks_write_what_the_quiet_alarms_read(env: dict[str, str], emitted: Any) -> None:
    for name in SAMPLES:
        assert invoke_sample(name) == 200
    written = emitted()
    # Every partner function's quiet alarm (the tracker's reads `installs`, checked by its own suite).
    watched_series = watched("received")
    # One quiet alarm per coded partner at least: an empty set would prove nothing.
    assert len(watched_series) >= len(coded_partners())
    missing = watched_series - written
    assert not missing, f"alarms read series no function writes: {sorted(missing)}"


def test_refused_tokens_write_rejected_401_per_route_as_its_alarm_reads(
    env: dict[str, str], emitted: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every route's token rotated on the relay's side only: the partners still send the old ones.
    rotated = "rotated-0123456789abcdef"
    tokens = json.loads(SAMPLE_TOKENS)
    monkeypatch.setenv(
        "RELAY_TOKENS",
        json.dumps(
            {route: {n: [rotated] for n in ts} if route == "custom" else [rotated] for route, ts in tokens.items()}
        ),
    )
    reset_runtime()
    for name in SAMPLES:
        assert invoke_sample(name) == 401
    written = {(metric, dims) for metric, dims in emitted() if metric == "rejected_401"}
    assert written == watched("rejected_401")


def test_undeliverable_postbacks_write_rejected_422_as_the_alarm_reads(env: dict[str, str], emitted: Any) -> None:
    # AppsFlyer left its macro unfilled: no usable device id, no user id.
    status, _ = invoke(
        "AppsFlyerFunction", request("GET", f"token={SAMPLE_TOKEN}&event_type=install&platform=ios&idfa={{idfa}}")
    )
    assert status == 422
    written = {(metric, dims) for metric, dims in emitted() if metric == "rejected_422"}
    assert written == {entry for entry in watched("rejected_422") if ("partner", "appsflyer") in entry[1]}
    assert written
