"""Nothing lost, nothing twice: idempotency on DynamoDB (moto), the raw archive in S3, and replay."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import boto3
import pytest

from postback_relay.errors import InProgress
from postback_relay.idempotency import Idempotency
from postback_relay.messages import RetryMessage
from postback_relay.models.amplitude import AmplitudeCall
from postback_relay.retry import handle_retry_batch
from postback_relay.runtime import reset_runtime
from postback_relay_tools.cli import main
from postback_relay_tools.local.amplitude_sink import AmplitudeSink, FaultPlan
from postback_relay_tools.local.events import SqsMessage, lambda_context, sqs_event
from tests.integration.support import SAMPLE_TOKEN, invoke, sample

INSTALL = "appsflyer-install-ios-post.json"
REDELIVERED = AmplitudeCall(
    endpoint="attribution",
    insert_id="appsflyer-attribution-redelivered",
    payload={"event_type": "[AppsFlyer] Install", "platform": "ios", "idfa": "6D92078A-8246-4BA4-AE5B-76104861E7DC"},
)


def test_a_resent_postback_yields_one_amplitude_event_and_the_first_answer(
    env: dict[str, str], sink: AmplitudeSink
) -> None:
    first = invoke("AppsFlyerFunction", sample(INSTALL))
    resend = invoke("AppsFlyerFunction", sample(INSTALL))
    assert first == resend
    assert len(sink.received("attribution")) == 1
    assert len(sink.received("identify")) == 1


def test_a_different_postback_is_not_mistaken_for_a_resend(env: dict[str, str], sink: AmplitudeSink) -> None:
    invoke("AppsFlyerFunction", sample(INSTALL))
    other = sample(INSTALL)
    body = json.loads(other["body"])
    body["event_time"] = "2026-03-14 09:27:00.000"
    other["body"] = json.dumps(body)
    invoke("AppsFlyerFunction", other)
    assert len(sink.received("attribution")) == 2


def test_two_postbacks_that_normalise_alike_are_both_delivered(env: dict[str, str], sink: AmplitudeSink) -> None:
    """One tvOS and one iPadOS install, otherwise alike: the relay reads both platforms as "ios".
    Keyed on the normalised fields, the second got the first's answer and was never sent."""
    answers = []
    for platform in ("tvos", "ipados"):
        event = sample(INSTALL)
        event["body"] = json.dumps({**json.loads(event["body"]), "platform": platform})
        answers.append(invoke("AppsFlyerFunction", event))
    assert answers[0][1]["postback_id"] != answers[1][1]["postback_id"]
    assert len(sink.received("attribution")) == 2


def test_a_failed_attempt_does_not_block_the_resend(
    env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAY_RETRY_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/missing")
    reset_runtime()
    sink.faults = FaultPlan.script(["503"])
    status, body = invoke("AppsFlyerFunction", sample(INSTALL))
    assert status == 503  # not accepted: the partner may resend
    monkeypatch.setenv("RELAY_RETRY_QUEUE_URL", env["RELAY_RETRY_QUEUE_URL"])
    reset_runtime()
    status, body = invoke("AppsFlyerFunction", sample(INSTALL))
    assert (status, body["status"]) == (200, "delivered")


def test_in_progress_records_expire_with_the_invocation_and_refuse_a_concurrent_resend(
    env: dict[str, str],
) -> None:
    idempotency = Idempotency(env["RELAY_IDEMPOTENCY_TABLE"], ttl_s=86_400)
    context = lambda_context("AppsFlyerFunction", timeout_s=4.0)  # 4 s left in this invocation
    seen: dict[str, Any] = {}

    def work() -> dict[str, Any]:
        item = boto3.client("dynamodb").scan(TableName=env["RELAY_IDEMPOTENCY_TABLE"])["Items"][0]
        seen["in_progress_expiry_ms"] = int(item["in_progress_expiration"]["N"])
        with pytest.raises(InProgress):
            idempotency.once("k1", lambda: {"never": True}, context)  # the partner resends meanwhile
        return {"done": True}

    started_ms = time.time() * 1000
    assert idempotency.once("k1", work, context) == {"done": True}
    # Not the 24 h TTL: the invocation's remaining time, so a timed-out record frees itself.
    assert started_ms + 3_000 <= seen["in_progress_expiry_ms"] <= started_ms + 6_000


def test_an_sqs_redelivery_of_a_delivered_retry_is_not_sent_again(env: dict[str, str], sink: AmplitudeSink) -> None:
    message = RetryMessage(
        partner="appsflyer",
        call=REDELIVERED,
        attempts=2,
        received_at_ms=1,
    )
    event = sqs_event([SqsMessage("m-1", "r-1", message.model_dump_json())], "arn:aws:sqs:us-east-1:1:retry")
    context = lambda_context("RetryFunction", 30)
    assert handle_retry_batch(event, context) == {"batchItemFailures": []}
    assert handle_retry_batch(event, context) == {"batchItemFailures": []}  # SQS delivers it again
    assert len(sink.received("attribution")) == 1


def archived(bucket: str) -> list[tuple[str, dict[str, Any]]]:
    s3 = boto3.client("s3")
    keys = [entry["Key"] for entry in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return [(key, json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))) for key in keys]


def test_every_accepted_postback_is_archived_once_without_the_token(env: dict[str, str], sink: AmplitudeSink) -> None:
    invoke("AppsFlyerFunction", sample(INSTALL))
    invoke("AppsFlyerFunction", sample(INSTALL))  # resend: answered from the idempotency record
    invoke("AppsFlyerFunction", sample("appsflyer-reengagement-get.json"))
    items = archived(env["RELAY_ARCHIVE_BUCKET"])
    assert len(items) == 2
    for key, item in items:
        assert key.startswith("raw/partner=appsflyer/date=")
        assert "token" not in item["raw"]
        assert SAMPLE_TOKEN not in json.dumps(item)
    assert {item["raw"]["event_type"] for _, item in items} == {"install", "re-engagement"}


def test_replay_dry_runs_then_sends_archived_postbacks_through_the_same_mapping(
    env: dict[str, str], sink: AmplitudeSink, capsys: pytest.CaptureFixture[str]
) -> None:
    invoke("AppsFlyerFunction", sample(INSTALL))
    day = archived(env["RELAY_ARCHIVE_BUCKET"])[0][0].split("date=")[1].split("/")[0]
    sink.clear()
    source = f"s3://{env['RELAY_ARCHIVE_BUCKET']}/raw"
    assert main(["replay", "--from", source, "--partner", "appsflyer", "--since", day]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["archived"], summary["calls"], summary["mode"].startswith("dry run")) == (1, 2, True)
    assert sink.requests_seen() == 0
    assert main(["replay", "--from", source, "--partner", "appsflyer", "--since", day, "--send"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["delivered"], summary["queued"]) == (2, 0)
    [attribution] = sink.received("attribution")
    assert attribution.payload["event_properties"]["postback_id"].startswith("appsflyer-attribution-")
