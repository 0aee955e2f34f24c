"""The postback routes against a hostile internet, through the local stack's real handlers.

Every partner's realistic postbacks (tests/fixtures/*/*.json and the events/*.json samples) are
mutated one field at a time: a lone UTF-16 surrogate, a 5,000-character value, a number, a float,
a list, an object, null and a boolean in every field of a JSON body, and for the partners that
call a URL template, invalid UTF-8, a raw surrogate, 5,000 characters, CRLF and NUL in every query
parameter. Then malformed bodies on every route, hostile custom-network names and tokens, hand-built
Lambda events, and raw HTTP requests to `serve` trying header injection.

Each request runs in a thread of its own with a deadline. Across all of them: no answer is a 5xx,
none hangs, no log line and no answer body holds a raw device id, user id, IP, relay token or
Amplitude key, and Amplitude received only well-formed ids. The figures go to
.postback-relay/hostile/postbacks.json for the README.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from copy import deepcopy
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import pytest

from postback_relay.observability import logger
from postback_relay_tools.local.amplitude_sink import Received
from postback_relay_tools.local.events import http_api_event
from postback_relay_tools.local.stack import LocalStack
from postback_relay_tools.local.template import load_template
from tests.conftest import API_KEY, FIXTURES, ROOT, TOKEN, stack_with_stand_in

EVENTS = ROOT / "events"
FIGURES = ROOT / ".postback-relay" / "hostile" / "postbacks.json"
SOURCE_IP = "203.0.113.77"  # every in-process request comes from here: it must never be logged
DEADLINE_S = 10.0
CUSTOM = ("liftoff", "unity-ads")
# Partners whose postbacks are URL templates: their fixtures are also sent as query strings.
TEMPLATED = frozenset({"adjust", "kochava", "tenjin", *CUSTOM})
# Keys whose values are device ids, user ids or IPs in some partner's format.
PERSONAL_KEYS = frozenset(
    {
        "idfa",
        "idfv",
        "advertising_id",
        "gps_adid",
        "aaid",
        "aifa",
        "adid",
        "android_id",
        "asid",
        "app_set_id",
        "google_app_set_id",
        "android_app_set_id",
        "amazon_aid",
        "fire_adid",
        "oaid",
        "developer_device_id",
        "ifa",
        "gaid",
        "device_id",
        "appsflyer_id",
        "analytics_installation_id",
        "kochava_device_id",
        "customer_user_id",
        "custom_user_id",
        "user_id",
        "developer_identity",
        "ip",
    }
)
UPPER_UUID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")
LOWER_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ID_FORMATS = {
    "idfa": UPPER_UUID,
    "idfv": UPPER_UUID,
    "adid": LOWER_UUID,
    "android_app_set_id": LOWER_UUID,
    "android_id": re.compile(r"[0-9a-f]{16}"),
}
ZERO_UUID = "00000000-0000-0000-0000-000000000000"

FieldPath = tuple[str, ...]


@dataclass(frozen=True)
class Base:
    """One realistic postback: where it goes, how the partner sends it, and its fields."""

    partner: str
    path: str
    method: str
    fields: dict[str, Any]
    source: str


@dataclass(frozen=True)
class Case:
    """One hostile request. `expect`: the statuses it may get when the answer is certain;
    `field`: the field a 400 must name."""

    kind: str
    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    expect: tuple[int, ...] | None = None
    field: str | None = None
    event: dict[str, Any] | None = None  # a hand-built Lambda event, invoked as is


@dataclass
class Answer:
    status: int | None  # None: no answer within the deadline
    body: str
    headers: dict[str, str]
    seconds: float


def _route(partner: str) -> str:
    return f"/v1/postbacks/custom/{partner}" if partner in CUSTOM else f"/v1/postbacks/{partner}"


def bases() -> list[Base]:
    found: list[Base] = []
    for folder in sorted(path for path in FIXTURES.iterdir() if path.is_dir()):
        for file in sorted(folder.glob("*.json")):
            fields = json.loads(file.read_text())
            source = str(file.relative_to(ROOT))
            found.append(Base(folder.name, _route(folder.name), "POST", fields, source))
            if folder.name in TEMPLATED:
                found.append(Base(folder.name, _route(folder.name), "GET", fields, source))
    for file in sorted(EVENTS.glob("*.json")):
        event = json.loads(file.read_text())
        path = event.get("rawPath", "")
        if not path.startswith("/v1/postbacks/"):
            continue  # env.json, the SQS sample and the tracker's routes
        fields = {k: v for k, v in parse_qsl(event.get("rawQueryString", ""), keep_blank_values=True) if k != "token"}
        if event["requestContext"]["http"]["method"] == "POST":
            body = base64.b64decode(event["body"]) if event.get("isBase64Encoded") else event["body"].encode()
            fields.update(json.loads(body))
        partner = path.removeprefix("/v1/postbacks/").removeprefix("custom/")
        found.append(
            Base(partner, path, event["requestContext"]["http"]["method"], fields, str(file.relative_to(ROOT)))
        )
    return found


def leaves(data: dict[str, Any], prefix: FieldPath = ()) -> Iterator[FieldPath]:
    for key, value in data.items():
        if isinstance(value, dict) and value:
            yield from leaves(value, (*prefix, key))
        else:
            yield (*prefix, key)


def value_at(data: dict[str, Any], path: FieldPath) -> Any:
    for key in path:
        data = data[key]
    return data


def replaced(data: dict[str, Any], path: FieldPath, value: Any) -> dict[str, Any]:
    copy = deepcopy(data)
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


def _long(original: Any) -> str:
    seed = str(original) if original not in (None, "") else "x"
    return (seed * (5000 // len(seed) + 1))[:5000]


# JSON body mutations: what replaces a field's value. Surrogates must be refused naming the field.
JSON_MUTATIONS: dict[str, Callable[[Any], Any]] = {
    "surrogate": lambda original: f"{original if isinstance(original, str) else 'x'}\ud800",
    "long": _long,
    "int": lambda _original: 987654321,
    "float": lambda _original: -1.5e300,
    "list": lambda original: [original],
    "object": lambda original: {"value": original},
    "null": lambda _original: None,
    "bool": lambda _original: True,
}
# Query-string mutations (already percent-encoded, except the raw surrogate a Lambda event can hold).
QUERY_MUTATIONS: dict[str, Callable[[str], str]] = {
    "invalid-utf8": lambda original: quote(original) + "%ED%A0%80",  # a surrogate as CESU-8 bytes
    "raw-surrogate": lambda original: quote(original) + "\ud800",
    "long": lambda original: quote(_long(original)),
    "crlf": lambda original: quote(original) + "%0D%0ASet-Cookie:%20pwned=1",
    "nul": lambda original: quote(original) + "%00",
}
# A realistic postback is delivered (200), or queued when Amplitude is slow on a loaded machine (202).
ACCEPTED = (200, 202)
SURROGATE_KINDS = frozenset({"surrogate", "invalid-utf8", "raw-surrogate"})


def _json_body(fields: dict[str, Any]) -> bytes:
    # ensure_ascii: a lone surrogate travels as the escape `\ud800`, as a partner's JSON would carry it.
    return json.dumps(fields).encode()


def _query(fields: dict[str, Any], override: tuple[str, str] | None = None) -> str:
    pairs = [f"token={TOKEN}"]
    for key, value in fields.items():
        if override is not None and key == override[0]:
            pairs.append(f"{quote(key)}={override[1]}")
        elif value is not None:
            pairs.append(urlencode({key: value if isinstance(value, str) else json.dumps(value)}))
    return "&".join(pairs)


def field_cases(all_bases: list[Base]) -> list[Case]:
    """Every mutation in every field of every partner: each (partner, field, mutation) once, on the
    partner's fixtures in turn, so every fixture is used."""
    cases: list[Case] = []
    json_targets: dict[tuple[str, FieldPath], list[Base]] = {}
    query_targets: dict[tuple[str, str], list[Base]] = {}
    for base in all_bases:
        if base.method == "POST":
            for path in leaves(base.fields):
                json_targets.setdefault((base.partner, path), []).append(base)
        else:
            for key in base.fields:
                query_targets.setdefault((base.partner, key), []).append(base)
    for (_partner, path), owners in sorted(json_targets.items()):
        for turn, (kind, mutate) in enumerate(JSON_MUTATIONS.items()):
            base = owners[turn % len(owners)]
            original = value_at(base.fields, path)
            mutated = mutate(original)
            if mutated == original and type(mutated) is type(original):
                continue  # null on a field already null: no mutation, only the fixture again
            fields = replaced(base.fields, path, mutated)
            surrogate = kind in SURROGATE_KINDS
            cases.append(
                Case(
                    f"json-{kind}",
                    "POST",
                    base.path,
                    f"token={TOKEN}",
                    {"content-type": "application/json"},
                    _json_body(fields),
                    expect=(400,) if surrogate else None,
                    field="body." + ".".join(path) if surrogate else None,
                )
            )
    for (_partner, key), owners in sorted(query_targets.items()):
        for turn, (kind, mutate) in enumerate(QUERY_MUTATIONS.items()):
            base = owners[turn % len(owners)]
            original = base.fields[key] if isinstance(base.fields[key], str) else json.dumps(base.fields[key])
            surrogate = kind in SURROGATE_KINDS
            cases.append(
                Case(
                    f"query-{kind}",
                    "GET",
                    base.path,
                    _query(base.fields, (key, mutate(original))),
                    expect=(400,) if surrogate else None,
                    field=f"query string.{key}" if surrogate else None,
                )
            )
    return cases


