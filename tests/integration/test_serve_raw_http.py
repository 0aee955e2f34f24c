"""`serve` answers broken HTTP as API Gateway would: a short JSON error that quotes nothing of the
request (http.server's own error page quoted the request line, relay token included), and never
waits on a body that a negative Content-Length promises."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from postback_relay_tools.local.stack import LocalStack
from tests.conftest import TOKEN, stack_with_stand_in


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with stack_with_stand_in(Path(tmp_path_factory.mktemp("raw")) / "serve.json") as (stack, _):
        yield stack


def _exchange(stack: LocalStack, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """One raw request on a fresh connection; the whole answer, read until serve closes it."""
    with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):  # serve closes after an error: no hang, or a timeout
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    "request_line",
    [
        # A byte http.server cannot read in the request line, next to the token.
        # (http.server splits the line on it, as on a space: four words.)
        f"GET /v1/postbacks/adjust?token={TOKEN}&x=a\xa0b HTTP/1.1".encode("latin-1"),
        f"GET /v1/postbacks/adjust?token={TOKEN} HTTP/9.9".encode(),
        f"GET /v1/postbacks/adjust?token={TOKEN} HTTP/1.1 extra".encode(),
        f"GET /v1/postbacks/adjust?token={TOKEN}&pad={'p' * 70_000} HTTP/1.1".encode(),
    ],
    ids=["non-ascii-byte", "bad-version", "extra-word", "request-line-too-long"],
)
def test_a_broken_request_line_gets_json_that_quotes_nothing(serve: LocalStack, request_line: bytes) -> None:
    status, headers, body = _exchange(serve, request_line + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert status in (400, 414, 505)
    assert headers["content-type"] == "application/json"
    assert set(json.loads(body)) == {"message"}
    assert TOKEN.encode() not in body


@pytest.mark.parametrize("length", ["-1", "-70000", "12abc", "1e3", "0x10"])
def test_a_content_length_that_is_not_a_length_is_a_400_at_once(serve: LocalStack, length: str) -> None:
    request = (
        f"POST /v1/postbacks/appsflyer?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{}}"
    ).encode()
    status, _, body = _exchange(serve, request)
    assert (status, json.loads(body)) == (400, {"message": "Bad Request"})
