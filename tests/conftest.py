"""Shared fixtures: a loopback stand-in for Amplitude, moto for SQS, and the relay's environment."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from postback_relay.messages import DeadLetter
from postback_relay.queues import DeadLetterQueue
from postback_relay.runtime import reset_runtime
from postback_relay_tools.local.amplitude_sink import AmplitudeSink
from postback_relay_tools.local.stack import LocalStack, tokens_for_every_route

# Tests that check what a postback becomes at Amplitude expect its first attempt to happen. A fresh
# stack's first postback also creates its boto3 clients and imports, all inside the one 800 ms
# deadline; on a loaded two-core machine that can run out, which is a correct 202 "queued", not what
# those tests check. So the stacks tests start get a wider deadline (the shell's value wins over the
# template's, as in `serve`); tests about the deadline set their own.
os.environ.setdefault("RELAY_SYNC_BUDGET_MS", "3000")

ROOT = Path(__file__).resolve().parents[1]

# Whole suites that start the local stack, real loopback servers, subprocesses or thousands of
# inputs: `make test` runs them, `make test-quick` (-m "not slow") leaves them out. Modules elsewhere
# that are slow say so themselves (pytestmark = pytest.mark.slow).
SLOW_SUITES = ("integration", "chaos", "fuzz", "simulated")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.relative_to(ROOT).parts
        if len(parts) > 1 and parts[0] == "tests" and parts[1] in SLOW_SUITES:
            item.add_marker(pytest.mark.slow)


FIXTURES = Path(__file__).resolve().parent / "fixtures"
API_KEY = "test-amplitude-key"
TOKEN = "test-relay-token"
# RELAY_TOKENS giving every partner's route TOKEN explicitly: most tests are about something else.
# tests/integration/test_partner_credentials.py gives each its own.
EVERY_ROUTE_TOKEN = json.dumps(tokens_for_every_route(lambda: TOKEN))


def fixture_json(*parts: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURES.joinpath(*parts).read_text())
    return data


@pytest.fixture
def sink() -> Iterator[AmplitudeSink]:
    with AmplitudeSink(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """moto's in-memory SQS with the template's two queues; yields their URLs."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield make_aws_resources()


def make_aws_resources() -> dict[str, str]:
    """The template's two queues, idempotency table and archive bucket, in the active moto mock."""
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    retry = sqs.create_queue(
        QueueName="retry",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})},
    )["QueueUrl"]
    boto3.client("dynamodb").create_table(
        TableName="idempotency",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("s3").create_bucket(Bucket="postback-archive")
    return {"retry": retry, "dlq": dlq, "table": "idempotency", "bucket": "postback-archive"}


@pytest.fixture
def relay_env(monkeypatch: pytest.MonkeyPatch, sink: AmplitudeSink, aws: dict[str, str]) -> Iterator[dict[str, str]]:
    """The relay configured against the stand-in Amplitude and moto, fresh singletons."""
    values = {
        "AMPLITUDE_API_URL": sink.url,
        "AMPLITUDE_API_KEY": API_KEY,
        "RELAY_TOKENS": EVERY_ROUTE_TOKEN,
        "RELAY_RETRY_QUEUE_URL": aws["retry"],
        "RELAY_DLQ_URL": aws["dlq"],
        "RELAY_IDEMPOTENCY_TABLE": aws["table"],
        "RELAY_ARCHIVE_BUCKET": aws["bucket"],
        "RELAY_RETRY_BASE_DELAY_S": "0",
        "RELAY_SYNC_BUDGET_MS": "2000",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    reset_runtime()
    yield values
    reset_runtime()


def queue_bodies(url: str) -> list[dict[str, Any]]:
    """Every message on a queue (consumed: tests only look once)."""
    sqs = boto3.client("sqs")
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@contextmanager
def stack_with_stand_in(
    state_file: Path, environment: dict[str, str] | None = None, **options: Any
) -> Iterator[tuple[LocalStack, AmplitudeSink]]:
    """The local stack (`serve`) on a free port, sending to a strict loopback stand-in for Amplitude."""
    with (
        AmplitudeSink(api_key=API_KEY) as sink,
        LocalStack(
            ROOT / "template.yaml",
            port=0,
            amplitude_url=sink.url,
            state_file=state_file,
            environment={"AMPLITUDE_API_KEY": API_KEY, "RELAY_TOKENS": EVERY_ROUTE_TOKEN, **(environment or {})},
            **options,
        ) as stack,
    ):
        yield stack, sink


def dead_letters_of(stack: LocalStack) -> list[DeadLetter]:
    """Every letter on the stack's DLQ, left in place."""
    queue = DeadLetterQueue(stack.queue_urls["DeadLetterQueue"])
    messages = list(queue.drain())
    queue.release([message.receipt_handle for message in messages])
    return [DeadLetter.from_queue_body(message.body, now_ms=0) for message in messages]
