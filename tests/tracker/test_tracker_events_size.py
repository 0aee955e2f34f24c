"""POST /v1/events fan-out: every event carries the install's campaign, so a small request can grow
at Amplitude. Batches are cut so that each Amplitude request and each retry or dead-letter message
fits its limit (checked on queues held to SQS's 256 KiB default), a 429 is queued rather than
answered 500, and the whole stays under the outgoing cap (413 beyond it)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from postback_relay.amplitude.client import Outcome, Verdict, encode
from postback_relay.errors import BadRequest, PayloadTooLarge
from postback_relay.messages import DeadLetter, RetryMessage
from postback_relay.models.amplitude import AmplitudeCall
from postback_relay.queues import RetryQueue
from postback_relay.runtime import get_delivery
from postback_relay.tracker.apps import register_app
from postback_relay.tracker.batches import (
    AMPLITUDE_MAX_REQUEST_BYTES,
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    MAX_OUTGOING_BYTES,
    SQS_MAX_MESSAGE_BYTES,
    split_batches,
)
from postback_relay.tracker.models import App, EventsRequest, InstallRequest
from postback_relay.tracker.service import MAX_CAMPAIGN_CHARS, Tracker, TrackerSettings
from postback_relay_tools.local.amplitude_sink import AmplitudeSink, FaultPlan
from tests.conftest import API_KEY, queue_bodies
from tests.tracker.support import CHROME, GAID, IP, T0, Clock, create_tables

pytestmark = pytest.mark.slow  # a local stack, servers or many moto calls: not in make test-quick

LONG = "x" * 5000  # a click's campaign field as long as a hostile ad link can make it


@pytest.fixture
def world(relay_env: dict[str, str]) -> tuple[Tracker, App]:
    """A tracker whose install carries campaign fields at their longest, on queues that take no
    message over SQS's default 256 KiB."""
    sqs = boto3.client("sqs")
    for url in (relay_env["RELAY_RETRY_QUEUE_URL"], relay_env["RELAY_DLQ_URL"]):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": str(SQS_MAX_MESSAGE_BYTES)})
    store = create_tables()
    app, _ = register_app(store, "Paper Boat", android_store_url="https://play.google.com/x", now_ms=int(T0 * 1000))
    tracker = Tracker(store, get_delivery(), TrackerSettings("https://default.example", "salt", True), clock=Clock())
    query = {"app_id": app.app_id, "c": LONG, "pid": LONG, "af_adset": LONG, "af_ad": LONG, "advertising_id": GAID}
    tracker.click(query, IP, CHROME)
    install = InstallRequest(app_id=app.app_id, platform="android", device_id=GAID, sdk_version="1.0.0")
    assert tracker.install(app, install, IP, "okhttp/4.12.0").match_type == "device_id"
    return tracker, app


def events_request(app: App, count: int = 500, **fields: Any) -> EventsRequest:
    return EventsRequest.model_validate(
        {
            "app_id": app.app_id,
            "device_id": GAID,
            "sdk_version": "1.0.0",
            "events": [
                {"event_name": "tap", "properties": {"n": i}, "timestamp": 1_795_181_820_000 + i, "session_id": "s1"}
                for i in range(count)
            ],
            **fields,
        }
    )


def request_bytes(request: EventsRequest) -> int:
    return len(json.dumps(request.model_dump(by_alias=True, exclude_none=True), separators=(",", ":")).encode())


