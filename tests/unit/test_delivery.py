"""After every attempt: delivered, queued with backoff, or dead-lettered with a reason. Never dropped."""

from __future__ import annotations

import random

import pytest

from postback_relay.delivery import Status, backoff_delay_s
from postback_relay.messages import DeadLetter, RetryMessage
from postback_relay.models.amplitude import AmplitudeCall
from postback_relay.queues import RetryQueue
from postback_relay.runtime import get_delivery, reset_runtime
from postback_relay_tools.local.amplitude_sink import AmplitudeSink, FaultPlan
from tests.conftest import queue_bodies

pytestmark = pytest.mark.slow  # a local stack, servers or many moto calls: not in make test-quick

CALL = AmplitudeCall(
    endpoint="attribution",
    insert_id="appsflyer-attribution-k1",
    payload={
        "event_type": "[AppsFlyer] Install",
        "platform": "android",
        "adid": "38400000-8cf0-11bd-b23e-10b96e40000d",
    },
)


def test_delivered_on_first_attempt_leaves_no_message(relay_env: dict[str, str], sink: AmplitudeSink) -> None:
    [settled] = get_delivery().deliver_postback("appsflyer", [CALL], budget_s=2)
    assert (settled.status, settled.attempts) == (Status.DELIVERED, 1)
    assert queue_bodies(relay_env["RELAY_RETRY_QUEUE_URL"]) == []
    assert len(sink.received("attribution")) == 1


@pytest.mark.parametrize("fault", ["429", "500", "503", "drop"])
def test_retryable_answers_go_to_the_retry_queue(relay_env: dict[str, str], sink: AmplitudeSink, fault: str) -> None:
    sink.faults = FaultPlan.script([fault])
    [settled] = get_delivery().deliver_postback("appsflyer", [CALL], budget_s=2)
    assert settled.status is Status.QUEUED
    [queued] = queue_bodies(relay_env["RELAY_RETRY_QUEUE_URL"])
    message = RetryMessage.model_validate(queued)
    assert (message.call, message.attempts, message.partner) == (CALL, 1, "appsflyer")
    assert queue_bodies(relay_env["RELAY_DLQ_URL"]) == []


