"""The erasure fence (fence.py) as the retry consumer meets it, on moto's SQS and DynamoDB: what it
costs a record, what it fences a call by, what happens when forget marks a person during the very
attempt, and when the fence cannot be read."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
import time_machine

from postback_relay.amplitude.client import Outcome, Verdict
from postback_relay.aws import client
from postback_relay.delivery import FENCE_RETRY_DELAY_S, Delivery, Status
from postback_relay.fence import ErasureFence, call_hashes
from postback_relay.messages import RetryMessage
from postback_relay.models.amplitude import AmplitudeCall
from postback_relay.privacy import person_hash, postback_hash
from postback_relay.queues import DeadLetterQueue, RetryQueue
from postback_relay.runtime import get_delivery, reset_runtime
from postback_relay_tools.local.amplitude_sink import AmplitudeSink
from tests.conftest import queue_bodies
from tests.integration.support import consume

KEY = "fence-test-key"
IDFA, IDFV, USER = "6D92078A-8246-4BA4-AE5B-76104861E7DC", "3F2504E0-4F89-11D3-9A0C-0305E82C3301", "user-fenced-7"
POSTBACK = "a" * 40


def attribution(postback_id: str = POSTBACK) -> AmplitudeCall:
    return AmplitudeCall(
        endpoint="attribution",
        insert_id=f"appsflyer-attribution-{postback_id}",
        payload={"event_type": "[AppsFlyer] Install", "platform": "ios", "idfa": IDFA, "idfv": IDFV},
    )


@pytest.fixture
def fenced_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("RELAY_HASH_SALT", KEY)
    reset_runtime()
    return env


def test_a_call_is_fenced_by_each_id_it_names_and_by_its_postback() -> None:
    assert call_hashes(KEY, attribution()) == {
        person_hash(KEY, "device", IDFA),
        person_hash(KEY, "device", IDFV.lower()),  # a device id whatever its case, as forget hashes it
        postback_hash(KEY, POSTBACK),
    }
    events = AmplitudeCall(
        endpoint="httpapi_batch",
        insert_id="tracker-events-" + "b" * 40,
        payload={
            "events": [{"event_type": "purchase", "user_id": f" {USER} ", "device_id": IDFV}, {"event_type": "x"}]
        },
    )
    assert call_hashes(KEY, events) >= {person_hash(KEY, "user", USER), person_hash(KEY, "device", IDFV)}


def test_each_record_costs_one_read_of_the_fence_and_a_delivered_one_no_more(
    fenced_env: dict[str, str], sink: AmplitudeSink
) -> None:
    reads: list[int] = []

    def count_keys(params: dict[str, Any], **_: Any) -> None:
        reads.extend(len(request["Keys"]) for request in params["RequestItems"].values())

    client("dynamodb", "hot_path").meta.events.register("provide-client-params.dynamodb.BatchGetItem", count_keys)
    queue = RetryQueue(fenced_env["RELAY_RETRY_QUEUE_URL"])
    for index in range(3):
        queue.put(RetryMessage(partner="appsflyer", call=attribution(f"{index:040d}"), received_at_ms=1), 0)
    assert consume(fenced_env["RELAY_RETRY_QUEUE_URL"]) == {"received": 3, "failed": 0}
    assert len(sink.received("attribution")) == 3
    assert reads == [3, 3, 3]  # one BatchGetItem per record, of IDFA, IDFV and postback


class MarkedDuringTheAttempt:
    """Amplitude refuses the call (400) while, at that moment, forget marks its person."""

    def __init__(self, fence: ErasureFence) -> None:
        self.fence, self.sent = fence, 0

    def send(self, call: AmplitudeCall, timeout_s: float) -> Outcome:
        self.sent += 1
        self.fence.mark({person_hash(KEY, "device", IDFA)}, int(time.time() * 1000))
        return Outcome(Verdict.REJECTED, 400, "HTTP 400")


def test_a_person_erased_during_the_attempt_leaves_no_dead_letter(fenced_env: dict[str, str]) -> None:
    settings = get_delivery().settings
    fence = ErasureFence(settings.idempotency_table, KEY, boto3.client("dynamodb"))
    amplitude = MarkedDuringTheAttempt(fence)
    delivery = Delivery(amplitude, settings, RetryQueue(), DeadLetterQueue())  # type: ignore[arg-type]
    message = RetryMessage(partner="appsflyer", call=attribution(), received_at_ms=int(time.time() * 1000) - 1)
    settled = delivery.redeliver(message, fence.erased)
    assert (settled.status, amplitude.sent) == (Status.ERASED, 1)
    assert queue_bodies(fenced_env["RELAY_DLQ_URL"]) == []  # the letter would have outlived the erasure
    # Unfenced, the same refusal is dead-lettered with its reason.
    other = message.model_copy(update={"call": attribution("c" * 40).model_copy(update={"payload": {"idfa": "x"}})})
    assert Delivery(amplitude, settings, RetryQueue(), DeadLetterQueue()).redeliver(other, fence.erased).status is (  # type: ignore[arg-type]
        Status.DEAD_LETTERED
    )
    [letter] = queue_bodies(fenced_env["RELAY_DLQ_URL"])
    assert letter["reason"] == "rejected"


def test_a_fence_that_cannot_be_read_sends_nothing_and_keeps_the_call_owed(
    fenced_env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not sent unchecked, and not failed either (five failed receives would have SQS redrive it to
    the DLQ): back on the queue for FENCE_RETRY_DELAY_S, no attempt counted; past the horizon, a
    dead letter with why."""
    monkeypatch.setenv("RELAY_IDEMPOTENCY_TABLE", "no-such-table")  # the idempotency table is down too
    reset_runtime()
    url = fenced_env["RELAY_RETRY_QUEUE_URL"]
    now_ms = int(time.time() * 1000)
    owed_message = RetryMessage(partner="appsflyer", call=attribution(), attempts=2, received_at_ms=now_ms)
    RetryQueue(url).put(owed_message, 0)
    assert consume(url) == {"received": 1, "failed": 0}
    assert sink.requests_seen() == 0
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"  # still owed, due again in 300 s
    with time_machine.travel(time.time() + FENCE_RETRY_DELAY_S + 1, tick=False):
        [owed] = queue_bodies(url)
    assert (owed["attempts"], owed["call"], owed["received_at_ms"]) == (2, attribution().model_dump(), now_ms)
    assert owed["delivery_id"] != owed_message.delivery_id  # a new delivery: its own idempotency key

    settings = get_delivery().settings
    late = owed_message.model_copy(update={"received_at_ms": now_ms - settings.retry_horizon_s * 1000})
    RetryQueue(url).put(late, 0)
    assert consume(url) == {"received": 1, "failed": 0}
    [letter] = queue_bodies(fenced_env["RELAY_DLQ_URL"])
    assert (letter["reason"], letter["error"]) == (
        "max_attempts",
        "the erasure fence could not be read: ResourceNotFoundException",
    )
    assert sink.requests_seen() == 0