def sent_bodies(sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records the size of each request body the relay sends to Amplitude."""
    sizes: list[int] = []
    client = get_delivery().client
    original = client.send

    def send(call: AmplitudeCall, timeout_s: float) -> Outcome:
        _, body = encode(call, API_KEY)
        sizes.append(len(body or b""))
        return original(call, timeout_s)

    monkeypatch.setattr(client, "send", send)
    return sizes


def test_a_38_kb_request_is_cut_into_requests_amplitude_and_sqs_both_take(
    world: tuple[Tracker, App], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker, app = world
    request = events_request(app, count=430)
    assert 36_000 <= request_bytes(request) <= 40_000
    sizes = sent_bodies(sink, monkeypatch)
    sink.clear()
    assert tracker.events(app, request) == 430
    received = sink.received("httpapi")
    assert len(received) == 430
    # The campaign is on every event, cut to MAX_CAMPAIGN_CHARS at the click.
    assert {len(event.payload["event_properties"]["[Tracker] campaign"]) for event in received} == {MAX_CAMPAIGN_CHARS}
    assert [event.payload["time"] for event in received] == sorted(event.payload["time"] for event in received)
    assert len(sizes) >= 2  # one request would have been too big for a retry message
    assert max(sizes) <= MAX_BATCH_BYTES + 1024 < AMPLITUDE_MAX_REQUEST_BYTES
    assert sum(sizes) <= MAX_OUTGOING_BYTES + 1024 * len(sizes)


def test_a_429_queues_every_batch_and_each_message_fits_sqs(
    world: tuple[Tracker, App], sink: AmplitudeSink, relay_env: dict[str, str]
) -> None:
    tracker, app = world
    sink.faults = FaultPlan.script(["429"] * 10)
    sink.clear()
    assert tracker.events(app, events_request(app)) == 500  # not a 500: every batch is owed, on the queue
    bodies = queue_bodies(relay_env["RELAY_RETRY_QUEUE_URL"])
    assert len(bodies) >= 2
    assert all(len(json.dumps(body, ensure_ascii=False).encode()) <= SQS_MAX_MESSAGE_BYTES for body in bodies)
    sink.faults = FaultPlan.none()
    delivery = get_delivery()
    for body in bodies:
        assert delivery.redeliver(RetryMessage.model_validate(body)).status == "delivered"
    assert len(sink.received("httpapi")) == 500


def test_a_batch_dead_lettered_with_the_longest_error_still_fits_sqs(
    world: tuple[Tracker, App], sink: AmplitudeSink, relay_env: dict[str, str]
) -> None:
    tracker, app = world
    sink.faults = FaultPlan.script(["429"] * 10)
    tracker.events(app, events_request(app))
    delivery = get_delivery()
    worst_error = "\x01" * 300  # Amplitude's text is kept to 300 characters; each escapes to 6 bytes
    for body in queue_bodies(relay_env["RELAY_RETRY_QUEUE_URL"]):
        message = RetryMessage.model_validate(body).model_copy(update={"last_error": worst_error})
        RetryQueue().put(message, delay_s=0)  # the queue (256 KiB) takes it
        delivery.settle(message, Outcome(Verdict.REJECTED, 400, worst_error))  # and so does the DLQ
    letters = [DeadLetter.model_validate(body) for body in queue_bodies(relay_env["RELAY_DLQ_URL"])]
    assert letters
    assert all(letter.call is not None and letter.call.endpoint == "httpapi_batch" for letter in letters)


def test_a_request_that_would_fan_out_past_the_cap_is_a_413(world: tuple[Tracker, App], sink: AmplitudeSink) -> None:
    tracker, app = world
    sink.clear()
    long_ids = events_request(app, device_id="d" * 1024, user_id="u" * 1024)
    with pytest.raises(PayloadTooLarge) as refused:
        tracker.events(app, long_ids)
    assert "smaller batches" in refused.value.message
    assert "d" * 40 not in refused.value.message
    assert sink.received() == []  # nothing half-sent


def test_an_sdk_batch_with_the_longest_campaign_fields_stays_under_the_cap(
    world: tuple[Tracker, App], monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker, app = world
    captured: list[AmplitudeCall] = []

    def deliver(partner: str, calls: list[AmplitudeCall], budget_s: float) -> list[Any]:
        captured.extend(calls)
        return []

    monkeypatch.setattr(tracker.delivery, "deliver_postback", deliver)
    tracker.events(app, events_request(app, user_id="3f9a2c1e-7b4d-4e8f-9a0b-1c2d3e4f5a6b"))
    total = sum(len(json.dumps(call.payload["events"]).encode()) for call in captured)
    assert total < MAX_OUTGOING_BYTES * 0.8


def event(size: int, index: int) -> dict[str, Any]:
    skeleton = {
        "event_type": "e",
        "insert_id": f"tracker-{index}",
        "device_id": "device-1",
        "event_properties": {"p": ""},
    }
    padding = size - len(json.dumps(skeleton, separators=(",", ":")).encode())
    skeleton["event_properties"] = {"p": "x" * padding}
    return skeleton


@pytest.mark.parametrize(
    "sizes",
    [
        [100] * 10,
        [MAX_BATCH_BYTES // 3] * 7,
        [MAX_BATCH_BYTES - 2] * 3,
        [100] * 1500,
        [50_000, 200_000, 10, 120_000, 120_000, 1_000],
    ],
)
def test_batches_keep_order_and_limits(sizes: list[int]) -> None:
    events = [event(size, index) for index, size in enumerate(sizes)]
    if sum(sizes) + len(sizes) > MAX_OUTGOING_BYTES:
        pytest.skip("past the outgoing cap")
    batches = split_batches(events)
    assert [e for batch in batches for e in batch] == events
    for batch in batches:
        assert len(batch) <= MAX_BATCH_EVENTS
        assert len(json.dumps(batch, separators=(",", ":"), ensure_ascii=False).encode()) <= MAX_BATCH_BYTES


def test_one_event_too_big_for_any_batch_is_a_413() -> None:
    with pytest.raises(PayloadTooLarge, match=r"events\[1\]"):
        split_batches([event(100, 0), event(MAX_BATCH_BYTES + 10, 1)])


@pytest.mark.parametrize(
    ("properties", "problem"),
    [
        ({"note": "n" * 1025}, "longer than 1024"),
        ({"amount": "12x", "currency": "EUR"}, "properties.amount is not a number"),
        ({"amount": "1e400", "currency": "EUR"}, "not a finite number"),
        ({"amount": 5, "currency": "EUR", "product_id": "p" * 1025}, "longer than 1024"),
    ],
)
def test_what_amplitude_would_refuse_is_a_400_naming_the_field(
    world: tuple[Tracker, App], properties: dict[str, Any], problem: str
) -> None:
    tracker, app = world
    body = {
        "app_id": app.app_id,
        "device_id": GAID,
        "sdk_version": "1",
        "events": [{"event_name": "purchase", "properties": properties, "timestamp": 1, "session_id": "s"}],
    }
    with pytest.raises((BadRequest, ValueError)) as refused:
        tracker.events(app, EventsRequest.model_validate(body))
    assert problem in str(refused.value)
    for value in properties.values():
        if isinstance(value, str) and len(value) > 5:
            assert value not in str(refused.value)