def base_cases(all_bases: list[Base]) -> list[Case]:
    """Each realistic postback as it is: the mutations' baseline, and the proof the checks keep them."""
    cases = []
    for base in all_bases:
        if base.method == "GET":
            cases.append(Case("fixture-as-is", "GET", base.path, _query(base.fields), expect=ACCEPTED))
        else:
            cases.append(
                Case(
                    "fixture-as-is",
                    "POST",
                    base.path,
                    f"token={TOKEN}",
                    {"content-type": "application/json"},
                    _json_body(base.fields),
                    expect=ACCEPTED,
                )
            )
    return cases


def _nested(depth: int) -> bytes:
    return ('{"a":' * depth + "1" + "}" * depth).encode()


MALFORMED_BODIES: list[tuple[str, str, bytes, int | None]] = [
    ("invalid-json", "application/json", b"{not json", 400),
    ("truncated-json", "application/json", b'{"idfa": "A7071198-3848-40A5-B3D0-', 400),
    ("json-array", "application/json", b"[1, 2, 3]", 400),
    ("json-string", "application/json", b'"install"', 400),
    ("json-null", "application/json", b"null", 400),
    ("json-nan", "application/json", b'{"event_revenue": NaN}', 400),
    ("json-huge-number", "application/json", b'{"event_revenue": 1e400}', 400),
    ("json-huge-integer", "application/json", b'{"event_revenue": ' + b"9" * 5000 + b"}", 400),
    ("nested-11", "application/json", _nested(11), 400),
    ("nested-5000", "application/json", _nested(5000), 400),
    ("list-nested-5000", "application/json", b"[" * 5000 + b"]" * 5000, 400),
    ("600-fields", "application/json", json.dumps({f"k{i}": i for i in range(600)}).encode(), 400),
    ("300-char-key", "application/json", json.dumps({"k" * 300: 1}).encode(), 400),
    ("surrogate-key", "application/json", b'{"\\ud800": "x"}', 400),
    ("surrogate-pair-split", "application/json", b'{"campaign": "\\udc00\\ud800"}', 400),
    ("9000-char-value", "application/json", json.dumps({"campaign": "c" * 9000}).encode(), 400),
    ("over-64kb", "application/json", b'{"a": "' + b"x" * 70_000 + b'"}', 413),
    ("invalid-utf8", "application/json", b'{"campaign": "\xff\xfe"}', 400),
    ("cesu-surrogate-bytes", "application/json", b'{"campaign": "\xed\xa0\x80"}', 400),
    ("utf16-body", "application/json", '{"idfa": "x"}'.encode("utf-16"), 400),
    ("bom", "application/json", b'\xef\xbb\xbf{"idfa": "x"}', None),
    ("empty-object", "application/json", b"{}", None),
    ("whitespace", "application/json", b"   \n  ", None),
    ("csv", "text/csv", b"idfa,campaign\nA,B", 415),
    ("xml", "application/xml", b"<postback/>", 415),
    ("multipart", "multipart/form-data; boundary=x", b"--x\r\n\r\n--x--", 415),
    ("octet-stream", "application/octet-stream", b"\x00\x01\x02", 415),
    ("form-invalid-escape", "application/x-www-form-urlencoded", b"campaign=%ED%A0%80", 400),
    ("form-invalid-utf8", "application/x-www-form-urlencoded", b"campaign=\xff", 400),
    ("form-600-fields", "application/x-www-form-urlencoded", "&".join(f"k{i}=v" for i in range(600)).encode(), 400),
    ("no-content-type-garbage", "", b"\x00garbage", None),
    ("json-plus-suffix", "application/vnd.api+json", b"{oops", 400),
    ("content-type-crlf", "application/json\r\nX-Injected: 1", b"{}", None),
    ("content-type-5000", "x/" + "y" * 5000, b"{}", 415),
]


