"""The Lambda handlers, invoked exactly as AWS (and `sam local invoke -e events/...`) invokes them.

GIVEN the sample events in events/, a loopback stand-in for Amplitude and moto's SQS,
WHEN the function's handler runs, THEN the partner's answer and Amplitude's intake are right.
"""

from __future__ import annotations

import json
import logging
import time
from copy import deepcopy
from typing import Any

import pytest

from postback_relay.observability import logger
from postback_relay.runtime import reset_runtime
from postback_relay_tools.local.amplitude_sink import AmplitudeSink, FaultPlan
from postback_relay_tools.local.events import LocalLambdaContext
from tests.conftest import queue_bodies
from tests.integration.support import (
    EVENTS,
    ROUTE_EVENTS,
    SAMPLE_TOKEN,
    TEMPLATE,
    function,
    invoke,
    request,
    route_for,
    sample,
)


@pytest.mark.parametrize("event_file", ROUTE_EVENTS)
def test_every_sample_event_is_delivered_by_its_routes_function(
    env: dict[str, str], sink: AmplitudeSink, event_file: str
) -> None:
    event = sample(event_file)
    status, body = invoke(route_for(event).function.logical_id, event)
    assert (status, body["status"]) == (200, "delivered"), (body, sink.rejected())
    assert sorted(received.endpoint for received in sink.received()) == sorted(
        request["endpoint"] for request in body["requests"]
    )


def test_every_route_has_a_sample_event() -> None:
    covered = {sample(path.name)["routeKey"] for path in EVENTS.glob("*-*.json") if path.name != "retry-sqs.json"}
    # GET and POST share a function; one sample per partner function is enough for `sam local invoke`.
    functions_with_samples = {route.function.logical_id for route in TEMPLATE.routes if route.route_key in covered}
    assert functions_with_samples == {route.function.logical_id for route in TEMPLATE.routes}


def test_ios_install_reaches_amplitude_with_ids_platform_time_and_campaign(
    env: dict[str, str], sink: AmplitudeSink
) -> None:
    invoke("AppsFlyerFunction", sample("appsflyer-install-ios-post.json"))
    [attribution] = sink.received("attribution")
    event = attribution.payload
    assert event["event_type"] == "[AppsFlyer] Install"
    assert (event["platform"], event["idfa"], event["idfv"]) == (
        "ios",
        "A7071198-3848-40A5-B3D0-94578D9B1234",
        "868049A3-4B2F-4A11-9B00-CFFC36215678",
    )
    assert event["time"] == 1_773_480_413_589  # 2026-03-14 09:26:53.589 UTC
    assert event["user_properties"]["[AppsFlyer] media source"] == "googleadwords_int"
    assert event["user_properties"]["[AppsFlyer] campaign"] == "PB_iOS_US_Search_Brand"
    [identify] = sink.received("identify")
    assert identify.payload["user_id"] == "user-100245"
    operations = identify.payload["user_properties"]
    assert operations["$setOnce"]["[AppsFlyer] initial campaign"] == "PB_iOS_US_Search_Brand"
    assert operations["$set"]["[AppsFlyer] campaign"] == "PB_iOS_US_Search_Brand"


def test_purchase_reaches_http_v2_once_with_revenue(env: dict[str, str], sink: AmplitudeSink) -> None:
    invoke("AppsFlyerFunction", sample("appsflyer-purchase-post.json"))
    invoke("AppsFlyerFunction", sample("appsflyer-purchase-post.json"))  # the partner resends
    [purchase] = sink.received("httpapi")
    assert purchase.payload["revenue"] > 0
    assert purchase.payload["currency"]
    assert purchase.payload["insert_id"].startswith("appsflyer-httpapi-")


def test_throttled_postback_is_answered_202_and_queued(env: dict[str, str], sink: AmplitudeSink) -> None:
    sink.faults = FaultPlan.script(["429", "429"])
    status, body = invoke("AppsFlyerFunction", sample("appsflyer-install-ios-post.json"))
    assert (status, body["status"]) == (202, "queued")
    queued = queue_bodies(env["RELAY_RETRY_QUEUE_URL"])
    assert sorted(message["call"]["endpoint"] for message in queued) == ["attribution", "identify"]


def test_retry_function_redelivers_the_sample_sqs_batch(env: dict[str, str], sink: AmplitudeSink) -> None:
    result = function("RetryFunction")(sample("retry-sqs.json"), LocalLambdaContext("RetryFunction", 30))
    assert result == {"batchItemFailures": []}
    [attribution] = sink.received("attribution")
    assert attribution.payload["event_properties"]["postback_id"] == "appsflyer-attribution-sample"


