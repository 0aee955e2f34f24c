"""What more than one integration test module uses: the Lambda handlers invoked as AWS invokes
them on the events/ samples, the local stack over HTTP and through the CLI, one poll of the retry
queue, and dead letters to list and export. Not a test module: pytest collects nothing here
(tests/integration/__init__.py has pytest rewrite its asserts all the same)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from copy import deepcopy
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from postback_relay.messages import DeadLetter, DeadLetterReason
from postback_relay.models.amplitude import AmplitudeCall
from postback_relay.queues import DeadLetterQueue
from postback_relay.retry import handle_retry_batch
from postback_relay_tools.cli import main
from postback_relay_tools.local.amplitude_sink import AmplitudeSink
from postback_relay_tools.local.events import LocalLambdaContext, SqsMessage, http_api_event, lambda_context, sqs_event
from postback_relay_tools.local.stack import LocalStack
from postback_relay_tools.local.template import load_template
from tests.conftest import API_KEY, ROOT, TOKEN, fixture_json

# --------------------------------------------------------------------------------------------
# The Lambda handlers on the events/ samples
# --------------------------------------------------------------------------------------------

EVENTS = ROOT / "events"
# The samples' RELAY_TOKENS (`sam local invoke --env-vars events/env.json`): every route the same token.
SAMPLE_TOKENS = json.loads((EVENTS / "env.json").read_text())["Parameters"]["RELAY_TOKENS"]
SAMPLE_TOKEN = json.loads(SAMPLE_TOKENS)["appsflyer"][0]
TEMPLATE = load_template(ROOT / "template.yaml")


@cache
def function(logical_id: str) -> Any:
    [spec] = {route.function for route in TEMPLATE.routes if route.function.logical_id == logical_id} or {
        consumer.function for consumer in TEMPLATE.consumers if consumer.function.logical_id == logical_id
    }
    return spec.load()


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def invoke(name: str, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    result = function(name)(event, LocalLambdaContext(name, timeout_s=5))
    return result["statusCode"], json.loads(result["body"])


# Partner postbacks; the tracker samples need a registered app (tests/tracker/test_tracker_samples.py).
ROUTE_EVENTS = sorted(
    path.name
    for path in EVENTS.glob("*.json")
    if path.name not in ("env.json", "retry-sqs.json") and not path.name.startswith("tracker-")
)


def route_for(event: dict[str, Any]) -> Any:
    [route] = [route for route in TEMPLATE.routes if route.route_key == event["routeKey"]]
    return route


def request(method: str, query: str = "", body: bytes = b"", content_type: str = "application/json") -> dict[str, Any]:
    headers = {"content-type": content_type} if body else {}
    return http_api_event(
        method,
        "/v1/postbacks/appsflyer",
        query=query,
        body=body,
        headers=headers,
        route_key=f"{method} /v1/postbacks/appsflyer",
    )


# --------------------------------------------------------------------------------------------
# The local stack: `serve` over HTTP, the CLI against its state file
# --------------------------------------------------------------------------------------------

POSTBACK_URL = "/v1/postbacks/appsflyer"
# Variables another shell would not have: the CLI must find the stack through its state file.
STACK_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "RELAY_DLQ_URL",
    "RELAY_RETRY_QUEUE_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)


def local_stack(tmp_path: Path, sink: AmplitudeSink, **environment: str) -> LocalStack:
    return LocalStack(
        ROOT / "template.yaml",
        port=0,
        amplitude_url=sink.url,
        state_file=tmp_path / "serve.json",
        environment={
            "AMPLITUDE_API_KEY": API_KEY,
            "RELAY_TOKEN": TOKEN,
            "RELAY_RETRY_BASE_DELAY_S": "0",
            **environment,
        },
    )


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if name not in STACK_VARIABLES}
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "postback_relay_tools.cli", *args, "--state-file", str(tmp_path / "serve.json")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )


def realistic_postbacks(count: int) -> list[dict[str, Any]]:
    """Distinct AppsFlyer postbacks in the shapes of the fixtures: installs on both platforms,
    re-engagements, organic installs and purchases, each with its own device and user."""
    templates = [
        fixture_json("appsflyer", f"{name}.json")
        for name in ("install_ios", "install_android", "reengagement", "organic_install", "inapp_purchase")
    ]
    postbacks = []
    for index in range(count):
        postback = deepcopy(templates[index % len(templates)])
        suffix = f"{index:012d}"
        for key in ("idfa", "idfv"):
            if postback.get(key):
                postback[key] = postback[key][:-12] + suffix
        if postback.get("advertising_id"):
            postback["advertising_id"] = postback["advertising_id"][:-12] + suffix
        postback["customer_user_id"] = f"user-{index:05d}"
        postback["event_time"] = f"2026-11-20 13:{index // 60:02d}:{index % 60:02d}.000"
        postbacks.append(postback)
    return postbacks


def post(stack: LocalStack, postback: dict[str, Any], token: str = TOKEN) -> requests.Response:
    return requests.post(f"{stack.url}{POSTBACK_URL}", params={"token": token}, json=postback, timeout=10)


# --------------------------------------------------------------------------------------------
# The retry queue, polled as its SQS event source polls it
# --------------------------------------------------------------------------------------------


def consume(queue_url: str) -> dict[str, Any]:
    """One poll of the retry queue through the retry handler, deleting what it settled (as the SQS
    event source does)."""
    sqs = boto3.client("sqs")
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    batch = [SqsMessage(m["MessageId"], m["ReceiptHandle"], m["Body"]) for m in received]
    result = handle_retry_batch(sqs_event(batch, "arn:aws:sqs:us-east-1:1:retry"), lambda_context("RetryFunction", 60))
    failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
    for message in batch:
        if message.message_id not in failed:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message.receipt_handle)
    return {"received": len(batch), "failed": len(failed)}


# --------------------------------------------------------------------------------------------
# Dead letters, and the CLI's `dlq` commands
# --------------------------------------------------------------------------------------------


def call(insert_id: str) -> AmplitudeCall:
    return AmplitudeCall(
        endpoint="attribution",
        insert_id=insert_id,
        payload={
            "event_type": "[AppsFlyer] Install",
            "platform": "ios",
            "idfa": "6D92078A-8246-4BA4-AE5B-76104861E7DC",
        },
    )


def put_letters(dlq_url: str) -> None:
    """A rejected and an exhausted letter, and a body nobody can read."""
    queue = DeadLetterQueue(dlq_url)
    for reason, status, partner, insert_id, received_at_ms in (
        (DeadLetterReason.REJECTED, 400, "appsflyer", "rejected-1", 1_000),
        (DeadLetterReason.MAX_ATTEMPTS, 503, "adjust", "exhausted-1", 3_000),
    ):
        queue.put(
            DeadLetter(
                reason=reason,
                status=status,
                error=f"HTTP {status}",
                attempts=3,
                partner=partner,
                call=call(insert_id),
                received_at_ms=received_at_ms,
                dead_lettered_at_ms=received_at_ms + 1_000,
            )
        )
    queue.send_body("not json at all")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def listed(capsys: pytest.CaptureFixture[str], flags: list[str]) -> list[dict[str, Any]]:
    code, out, _ = run(capsys, "dlq", "list", "--json", *flags)
    assert code == 0
    records: list[dict[str, Any]] = json.loads(out)
    return records


def objects(bucket: str) -> dict[str, list[dict[str, Any]]]:
    """Every object in the bucket, as its JSON lines."""
    s3 = boto3.client("s3")
    keys = [entry["Key"] for entry in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {
        key: [
            json.loads(line)
            for line in gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).splitlines()
        ]
        for key in keys
    }


def assert_one_line_error(err: str, fragment: str) -> None:
    assert err.startswith("error: ")
    assert fragment in err
    assert err.count("\n") == 1  # one line, no traceback
