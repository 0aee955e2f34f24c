"""Each answer from Amplitude is classified delivered, retryable or rejected (over real loopback HTTP)."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from postback_relay.amplitude.client import AmplitudeClient, Verdict, parse_retry_after
from postback_relay.config import ConfigurationError
from postback_relay.models.amplitude import AmplitudeCall
from postback_relay_tools.local.amplitude_sink import AmplitudeSink, FaultPlan
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


class _RecordingHandler(BaseHTTPRequestHandler):
    recorded: ClassVar[list[str]]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.recorded.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def loopback_server(tls: ssl.SSLContext | None = None) -> Iterator[tuple[str, list[str]]]:
    """A real HTTP(S) server on 127.0.0.1 that answers 200 and records each request's path."""
    paths: list[str] = []

    class Handler(_RecordingHandler):
        recorded = paths

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}", paths
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_path_prefix_in_the_base_url_is_kept() -> None:
    """AMPLITUDE_API_URL may point at a proxy that serves Amplitude under a path of its own."""
    with loopback_server() as (url, paths):
        outcome = client_for(f"{url}/amplitude-proxy/").send(ATTRIBUTION, timeout_s=2)
    assert outcome.verdict is Verdict.DELIVERED
    assert paths == ["/amplitude-proxy/attribution"]


def _self_signed_tls(tmp_path: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def test_https_certificates_are_verified(tmp_path: Path) -> None:
    """A certificate no public authority signed is refused: nothing is sent to an impostor."""
    with loopback_server(_self_signed_tls(tmp_path)) as (url, paths):
        outcome = client_for(url).send(ATTRIBUTION, timeout_s=2)
    assert outcome.verdict is Verdict.RETRYABLE
    assert "SSLError" in (outcome.error or "")
    assert paths == []


def test_a_closed_client_opens_new_connections_on_the_next_send(sink: AmplitudeSink) -> None:
    client = client_for(sink.url)
    assert client.send(ATTRIBUTION, timeout_s=2).verdict is Verdict.DELIVERED
    client.close()
    assert client.send(IDENTIFY, timeout_s=2).verdict is Verdict.DELIVERED


def test_a_base_url_with_a_query_string_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="query string"):
        client_for("https://api2.amplitude.com/?region=us")