def malformed_cases(routes: list[str]) -> list[Case]:
    cases = []
    for route in routes:
        for name, content_type, body, expect in MALFORMED_BODIES:
            headers = {"content-type": content_type} if content_type else {}
            expected = (expect,) if expect is not None else None
            cases.append(Case(f"body-{name}", "POST", route, f"token={TOKEN}", headers, body, expect=expected))
    return cases


def route_cases(routes: list[str]) -> list[Case]:
    """Hostile paths, tokens and query strings on every route."""
    cases = []
    for name in (
        "nope",
        "a.b",
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e",
        "UPPER",
        "x" * 300,
        "a%0D%0ASet-Cookie:%20pwned=1",
        "%ED%A0%80",
        "\ud800",
        "-leading-dash",
    ):
        cases.append(Case("custom-name", "GET", f"/v1/postbacks/custom/{name}", f"token={TOKEN}"))
    for route in routes:
        for kind, query, headers, expect in (
            ("no-token", "", {}, 401),
            ("wrong-token", "token=wrong", {}, 401),
            ("empty-token", "token=", {}, 401),
            ("long-token", "token=" + "t" * 5000, {}, 401),
            ("token-with-crlf", "token=" + quote(TOKEN + "\r\nX-Injected: 1"), {}, 401),
            ("token-invalid-utf8", "token=%ED%A0%80", {}, 401),
            ("token-header-wrong", "", {"x-relay-token": "wrong"}, 401),
            ("token-header-long", "", {"x-relay-token": "t" * 5000}, 401),
            ("token-repeated", f"token=wrong&token={TOKEN}&token=x", {}, None),
            ("query-600-fields", f"token={TOKEN}&" + "&".join(f"k{i}=v" for i in range(600)), {}, 400),
            ("query-bare-percent", f"token={TOKEN}&campaign=%&%%=1&=&&", {}, None),
            ("query-300-char-key", f"token={TOKEN}&{'k' * 300}=1", {}, 400),
        ):
            cases.append(Case(f"auth-{kind}", "GET", route, query, headers, expect=(expect,) if expect else None))
    return cases