def test_rejection_goes_to_the_dead_letter_queue_with_its_reason(
    relay_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = CALL.model_copy(update={"payload": {**CALL.payload, "platform": "web"}})
    [settled] = get_delivery().deliver_postback("appsflyer", [bad], budget_s=2)
    assert settled.status is Status.DEAD_LETTERED
    [letter] = [DeadLetter.model_validate(b) for b in queue_bodies(relay_env["RELAY_DLQ_URL"])]
    assert (letter.reason, letter.status, letter.attempts, letter.partner) == ("rejected", 400, 1, "appsflyer")
    assert letter.call == bad
    assert letter.error


def test_out_of_budget_calls_are_queued_without_an_attempt(relay_env: dict[str, str], sink: AmplitudeSink) -> None:
    [settled] = get_delivery().deliver_postback("appsflyer", [CALL], budget_s=0)
    assert (settled.status, settled.attempts) == (Status.QUEUED, 0)
    assert sink.requests_seen() == 0
    [queued] = queue_bodies(relay_env["RELAY_RETRY_QUEUE_URL"])
    assert queued["attempts"] == 0


def test_a_call_still_failing_at_the_horizon_dead_letters(relay_env: dict[str, str], sink: AmplitudeSink) -> None:
    sink.faults = FaultPlan.script(["503"])
    delivery = get_delivery()
    received = delivery.now_ms() - delivery.settings.retry_horizon_s * 1000
    settled = delivery.redeliver(RetryMessage(partner="appsflyer", call=CALL, attempts=104, received_at_ms=received))
    assert (settled.status, settled.attempts) == (Status.DEAD_LETTERED, 105)
    [letter] = queue_bodies(relay_env["RELAY_DLQ_URL"])
    assert (letter["reason"], letter["status"], letter["attempts"]) == ("max_attempts", 503, 105)


def test_the_horizon_is_28_hours_and_attempts_are_not_capped_by_default(relay_env: dict[str, str]) -> None:
    settings = get_delivery().settings
    assert (settings.retry_horizon_s, settings.max_attempts) == (28 * 3600, 0)


def test_an_attempt_cap_when_set_dead_letters(
    relay_env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAY_MAX_ATTEMPTS", "3")
    reset_runtime()
    sink.faults = FaultPlan.script(["503"])
    delivery = get_delivery()
    settled = delivery.redeliver(
        RetryMessage(partner="appsflyer", call=CALL, attempts=2, received_at_ms=delivery.now_ms())
    )
    assert (settled.status, settled.attempts) == (Status.DEAD_LETTERED, 3)
    [letter] = queue_bodies(relay_env["RELAY_DLQ_URL"])
    assert (letter["reason"], letter["attempts"]) == ("max_attempts", 3)


def test_a_retry_delivered_later_is_delivered_once(relay_env: dict[str, str], sink: AmplitudeSink) -> None:
    message = RetryMessage(partner="appsflyer", call=CALL, attempts=3, received_at_ms=1)
    assert get_delivery().redeliver(message).status is Status.DELIVERED
    assert len(sink.received("attribution")) == 1
    assert queue_bodies(relay_env["RELAY_RETRY_QUEUE_URL"]) == []


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[RetryMessage, int]]:
    """What was put on the retry queue, with its delay (delayed SQS messages cannot be received yet)."""
    seen: list[tuple[RetryMessage, int]] = []
    original = RetryQueue.put

    def spy(queue: RetryQueue, message: RetryMessage, delay_s: int) -> str:
        seen.append((message, delay_s))
        return original(queue, message, delay_s)

    monkeypatch.setattr(RetryQueue, "put", spy)
    return seen


def test_a_message_not_yet_due_is_requeued_without_an_attempt(
    relay_env: dict[str, str], sink: AmplitudeSink, enqueued: list[tuple[RetryMessage, int]]
) -> None:
    delivery = get_delivery()
    due = delivery.now_ms() + 3_600_000
    message = RetryMessage(partner="appsflyer", call=CALL, attempts=2, received_at_ms=1, not_before_ms=due)
    assert delivery.redeliver(message).status is Status.QUEUED
    assert sink.requests_seen() == 0
    [(queued, delay)] = enqueued
    assert (queued.attempts, queued.not_before_ms, delay) == (2, due, 900)
    assert RetryQueue().depth()["delayed"] == 1


def test_retry_after_beyond_the_sqs_cap_sets_not_before(
    relay_env: dict[str, str], sink: AmplitudeSink, enqueued: list[tuple[RetryMessage, int]]
) -> None:
    sink.faults = FaultPlan.script(["429-retry-after"], retry_after_s=3600)
    delivery = get_delivery()
    before = delivery.now_ms()
    delivery.deliver_postback("appsflyer", [CALL], budget_s=2)
    [(queued, delay)] = enqueued
    assert queued.not_before_ms is not None
    assert queued.not_before_ms >= before + 3_600_000
    assert delay == 900


def test_backoff_doubles_up_to_the_sqs_cap_with_bounded_jitter() -> None:
    rng = random.Random(7)
    for attempts, floor in [(1, 30), (2, 60), (3, 120), (5, 480), (6, 900), (12, 900)]:
        delay = backoff_delay_s(attempts, 30, None, rng)
        assert floor <= delay <= floor * 1.2
    assert backoff_delay_s(1, 30, 100, rng) == 100  # Retry-After longer than the backoff wins
    assert backoff_delay_s(1, 30, 5, rng) >= 30  # a shorter one does not shorten it


def test_the_last_retry_lands_on_the_horizon_not_after_it(
    relay_env: dict[str, str],
    sink: AmplitudeSink,
    enqueued: list[tuple[RetryMessage, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RELAY_RETRY_BASE_DELAY_S", "30")
    reset_runtime()
    sink.faults = FaultPlan.script(["503"])
    delivery = get_delivery()
    # 100 s of the horizon left; the back-off at its cap would wait 900 s.
    received = delivery.now_ms() - (delivery.settings.retry_horizon_s - 100) * 1000
    message = RetryMessage(partner="appsflyer", call=CALL, attempts=20, received_at_ms=received)
    assert delivery.redeliver(message).status is Status.QUEUED
    [(queued, delay)] = enqueued
    assert 99 <= delay <= 100
    assert queued.not_before_ms is None


def test_retry_after_past_the_horizon_dead_letters_with_why(
    relay_env: dict[str, str], sink: AmplitudeSink, enqueued: list[tuple[RetryMessage, int]]
) -> None:
    sink.faults = FaultPlan.script(["429-retry-after"], retry_after_s=2 * 86400)
    delivery = get_delivery()
    message = RetryMessage(partner="appsflyer", call=CALL, attempts=1, received_at_ms=delivery.now_ms())
    assert delivery.redeliver(message).status is Status.DEAD_LETTERED
    assert enqueued == []
    [letter] = queue_bodies(relay_env["RELAY_DLQ_URL"])
    assert (letter["reason"], letter["status"]) == ("max_attempts", 429)
    assert "past the retry horizon" in letter["error"]


def test_a_replayed_call_gets_a_fresh_horizon(relay_env: dict[str, str], sink: AmplitudeSink) -> None:
    sink.faults = FaultPlan.script(["503"])
    delivery = get_delivery()
    long_ago = delivery.now_ms() - 40 * 3600 * 1000
    message = RetryMessage(
        partner="appsflyer", call=CALL, attempts=0, received_at_ms=long_ago, horizon_from_ms=delivery.now_ms()
    )
    assert delivery.redeliver(message).status is Status.QUEUED
