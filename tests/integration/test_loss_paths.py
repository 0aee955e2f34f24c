"""Each loss path an audit found, kept as a test: before the fix each of these lost a postback the
relay had accepted, or answered it with something a partner does not retry. The retry consumer runs
on moto's SQS and DynamoDB (idempotency on), time moved with time-machine."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
import time_machine
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from postback_relay import archive, secrets
from postback_relay.aws import boto_config
from postback_relay.errors import InProgress
from postback_relay.idempotency import Idempotency
from postback_relay.messages import RetryMessage
from postback_relay.models.amplitude import AmplitudeCall
from postback_relay.queues import RetryQueue
from postback_relay.runtime import reset_runtime
from postback_relay_tools.cli import main
from postback_relay_tools.local.amplitude_sink import AmplitudeSink, FaultPlan
from postback_relay_tools.local.events import LocalLambdaContext
from tests.conftest import queue_bodies
from tests.integration.support import consume, function, sample

INSTALL = "appsflyer-install-ios-post.json"
CALL = AmplitudeCall(
    endpoint="attribution",
    insert_id="appsflyer-attribution-loss-path",
    payload={"event_type": "[AppsFlyer] Install", "platform": "ios", "idfa": "6D92078A-8246-4BA4-AE5B-76104861E7DC"},
)


def test_a_wait_past_the_sqs_delay_cap_is_sent_when_due_not_dropped(env: dict[str, str], sink: AmplitudeSink) -> None:
    """Finding 1: a requeue hop reused its idempotency key, was answered from the stored record,
    deleted by SQS, and never sent."""
    with time_machine.travel(1_796_000_000, tick=False) as clock:
        due_ms = 1_796_000_000_000 + 3_000_000  # 50 minutes ahead: past SQS's 900 s cap
        message = RetryMessage(partner="appsflyer", call=CALL, attempts=6, received_at_ms=1_795_999_000_000)
        RetryQueue().put(message.model_copy(update={"not_before_ms": due_ms}), delay_s=0)
        for _ in range(4):  # hop, hop, hop (900 s each), then due
            assert consume(env["RELAY_RETRY_QUEUE_URL"])["received"] == 1
            clock.shift(901)
        assert consume(env["RELAY_RETRY_QUEUE_URL"])["received"] == 1
    assert len(sink.received("attribution")) == 1
    assert queue_bodies(env["RELAY_RETRY_QUEUE_URL"]) == []


def test_a_second_dlq_replay_of_the_same_letters_delivers_them(env: dict[str, str], sink: AmplitudeSink) -> None:
    """Finding 2: replay reset attempts to 0, so the second replay's key was already completed."""
    queues = ["--dlq-url", env["RELAY_DLQ_URL"], "--retry-queue-url", env["RELAY_RETRY_QUEUE_URL"]]
    sink.api_key = "rotated-at-amplitude"  # every call rejected (400): straight to the DLQ
    for index in range(8):
        status, _ = invoke_install(index)
        assert status == 202
    assert main(["dlq", "replay", *queues]) == 0  # while still rejected: back in the DLQ
    consume(env["RELAY_RETRY_QUEUE_URL"])
    sink.api_key = "test-amplitude-key"  # fixed
    assert main(["dlq", "replay", *queues]) == 0
    assert consume(env["RELAY_RETRY_QUEUE_URL"])["received"] == 8
    assert len(sink.received("attribution")) == 8
    assert queue_bodies(env["RELAY_DLQ_URL"]) == []


def invoke_install(index: int) -> tuple[int, dict[str, Any]]:
    event = sample(INSTALL)
    body = json.loads(event["body"])
    body["customer_user_id"] = None  # one call each
    body["idfv"] = f"{body['idfv'][:-4]}{index:04d}"
    event["body"] = json.dumps(body)
    context = LocalLambdaContext("AppsFlyerFunction", timeout_s=5)
    result = function("AppsFlyerFunction")(event, context)
    result["remaining_ms"] = context.get_remaining_time_in_millis()
    return int(result["statusCode"]), result


def test_a_call_failing_past_the_old_75_minute_horizon_is_still_retried(
    env: dict[str, str], sink: AmplitudeSink
) -> None:
    """Finding 3: after 10 attempts (about 75 minutes) everything was dead-lettered."""
    sink.faults = FaultPlan.script(["503"])
    received_ms = int(time.time() * 1000) - 5 * 3600 * 1000
    RetryQueue().put(RetryMessage(partner="appsflyer", call=CALL, attempts=10, received_at_ms=received_ms), 0)
    consume(env["RELAY_RETRY_QUEUE_URL"])
    assert queue_bodies(env["RELAY_DLQ_URL"]) == []
    [queued] = queue_bodies(env["RELAY_RETRY_QUEUE_URL"])
    assert queued["attempts"] == 11