def event_cases(routes: list[str]) -> list[Case]:
    """Hand-built Lambda events: what API Gateway would not send, but a direct invoke could."""
    cases = []
    for route in routes:
        plain = http_api_event("POST", route, query=f"token={TOKEN}", source_ip=SOURCE_IP)
        garbage = {**plain, "isBase64Encoded": True, "body": "%%% not base64 %%%"}
        huge = {**plain, "isBase64Encoded": True, "body": base64.b64encode(b"{" + b" " * 200_000 + b"}").decode()}
        surrogate_query = {**plain, "rawQueryString": f"token={TOKEN}&campaign=x\ud800"}
        surrogate_token = {
            **plain,
            "rawQueryString": "",
            "headers": {**plain["headers"], "x-relay-token": "\ud800" + TOKEN},
        }
        surrogate_type = {
            **plain,
            "headers": {**plain["headers"], "content-type": "application/\ud800json"},
            "body": "{}",
        }
        surrogate_body = {
            **plain,
            "headers": {**plain["headers"], "content-type": "application/json"},
            "body": '{"campaign": "x\ud800"}',  # a raw surrogate in the event's own text
        }
        for kind, event, expect in (
            ("event-invalid-base64", garbage, 400),
            ("event-huge-base64", huge, 413),
            ("event-raw-surrogate-query", surrogate_query, 400),
            ("event-surrogate-token", surrogate_token, 401),
            ("event-surrogate-content-type", surrogate_type, 415),
            ("event-raw-surrogate-body", surrogate_body, 400),
        ):
            cases.append(Case(kind, "POST", route, event=event, expect=(expect,)))
    return cases


