"""Each answer from Amplitude is classified delivered, retryable or rejected (over real loopback HTTP)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from postback_relay.amplitude.client import AmplitudeClient, Verdict, parse_retry_after
from postback_relay.local.amplitude_sink import AmplitudeSink, FaultPlan
from postback_relay.mapping import AmplitudeCall
from tests.conftest import API_KEY

ATTRIBUTION = AmplitudeCall(
    endpoint="attribution",
    insert_id="appsflyer-attribution-k1",
    payload={"event_type": "[AppsFlyer] Install", "platform": "ios", "idfa": "6D92078A-8246-4BA4-AE5B-76104861E7DC"},
)
IDENTIFY = AmplitudeCall(
    endpoint="identify",
    insert_id="appsflyer-identify-k1",
    payload={"user_id": "user-42", "user_properties": {"$set": {"[AppsFlyer] campaign": "bf"}}},
)
HTTPAPI = AmplitudeCall(
    endpoint="httpapi",
    insert_id="appsflyer-httpapi-k1",
    payload={
        "event_type": "[AppsFlyer] af_purchase",
        "device_id": "3F2504E0-4F89",
        "insert_id": "appsflyer-httpapi-k1",
        "revenue": 9.99,
        "price": 9.99,
        "quantity": 1,
        "currency": "USD",
    },
)


def client_for(url: str, key: str = API_KEY) -> AmplitudeClient:
    return AmplitudeClient(url, lambda ref: key, connect_timeout_s=0.5)


@pytest.mark.parametrize("call", [ATTRIBUTION, IDENTIFY, HTTPAPI], ids=lambda c: c.endpoint)
def test_each_endpoint_is_encoded_as_amplitude_expects(sink: AmplitudeSink, call: AmplitudeCall) -> None:
    outcome = client_for(sink.url).send(call, timeout_s=2)
    assert outcome.verdict is Verdict.DELIVERED, sink.rejected()
    [received] = sink.received(call.endpoint)
    assert received.payload == call.payload


@pytest.mark.parametrize(
    ("fault", "status", "retry_after"),
    [("429", 429, None), ("429-retry-after", 429, 7.0), ("500", 500, None), ("502", 502, None), ("503", 503, None)],
)
def test_throttling_and_server_errors_are_retryable(
    sink: AmplitudeSink, fault: str, status: int, retry_after: float | None
) -> None:
    sink.faults = FaultPlan.script([fault], retry_after_s=7)
    outcome = client_for(sink.url).send(ATTRIBUTION, timeout_s=2)
    assert (outcome.verdict, outcome.status, outcome.retry_after_s) == (Verdict.RETRYABLE, status, retry_after)
    assert sink.received() == []


def test_dropped_connection_is_retryable(sink: AmplitudeSink) -> None:
    sink.faults = FaultPlan.script(["drop"])
    outcome = client_for(sink.url).send(ATTRIBUTION, timeout_s=2)
    assert outcome.verdict is Verdict.RETRYABLE
    assert outcome.status is None
    assert "connection" in (outcome.error or "")


def test_bad_request_is_rejected_with_amplitudes_reason(sink: AmplitudeSink) -> None:
    outcome = client_for(sink.url, key="wrong-key").send(ATTRIBUTION, timeout_s=2)
    assert (outcome.verdict, outcome.status) == (Verdict.REJECTED, 400)
    assert outcome.error


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers: the client must time out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    done = threading.Event()
    connections: list[socket.socket] = []

    def accept() -> None:
        listener.settimeout(0.1)
        while not done.is_set():
            try:
                connection, _ = listener.accept()
                connections.append(connection)
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    done.set()
    thread.join()
    for connection in connections:
        connection.close()
    listener.close()


def test_timeout_is_retryable(silent_server: str) -> None:
    outcome = client_for(silent_server).send(ATTRIBUTION, timeout_s=0.2)
    assert outcome.verdict is Verdict.RETRYABLE
    assert "timeout" in (outcome.error or "")


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    outcome = client_for(f"http://127.0.0.1:{free_port}").send(ATTRIBUTION, timeout_s=0.5)
    assert outcome.verdict is Verdict.RETRYABLE


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Mon, 23 Nov 2026 12:01:30 GMT", now=now) == 90.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