def test_retry_function_reports_a_failed_item_when_sqs_is_unreachable(
    env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink.faults = FaultPlan.script(["503"])
    monkeypatch.setenv("RELAY_RETRY_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/missing")
    reset_runtime()
    event = sample("retry-sqs.json")
    body = json.loads(event["Records"][0]["body"])
    body["received_at_ms"] = int(time.time() * 1000)  # well inside the retry horizon
    event["Records"][0]["body"] = json.dumps(body)
    result = function("RetryFunction")(event, LocalLambdaContext("RetryFunction", 30))
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}


def test_unreadable_retry_message_is_dead_lettered_not_dropped(env: dict[str, str]) -> None:
    event = sample("retry-sqs.json")
    event["Records"][0]["body"] = "{broken"
    result = function("RetryFunction")(event, LocalLambdaContext("RetryFunction", 30))
    assert result == {"batchItemFailures": []}
    [letter] = queue_bodies(env["RELAY_DLQ_URL"])
    assert (letter["reason"], letter["raw_body"]) == ("unreadable_message", "{broken")


@pytest.mark.parametrize(
    ("event", "status", "message"),
    [
        (request("GET", "idfa=A7071198-3848-40A5-B3D0-94578D9B1234&platform=ios"), 401, "missing relay token"),
        (request("GET", "token=wrong&platform=ios"), 401, "invalid relay token"),
        (request("POST", f"token={SAMPLE_TOKEN}", b"{oops"), 400, "not valid JSON"),
        (request("POST", f"token={SAMPLE_TOKEN}", b"a,b", "text/csv"), 415, "text/csv"),
        (request("POST", f"token={SAMPLE_TOKEN}", b"{" + b" " * 70_000 + b"}"), 413, "exceeds"),
        (
            request("GET", f"token={SAMPLE_TOKEN}&event_type=install&platform=ios&idfa={{idfa}}"),
            422,
            "no usable idfa or idfv and no user id",
        ),
        (request("GET", f"token={SAMPLE_TOKEN}&event_type=teleport&platform=ios"), 400, "teleport"),
    ],
    ids=["no-token", "wrong-token", "bad-json", "csv", "too-large", "macro-idfa", "unknown-kind"],
)
def test_bad_requests_get_a_json_error_and_send_nothing(
    env: dict[str, str], sink: AmplitudeSink, event: dict[str, Any], status: int, message: str
) -> None:
    got_status, body = invoke("AppsFlyerFunction", event)
    assert got_status == status
    assert message in body["error"]
    assert sink.requests_seen() == 0
    assert queue_bodies(env["RELAY_RETRY_QUEUE_URL"]) == []


def test_logs_hold_no_token_key_or_advertising_id(
    env: dict[str, str], sink: AmplitudeSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="postback-relay")
    sink.faults = FaultPlan.script(["429"])
    invoke("AppsFlyerFunction", sample("appsflyer-install-ios-post.json"))
    invoke("AppsFlyerFunction", request("GET", "token=wrong"))
    # Format the records exactly as CloudWatch would receive them (JSON, with every extra key).
    logs = "\n".join(logger.registered_formatter.format(record) for record in caplog.records)
    assert "queued for retry" in logs
    for secret in (
        SAMPLE_TOKEN,
        "wrong",
        env["AMPLITUDE_API_KEY"],
        "A7071198-3848-40A5-B3D0-94578D9B1234",
        "868049A3-4B2F-4A11-9B00-CFFC36215678",
        "user-100245",
        "203.0.113.42",
    ):
        assert secret not in logs


def test_source_ip_allowlist_refuses_other_addresses(
    env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAY_ALLOWED_CIDRS", "185.182.224.0/22, 2a05:d018::/32")
    reset_runtime()
    allowed = sample("appsflyer-install-ios-post.json")  # sourceIp 185.182.224.10
    assert invoke("AppsFlyerFunction", allowed)[0] == 200
    stranger = deepcopy(allowed)
    stranger["requestContext"]["http"]["sourceIp"] = "203.0.113.9"
    status, body = invoke("AppsFlyerFunction", stranger)
    assert (status, body["error"]) == (403, "source address not allowed for this partner")


def test_partner_token_header_is_accepted_when_configured(
    env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = sample("appsflyer-install-ios-post.json")
    event["rawQueryString"] = ""
    event.pop("queryStringParameters", None)
    event["headers"]["x-appsflyer-token"] = SAMPLE_TOKEN
    assert invoke("AppsFlyerFunction", event)[0] == 401
    monkeypatch.setenv("RELAY_PARTNER_TOKEN_HEADER", "X-AppsFlyer-Token")
    reset_runtime()
    assert invoke("AppsFlyerFunction", event)[0] == 200


def test_retry_function_hands_records_back_when_time_runs_short(env: dict[str, str], sink: AmplitudeSink) -> None:
    event = sample("retry-sqs.json")
    # 2 s left, a retry attempt may take AMPLITUDE_RETRY_TIMEOUT_S (3 s) + 1: not started, returned to SQS.
    result = function("RetryFunction")(event, LocalLambdaContext("RetryFunction", 2))
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert sink.requests_seen() == 0