def bounded(call: Callable[[], Answer]) -> Answer:
    """`call` in a thread of its own: an answer, or a hang (status None) after DEADLINE_S."""
    outcome: list[Answer] = []
    started = time.monotonic()

    def run() -> None:
        try:
            outcome.append(call())
        except Exception:
            # What `serve` answers for an exception out of the handler (Lambda's bare 500).
            outcome.append(Answer(500, "unhandled exception", {}, time.monotonic() - started))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(DEADLINE_S)
    if not outcome:
        return Answer(None, "", {}, DEADLINE_S)
    return outcome[0]


def in_process(local: LocalStack, case: Case) -> Answer:
    started = time.monotonic()
    if case.event is not None:
        found = local.find_route(case.method, case.path)
        assert found is not None
        result: dict[str, Any] | None = local.invoke_route(found[0], case.event)
    else:
        result = local.request(case.method, case.path, case.query, case.headers, case.body, SOURCE_IP)
    seconds = time.monotonic() - started
    if result is None:
        return Answer(404, '{"message": "Not Found"}', {}, seconds)
    raw_body = result.get("body") or ""
    text = base64.b64decode(raw_body).decode() if result.get("isBase64Encoded") else str(raw_body)
    headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    return Answer(int(result["statusCode"]), text, headers, seconds)


def raw_http(local: LocalStack, request: bytes) -> Answer:
    """One request as bytes on a fresh connection to `serve`; the answer read until it closes."""
    started = time.monotonic()
    with socket.create_connection((local.host, local.port), timeout=DEADLINE_S) as conn:
        conn.sendall(request)
        chunks = []
        while True:
            try:
                chunk = conn.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
            head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if length and len(rest) >= int(length.group(1)):
                break
    data = b"".join(chunks)
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split()
    # 0: no HTTP/1.x status line (a closed connection, or http.server's HTTP/0.9 answer to garbage).
    status = int(status_line[1]) if status_line[:1] and status_line[0].startswith("HTTP/") else 0
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(status, rest.decode("utf-8", "replace"), headers, time.monotonic() - started)


def http_requests() -> list[tuple[str, bytes]]:
    """Raw requests trying to split, smuggle or spoof their way through `serve`'s HTTP layer."""
    fixture = json.loads((FIXTURES / "appsflyer" / "install_ios.json").read_text())
    body = json.dumps(fixture).encode()
    route = f"/v1/postbacks/appsflyer?token={TOKEN}"
    adjust = f"/v1/postbacks/adjust?token={TOKEN}&activity_kind=install&idfa=A7071198-3848-40A5-B3D0-94578D9B1234"

    def post(headers: str, payload: bytes = body, target: str = route) -> bytes:
        # latin-1: header bytes as written here, not UTF-8 encoded.
        return (
            f"POST {target} HTTP/1.1\r\nHost: relay\r\n{headers}Connection: close\r\n\r\n".encode("latin-1") + payload
        )

    def get(target: str, headers: str = "") -> bytes:
        return f"GET {target} HTTP/1.1\r\nHost: relay\r\n{headers}Connection: close\r\n\r\n".encode("latin-1")

    length = f"Content-Length: {len(body)}\r\n"
    as_json = "Content-Type: application/json\r\n"
    return [
        ("crlf-in-query-value", get(adjust + "&campaign=a%0D%0ASet-Cookie:%20pwned=1%0D%0AX-Injected:%201")),
        ("crlf-in-path", get(f"/v1/postbacks/custom/x%0D%0ASet-Cookie:%20pwned=1?token={TOKEN}")),
        ("crlf-in-token", get(f"/v1/postbacks/adjust?token={TOKEN}%0D%0AX-Injected:%201")),
        ("injected-header-line", post(f"{as_json}{length}X-Injected: 1\r\n")),
        ("obs-fold-content-type", post(f"Content-Type: text/csv\r\n application/json\r\n{length}")),
        ("duplicate-content-type", post(f"{as_json}Content-Type: text/csv\r\n{length}")),
        ("nul-in-header", post(f"Content-Type: application/json\x00text/csv\r\n{length}")),
        ("latin1-in-header", post(f"{as_json}X-Relay-Token: \xe9\xff\r\n{length}")),
        ("long-header", post(f"{as_json}X-Long: {'h' * 60_000}\r\n{length}")),
        ("over-long-header", post(f"{as_json}X-Long: {'h' * 70_000}\r\n{length}")),
        (
            "200-headers",
            post("".join(f"X-H{i}: v\r\n" for i in range(200)) + f"{as_json}{length}"),
        ),
        (
            "spoofed-forwarded-for",
            post(f"{as_json}{length}X-Forwarded-For: 198.51.100.99\r\n"),
        ),
        (
            "host-injection",
            post(f"{as_json}{length}").replace(b"Host: relay", b"Host: evil.example"),
        ),
        (
            "chunked",
            post(as_json + "Transfer-Encoding: chunked\r\n", b'5\r\n{"a":\r\n0\r\n\r\n'),
        ),
        (
            "smuggling-cl-te",
            post(
                f"{as_json}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
                b"0\r\n\r\nGET /v1/postbacks/adjust HTTP/1.1\r\n\r\n",
            ),
        ),
        ("claimed-11mb", post(f"{as_json}Content-Length: {11 * 1024 * 1024}\r\n", b"{}")),
        ("absolute-uri", get(f"http://evil.example{route}")),
        ("http-1.0", get(adjust).replace(b"HTTP/1.1", b"HTTP/1.0")),
        ("bad-percent-path", get(f"/v1/postbacks/%zz?token={TOKEN}")),
        # CESU-8 bytes of a surrogate, raw in the request line; a \xa0, which http.server's
        # str.split() takes for a space (serve's 400 then quotes nothing: test_serve_raw_http.py).
        ("raw-cesu-bytes-in-query", get(adjust).replace(b"install", b"install\xed\xb2\x80")),
        ("raw-nbsp-in-request-line", get("/v1/postbacks/adjust?campaign=a\xa0b")),
        ("raw-nbsp-next-to-the-token", get(adjust).replace(b"install", b"in\xa0stall")),
        ("negative-content-length", post(f"{as_json}Content-Length: -1\r\n", b"{}")),
        ("trace", get(route).replace(b"GET", b"TRACE")),
        ("options", get(route).replace(b"GET", b"OPTIONS")),
        ("put", post(f"{as_json}{length}").replace(b"POST", b"PUT")),
        ("head", get(adjust).replace(b"GET", b"HEAD")),
        ("garbage-request-line", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),
        ("empty-request", b"\r\n\r\n"),
    ]