class _SlowStorage(BaseHTTPRequestHandler):
    """An S3 endpoint that takes 4.5 s to answer a PUT."""

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.stopping.wait(4.5)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def slow_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowStorage)
    server.daemon_threads = True
    server.stopping = threading.Event()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    client = boto3.client("s3", endpoint_url=endpoint, config=boto_config("archive"))
    monkeypatch.setattr(archive, "s3_client", lambda: client)
    yield
    server.stopping.set()  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def test_a_slow_archive_does_not_push_the_answer_past_the_function_timeout(
    env: dict[str, str], sink: AmplitudeSink, slow_s3: None
) -> None:
    """Finding 4: a 4.5 s S3 put answered in 5.3 s, past the 5 s timeout; the record stayed in progress
    and the resend got 409."""
    status, first = invoke_install(1)
    assert status in (200, 202)  # delivered, or queued when the archive's wait left no time to try
    assert first["remaining_ms"] > 0  # answered inside the 5 s the function has
    status_again, resend = invoke_install(1)
    assert (status_again, json.loads(resend["body"])) == (status, json.loads(first["body"]))  # not 409
    # The call is in exactly one place: at Amplitude, or owed on the retry queue.
    assert len(sink.received("attribution")) + len(queue_bodies(env["RELAY_RETRY_QUEUE_URL"])) == 1


def test_the_idempotency_table_down_still_delivers(env: dict[str, str], sink: AmplitudeSink) -> None:
    """Finding 5: a DynamoDB failure gave a bare 500 and nothing was attempted."""
    boto3.client("dynamodb").delete_table(TableName=env["RELAY_IDEMPOTENCY_TABLE"])
    status, result = invoke_install(2)
    assert (status, json.loads(result["body"])["status"]) == (200, "delivered")
    assert len(sink.received("attribution")) == 1


def test_the_secret_store_throttled_is_a_503_with_retry_after(
    env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 5: SSM throttling gave a bare 500."""
    monkeypatch.delenv("RELAY_TOKENS")
    monkeypatch.setenv("RELAY_TOKENS_PREFIX", "postback-relay/partner-tokens/")
    reset_runtime()
    provider = secrets._provider("ssm")
    with Stubber(provider.client) as stub:
        stub.add_client_error("get_parameter", service_error_code="ThrottlingException", http_status_code=400)
        stub.add_client_error("get_parameter", service_error_code="ThrottlingException", http_status_code=400)
        status, result = invoke_install(3)
    assert status == 503
    assert result["headers"]["Retry-After"] == "10"
    assert json.loads(result["body"])["code"] == "dependency_unavailable"
    assert sink.requests_seen() == 0


def test_a_postback_in_progress_is_a_503_with_retry_after_not_a_409(
    env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 5: a concurrent resend got 409, a 4xx partners do not retry."""

    def busy(*args: Any, **kwargs: Any) -> Any:
        raise InProgress("this postback is already being processed; resend it later")

    monkeypatch.setattr(Idempotency, "once", busy)
    status, result = invoke_install(4)
    assert status == 503
    assert result["headers"]["Retry-After"] == "5"
    assert json.loads(result["body"])["code"] == "in_progress"


def test_a_queue_failure_after_a_delivered_call_parks_the_rest_in_the_dlq(
    env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review finding: the Attribution call delivered, then the retry queue refused the Identify call;
    the 503 made the partner's resend deliver the Attribution call a second time."""
    sink.faults = FaultPlan.script(["ok", "503"])  # /attribution delivered, /identify fails

    def refuse(*args: Any, **kwargs: Any) -> str:
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "SendMessage")

    monkeypatch.setattr(RetryQueue, "put", refuse)
    context = LocalLambdaContext("AppsFlyerFunction", timeout_s=5)
    first = function("AppsFlyerFunction")(sample(INSTALL), context)
    assert (first["statusCode"], json.loads(first["body"])["status"]) == (202, "dead_lettered")
    resend = function("AppsFlyerFunction")(sample(INSTALL), LocalLambdaContext("AppsFlyerFunction", timeout_s=5))
    assert json.loads(resend["body"]) == json.loads(first["body"])
    assert len(sink.received("attribution")) == 1
    [letter] = queue_bodies(env["RELAY_DLQ_URL"])
    assert (letter["reason"], letter["call"]["endpoint"]) == ("queue_unavailable", "identify")


def test_a_duplicate_from_a_retried_send_is_delivered_once(env: dict[str, str], sink: AmplitudeSink) -> None:
    """Read-through finding: with the quick SQS timeouts a send may be retried by botocore after the
    first one arrived; keyed by SQS message id, both copies were sent (/attribution twice)."""
    message = RetryMessage(partner="appsflyer", call=CALL, attempts=1, received_at_ms=int(time.time() * 1000))
    RetryQueue().put(message, delay_s=0)
    RetryQueue().put(message, delay_s=0)  # the same body again: what a retried SendMessage leaves
    assert consume(env["RELAY_RETRY_QUEUE_URL"])["received"] == 2
    assert len(sink.received("attribution")) == 1
