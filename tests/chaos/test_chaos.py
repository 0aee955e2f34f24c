"""Chaos: thousands of postbacks through the local stack while Amplitude misbehaves, partners resend
and the retry consumer dies mid-batch. Seeded and bounded; asserts the accounting:

every distinct Amplitude call is delivered exactly once, or waits in the dead-letter queue with its
reason; none is lost; replaying the dead letters then delivers each of those exactly once.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from copy import deepcopy
from pathlib import Path
from typing import Any

import pytest
import requests

from postback_relay.messages import DeadLetter
from postback_relay_tools.local.amplitude_sink import AmplitudeSink, FaultPlan
from postback_relay_tools.local.stack import LocalStack
from postback_relay_tools.local.template import Handler
from tests.conftest import TOKEN, dead_letters_of, fixture_json, stack_with_stand_in

SEED = 20261123
# 1,200 postbacks make about 2,200 Amplitude calls before faults and resends; moto's DynamoDB
# (~8 ms a call, two per postback for idempotency) sets the pace on two cores.
POSTBACKS = 1200
RESEND_SHARE = 0.10
FAULT_RATE = 0.25
FAULT_KINDS = ("429", "429-retry-after", "500", "503", "drop", "slow")
SLOW_S = 0.6  # a "slow" answer outlasts the relay's timeouts below, then the connection drops
MAX_ATTEMPTS = 4
KILL_SHARE = 0.1  # of retry batches with more than one record


def postbacks(count: int, rng: random.Random) -> list[tuple[str, str, dict[str, Any]]]:
    """(route, method, postback): AppsFlyer JSON, Adjust GET callbacks and Branch webhooks, each unique."""
    templates = [
        ("appsflyer", "POST", fixture_json("appsflyer", "install_ios.json")),
        ("appsflyer", "POST", fixture_json("appsflyer", "inapp_purchase.json")),
        ("adjust", "GET", fixture_json("adjust", "install_android.json")),
        ("branch", "POST", fixture_json("branch", "install_ios.json")),
    ]
    made = []
    for index in range(count):
        route, method, template = templates[rng.randrange(len(templates))]
        postback = deepcopy(template)
        suffix = f"{index:012d}"
        if route == "appsflyer":
            postback["idfa"] = postback["idfa"][:-12] + suffix if postback.get("idfa") else None
            postback["idfv"] = postback["idfv"][:-12] + suffix if postback.get("idfv") else None
            postback["customer_user_id"] = f"af-user-{index}"
            postback["event_time"] = f"2026-11-20 12:{index // 60 % 60:02d}:{index % 60:02d}.{index // 3600:03d}"
        elif route == "adjust":
            postback["gps_adid"] = postback["gps_adid"][:-12] + suffix
            postback["user_id"] = f"adjust-user-{index}"
            postback["created_at"] = str(1_795_000_000 + index)
        else:
            postback["id"] = f"branch-event-{index}"
            postback["user_data"]["idfa"] = postback["user_data"]["idfa"][:-12] + suffix
            postback["user_data"]["developer_identity"] = f"branch-user-{index}"
        made.append((route, method, postback))
    return made


def send(url: str, route: str, method: str, postback: dict[str, Any]) -> requests.Response:
    if method == "GET":
        return requests.get(f"{url}/v1/postbacks/{route}", params={"token": TOKEN, **postback}, timeout=30)
    return requests.post(f"{url}/v1/postbacks/{route}", params={"token": TOKEN}, json=postback, timeout=30)


def delivered_keys(sink: AmplitudeSink) -> list[str]:
    keys = []
    for received in sink.received():
        payload = received.payload
        if received.endpoint == "attribution":
            keys.append(payload["event_properties"]["postback_id"])
        elif received.endpoint == "identify":
            keys.append(f"identify:{payload['user_id']}")
        else:
            keys.append(payload["insert_id"])
    return keys


def killed_mid_batch(rng: random.Random, kills: Counter[str]) -> Any:
    """The retry function dies part-way through some batches, after handling a prefix of them."""

    def wrap(handler: Handler) -> Handler:
        def invoke(event: dict[str, Any], context: Any) -> Any:
            records = event["Records"]
            if len(records) > 1 and rng.random() < KILL_SHARE:
                handler({"Records": records[: rng.randrange(1, len(records))]}, context)
                kills["batches"] += 1
                raise RuntimeError("retry consumer killed mid-batch")
            return handler(event, context)

        return invoke

    return wrap


@pytest.fixture
def chaos(tmp_path: Path) -> Iterator[tuple[LocalStack, AmplitudeSink]]:
    environment = {
        "RELAY_RETRY_BASE_DELAY_S": "0",
        "RELAY_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
        "RELAY_SYNC_BUDGET_MS": "1500",
        "AMPLITUDE_RETRY_TIMEOUT_S": "2",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    with stack_with_stand_in(tmp_path / "serve.json", environment) as pair:
        yield pair


def test_nothing_lost_nothing_twice_under_chaos(chaos: tuple[LocalStack, AmplitudeSink]) -> None:
    stack, sink = chaos
    rng = random.Random(SEED)
    kills: Counter[str] = Counter()
    stack.wrap_handler("RetryFunction", killed_mid_batch(random.Random(SEED + 1), kills))
    sink.faults = FaultPlan.random(rate=FAULT_RATE, seed=SEED, kinds=FAULT_KINDS)
    sink.slow_s = SLOW_S
    sent = postbacks(POSTBACKS, rng)

    # Partners send; then they resend a tenth of what they sent (timeouts, their own retries).
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda item: send(stack.url, *item), sent))
        resent = rng.sample(range(POSTBACKS), int(POSTBACKS * RESEND_SHARE))
        resend_answers = list(pool.map(lambda index: send(stack.url, *sent[index]), resent))

    expected: dict[str, str] = {}
    for (route, _, postback), answer in zip(sent, answers, strict=True):
        assert answer.status_code in (200, 202), answer.text
        for request in answer.json()["requests"]:
            user = {"appsflyer": "customer_user_id", "adjust": "user_id"}.get(route)
            user_id = postback[user] if user else postback["user_data"]["developer_identity"]
            key = f"identify:{user_id}" if request["endpoint"] == "identify" else request["insert_id"]
            expected[key] = request["insert_id"]
    for index, answer in zip(resent, resend_answers, strict=True):
        assert answer.json() == answers[index].json()  # the first answer, nothing sent again

    assert stack.wait_until_settled(timeout_s=180), stack.queue_depth("RetryQueue")
    letters = dead_letters(stack)
    delivered = delivered_keys(sink)
    duplicates = [key for key, seen in Counter(delivered).items() if seen > 1]
    assert duplicates == [], f"delivered twice: {duplicates[:5]}"
    dead = {letter.call.insert_id for letter in letters if letter.call}
    # Out of attempts, or moved by the queue's RedrivePolicy after repeated consumer deaths.
    assert {letter.reason for letter in letters} <= {"max_attempts", "redriven"}
    assert all(letter.attempts == MAX_ATTEMPTS for letter in letters if letter.reason == "max_attempts")
    delivered_ids = {expected[key] for key in delivered}
    assert delivered_ids.isdisjoint(dead)
    assert delivered_ids | dead == set(expected.values()), "a call was lost"
    assert kills["batches"] > 0  # the chaos really happened
    assert {kind for _, kind in sink.faults.decisions} >= set(FAULT_KINDS)
    assert sink.requests_seen() > len(expected)

    # Amplitude recovers; the dead letters are replayed and delivered, each once.
    sink.faults = FaultPlan.none()
    replay_dead_letters(stack)
    assert stack.wait_until_settled(timeout_s=60)
    assert dead_letters(stack) == []
    assert sorted(delivered_keys(sink)) == sorted(expected)


def dead_letters(stack: LocalStack) -> list[DeadLetter]:
    return dead_letters_of(stack)


def replay_dead_letters(stack: LocalStack) -> None:
    from postback_relay_tools.cli import main

    assert (
        main(
            [
                "dlq",
                "replay",
                "--dlq-url",
                stack.queue_urls["DeadLetterQueue"],
                "--retry-queue-url",
                stack.queue_urls["RetryQueue"],
            ]
        )
        == 0
    )