def secrets(all_bases: list[Base]) -> set[str]:
    """Every raw id, user id and IP the fixtures hold, and the relay's token and Amplitude key."""
    found = {TOKEN, API_KEY, SOURCE_IP, "198.51.100.99"}

    def walk(data: dict[str, Any]) -> None:
        for key, value in data.items():
            if isinstance(value, dict):
                walk(value)
            elif (
                key in PERSONAL_KEYS
                and isinstance(value, str)
                and len(value) >= 8
                and "{" not in value
                and value != ZERO_UUID
            ):
                found.add(value)

    for base in all_bases:
        walk(base.fields)
    return found


def forwarded_malformed_ids(everything: list[Received]) -> list[str]:
    """Ids Amplitude received that are not in their platform's format (there must be none)."""
    problems = []
    for received in everything:
        for name, pattern in ID_FORMATS.items():
            value = received.payload.get(name)
            if value is not None and (not isinstance(value, str) or not pattern.fullmatch(value) or value == ZERO_UUID):
                problems.append(f"{received.endpoint}.{name}")
    return problems


# The field sweep's stack leaves out the idempotency table and the archive bucket: moto's DynamoDB
# and S3 would triple its run time, and neither holds a raw value the sweep could break (the
# idempotency key is a hash of the normalised postback). The stack as deployed, with both, takes
# everything else and every SAMPLE_EVERY-th field mutation, so hostile values reach the archive too.
# The partner functions only: the retry function cannot start without its table (and is not run).
LEAN = {"RELAY_IDEMPOTENCY_TABLE": "", "RELAY_ARCHIVE_BUCKET": ""}
LEAN_FUNCTIONS = {route.function.logical_id: LEAN for route in load_template(ROOT / "template.yaml").routes}
SAMPLE_EVERY = 8


def test_no_hostile_input_gets_a_5xx_hangs_or_leaks_an_id(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="postback-relay")
    started = time.monotonic()
    all_bases = bases()
    hidden = {value.lower() for value in secrets(all_bases)}
    routes = sorted({base.path for base in all_bases})
    sweep = field_cases(all_bases)
    as_deployed = [
        *base_cases(all_bases),
        *sweep[::SAMPLE_EVERY],
        *malformed_cases(routes),
        *route_cases(routes),
        *event_cases(routes),
    ]
    problems: list[str] = []
    statuses: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    slowest = 0.0
    leaks_in_bodies = 0
    received: list[Received] = []
    rejected = 0

    def judge(kind: str, answer: Answer, expect: tuple[int, ...] | None = None, named: str | None = None) -> None:
        nonlocal slowest, leaks_in_bodies
        kinds[kind] += 1
        statuses[str(answer.status) if answer.status is not None else "hang"] += 1
        slowest = max(slowest, answer.seconds)
        if answer.status is None:
            problems.append(f"{kind}: no answer within {DEADLINE_S} s")
            return
        if answer.status >= 500:
            problems.append(f"{kind}: {answer.status} {answer.body[:200]}")
        if expect is not None and answer.status not in expect:
            problems.append(f"{kind}: expected {expect}, got {answer.status} {answer.body[:200]}")
        lowered = answer.body.lower()
        if any(secret in lowered for secret in hidden):
            leaks_in_bodies += 1
            problems.append(f"{kind}: a raw id or secret in the answer body")
        if (
            answer.status >= 400
            and answer.body
            and answer.headers.get("content-type", "").startswith("application/json")
        ):
            try:
                error = json.loads(answer.body)
            except ValueError:
                problems.append(f"{kind}: a JSON content type, but not JSON: {answer.body[:200]}")
                return
            if not (error.get("error") or error.get("message")):
                problems.append(f"{kind}: error body names no problem: {answer.body[:200]}")
            if named is not None and error.get("field") != named:
                problems.append(f"{kind}: expected the field {named!r} named, got {error.get('field')!r}")
        for name in ("set-cookie", "x-injected"):
            if name in answer.headers:
                problems.append(f"{kind}: injected header {name} in the answer")

    # No retry pollers: every answer here is the first one, and the pollers would only take CPU.
    with stack_with_stand_in(tmp_path / "deployed.json", consume_retries=False) as (stack, sink):
        for case in as_deployed:
            judge(case.kind, bounded(partial(in_process, stack, case)), case.expect, case.field)
        for kind, request in http_requests():
            judge(f"http-{kind}", bounded(partial(raw_http, stack, request)))
        received += sink.received()
        rejected += len(sink.rejected())
    deployed_s = time.monotonic() - started
    with stack_with_stand_in(tmp_path / "sweep.json", consume_retries=False, function_environments=LEAN_FUNCTIONS) as (
        stack,
        sink,
    ):
        for case in sweep:
            judge(case.kind, bounded(partial(in_process, stack, case)), case.expect, case.field)
        received += sink.received()
        rejected += len(sink.rejected())

    log_lines = [logger.registered_formatter.format(record) for record in caplog.records]
    leaks_in_logs = sum(1 for line in log_lines if any(secret in line.lower() for secret in hidden))
    malformed = forwarded_malformed_ids(received)
    tried = sum(kinds.values())
    figures = {
        "inputs_tried": tried,
        # The sample of the sweep sent to both stacks counts once here.
        "distinct_inputs": tried - len(sweep[::SAMPLE_EVERY]),
        "through_the_stack_as_deployed": len(as_deployed) + len(http_requests()),
        "field_mutations": len(sweep),
        "partners": sorted({base.partner for base in all_bases}),
        "fixtures": len({base.source for base in all_bases}),
        "by_kind": dict(sorted(kinds.items())),
        "answers": dict(sorted(statuses.items())),
        "5xx": sum(count for status, count in statuses.items() if status.startswith("5")),
        "hangs": statuses.get("hang", 0),
        "ids_in_logs": leaks_in_logs,
        "ids_in_error_bodies": leaks_in_bodies,
        "secrets_checked": len(hidden),
        "log_lines_checked": len(log_lines),
        "amplitude_events_accepted": len(received),
        "amplitude_rejected": rejected,
        "malformed_ids_forwarded": len(malformed),
        "slowest_answer_ms": round(slowest * 1000),
        "as_deployed_s": round(deployed_s, 1),
        "wall_s": round(time.monotonic() - started, 1),
    }
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps(figures, indent=2) + "\n")

    assert tried >= 1000
    assert problems == [], "\n".join(problems[:40])
    assert leaks_in_logs == 0, next(line for line in log_lines if any(secret in line.lower() for secret in hidden))
    assert malformed == []
    assert rejected == 0
    assert received, "the realistic postbacks among them reached Amplitude"
