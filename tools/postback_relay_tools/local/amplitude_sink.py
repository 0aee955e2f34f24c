"""A strict, local stand-in for Amplitude's ingestion API on a real loopback HTTP server.

Serves `POST /attribution`, `GET|POST /identify` and `POST /2/httpapi` with the validation rules of
Amplitude's pages (https://amplitude.com/docs/apis/analytics/attribution, .../identify, .../http-v2) and
docs/emulator.md. It is deliberately written with the standard library only and *without* the relay's
pydantic models: the checks are an independent reading of those pages, so a relay mistake (wrong encoding,
seconds instead of ms, an all-zero IDFA, an unreplaced `{macro}`) shows up as a 400 here instead of being
silently mirrored.

Used by `postback-relay serve` (the local Amplitude when AMPLITUDE_API_URL is unset) and by the
integration / chaos tests, which inject 429 / 5xx / dropped connections through a `FaultPlan`.

Introspection: `GET /_sink/received` (JSON of everything accepted and rejected) and `GET /health`.
An outage on demand: `POST /_sink/outage` with `{"seconds": N, "status": 503}` (or 429, 500, with an
optional `"retry_after_s"`) fails every ingestion request for N seconds of the stack's clock (virtual
under `serve --virtual-clock`); `DELETE /_sink/outage` ends it.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import gzip
import json
import logging
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, NoReturn, Self, cast, get_args
from urllib.parse import parse_qs, urlsplit

__all__ = ["AmplitudeSink", "Fault", "FaultKind", "FaultPlan", "Received"]

log = logging.getLogger(__name__)

# "slow": hold the request past the client's timeout, then drop it unprocessed (a gateway timeout).
FaultKind = Literal["ok", "429", "429-retry-after", "500", "502", "503", "drop", "slow"]
Endpoint = Literal["attribution", "identify", "httpapi"]

_FAULT_KINDS: frozenset[str] = frozenset(get_args(FaultKind))
_DEFAULT_RANDOM_KINDS: tuple[str, ...] = ("429", "429-retry-after", "500", "503", "drop")

# Ids the relay must never forward: the all-zero IDFA/AdID of opted-out devices would merge every such
# user into one, and a `{...}` is an unreplaced partner macro.
_ZERO_UUID = "00000000-0000-0000-0000-000000000000"
_ID_FIELDS = ("user_id", "device_id", "idfa", "idfv", "adid", "android_id", "android_app_set_id")

# HTTP V2: ids Amplitude always refuses, compared case-insensitively (https://amplitude.com/docs/apis/analytics/http-v2).
_HTTPAPI_BLOCKED_IDS = frozenset(
    {"anonymous", "nil", "none", "null", "n/a", "na", "undefined", "unknown", '""', _ZERO_UUID, "{}"}
    | {"lmy47d", "0", "-1"}
)
_RESERVED_EVENT_TYPES = frozenset(
    {
        "[Amplitude] Start Session",
        "[Amplitude] End Session",
        "[Amplitude] Revenue",
        "[Amplitude] Revenue (Verified)",
        "[Amplitude] Revenue (Unverified)",
        "[Amplitude] Merged User",
    }
)
_NUMERIC_FIELDS = ("price", "quantity", "revenue", "location_lat", "location_lng")
_INTEGER_FIELDS = ("time", "session_id", "event_id")

_IDENTIFY_OPERATORS = frozenset(
    {"$set", "$setOnce", "$add", "$append", "$prepend", "$preInsert", "$postInsert", "$remove", "$unset"}
    | {"$clearAll"}
)

# A `time` below 10**11 ms is before 1973: in practice the relay sent seconds.
_MIN_PLAUSIBLE_MS = 10**11

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class _BadRequest(Exception):
    """A request the sink rejects; carries the status, the body to send and the reason to record."""

    def __init__(
        self,
        reason: str,
        *,
        status: int = 400,
        json_body: dict[str, Any] | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.json_body = json_body
        self.payload = payload


# --------------------------------------------------------------------------------------------- faults


@dataclass
class Fault:
    """What the sink does to one request instead of (or before) processing it."""

    kind: FaultKind
    retry_after_s: int = 1


def _check_kind(kind: str) -> FaultKind:
    if kind not in _FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(_FAULT_KINDS)}")
    return cast(FaultKind, kind)


class FaultPlan:
    """Decides, per incoming ingestion request, whether to fault it. Thread-safe and deterministic.

    Determinism is per request *order*: the n-th request the sink sees gets the n-th decision, whatever
    its endpoint, so a seeded plan replays identically as long as the relay sends in the same order.
    """

    def __init__(
        self,
        *,
        rate: float = 0.0,
        seed: int = 0,
        kinds: Sequence[str] = (),
        script: Sequence[str] = (),
        retry_after_s: int = 1,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], got {rate}")
        if rate > 0 and not kinds:
            raise ValueError("a random fault plan needs at least one fault kind")
        self._rate = rate
        self._kinds: tuple[FaultKind, ...] = tuple(_check_kind(k) for k in kinds)
        self._script: deque[FaultKind] = deque(_check_kind(k) for k in script)
        self._rng = random.Random(seed)  # noqa: S311 - fault injection, not cryptography
        self._retry_after_s = retry_after_s
        self._lock = threading.Lock()
        self.decisions: list[tuple[str, FaultKind]] = []  # (endpoint, kind) history, for test diagnostics

    @classmethod
    def none(cls) -> FaultPlan:
        """Never fault."""
        return cls()

    @classmethod
    def random(
        cls, rate: float, seed: int, kinds: Sequence[str] = _DEFAULT_RANDOM_KINDS, retry_after_s: int = 1
    ) -> FaultPlan:
        """Fault each request with probability `rate`, picking a kind uniformly from `kinds` (seeded)."""
        return cls(rate=rate, seed=seed, kinds=kinds, retry_after_s=retry_after_s)

    @classmethod
    def script(cls, kinds: Sequence[str], retry_after_s: int = 1) -> FaultPlan:
        """The next len(kinds) requests get these faults ("ok" = let it through), then every request is ok."""
        return cls(script=kinds, retry_after_s=retry_after_s)

    @property
    def pending(self) -> int:
        """Scripted faults not yet consumed."""
        with self._lock:
            return len(self._script)

    def next(self, endpoint: str) -> Fault:
        with self._lock:
            kind: FaultKind = "ok"
            if self._script:
                kind = self._script.popleft()
            elif self._rate > 0:
                # Always draw both numbers so the sequence for a seed does not depend on earlier outcomes.
                roll = self._rng.random()
                pick = self._rng.choice(self._kinds)
                if roll < self._rate:
                    kind = pick
            self.decisions.append((endpoint, kind))
            return Fault(kind, self._retry_after_s)


# ---------------------------------------------------------------------------------------- recordings


@dataclass(frozen=True)
class Received:
    """One accepted event / identification (or one rejected request, with `reason`)."""

    endpoint: Endpoint
    payload: dict[str, Any]
    reason: str | None = None
    insert_id: str | None = None


# ------------------------------------------------------------------------------------------ helpers


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _relay_bug_ids(obj: dict[str, Any]) -> str | None:
    """A reason if any identifier is an all-zero id or an unreplaced macro (always a relay bug)."""
    for name in _ID_FIELDS:
        value = obj.get(name)
        if isinstance(value, str) and (value == _ZERO_UUID or "{" in value):
            return f"{name} {value!r} is a placeholder (all-zero id or unreplaced macro): relay bug"
    return None


def _check_time(value: Any) -> str | None:
    if not _is_int(value):
        return f"time must be an integer of ms since epoch, got {value!r}"
    if value < _MIN_PLAUSIBLE_MS:
        return f"time {value} looks like seconds, expected ms since epoch"
    return None


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _now_ms() -> int:
    return int(time.time() * 1000)


# -------------------------------------------------------------------------------------------- server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sink: AmplitudeSink) -> None:
        self.sink = sink
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        # A subclass of the sink (the emulator) may serve more routes with its own handler class.
        super().__init__(address, sink.handler_class)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr; client resets are routine in chaos tests.
        log.debug("amplitude sink: error handling request from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive: the relay reuses one requests.Session, so every response carries Content-Length.
    protocol_version = "HTTP/1.1"
    server_version = "AmplitudeSink/1.0"
    # Headers and body go out in two writes; with Nagle on, keep-alive requests stall ~40 ms on delayed ACKs.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.open_connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.open_connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("amplitude sink: " + format, *args)

    # ------------------------------------------------------------------------------- dispatching

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        sink = self.server.sink
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        try:
            body = self._read_body()
        except _BadRequest as exc:
            self.close_connection = True  # the body framing is unknown: the connection can't be reused
            self._send_json(exc.status, {"code": exc.status, "error": exc.reason})
            return

        if method == "GET" and path == "/health":
            self._send_json(200, {"status": "ok"})
            return
        if method == "GET" and path == "/_sink/received":
            self._send_json(200, sink.snapshot())
            return
        if path == "/_sink/outage" and method in ("POST", "DELETE", "GET"):
            self._outage(method, body)
            return

        routes: dict[str, tuple[Endpoint, tuple[str, ...]]] = {
            "/attribution": ("attribution", ("POST",)),
            "/identify": ("identify", ("GET", "POST")),
            "/2/httpapi": ("httpapi", ("POST",)),
        }
        route = routes.get(path)
        if route is None:
            self._send_json(404, {"code": 404, "error": "Invalid request path", "path": parts.path})
            return
        endpoint, methods = route
        if method not in methods:
            self._send_json(405, {"code": 405, "error": f"{method} not allowed on {path}"})
            return

        sink._count_request()
        # Faults are decided before any validation or ingestion: a faulted request records nothing.
        fault = sink.outage_fault() or sink.faults.next(endpoint)
        if fault.kind != "ok":
            self._send_fault(fault)
            return
        sink._before_ingest(endpoint)

        try:
            if endpoint == "attribution":
                accepted = self._attribution(parts.query, body)
            elif endpoint == "identify":
                accepted = self._identify(parts.query, body)
            else:
                self._httpapi(body)
                return
        except _BadRequest as exc:
            sink._record_rejected(endpoint, exc.payload or {}, exc.reason)
            if exc.json_body is not None:
                self._send_json(exc.status, exc.json_body)
            else:
                self._send_text(exc.status, exc.reason)
            return
        refusal = sink._admit(endpoint, accepted)
        if refusal is not None:
            self._send_json(*refusal)
            return
        sink._record_accepted(endpoint, accepted)
        self._send_text(200, "success")

    # ------------------------------------------------------------------------------------ I/O

    def _read_body(self) -> bytes:
        """Read the whole request body so keep-alive framing stays correct even for faulted requests."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                try:
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise _BadRequest("malformed chunked body") from None
                if size == 0:
                    while self.rfile.readline(65537).strip():  # trailers, then the blank line
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)  # CRLF after each chunk
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            raise _BadRequest("invalid Content-Length") from None
        if length < 0:
            raise _BadRequest("invalid Content-Length")
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # client went away mid-response; nothing more to do

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json", headers)

    def _send_text(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8")

    def _outage(self, method: str, body: bytes) -> None:
        sink = self.server.sink
        if method == "POST":
            try:
                spec = json.loads(body or b"{}")
                seconds = float(spec["seconds"])
                status = int(spec.get("status", 503))
                retry_after = spec.get("retry_after_s")
                sink.start_outage(seconds, status, None if retry_after is None else int(retry_after))
            except (ValueError, KeyError, TypeError) as error:
                self._send_json(400, {"error": f"expected {{'seconds': N, 'status': 429|500|503}}: {error}"})
                return
        elif method == "DELETE":
            sink.end_outage()
        self._send_json(200, sink.outage_state())

    def _send_fault(self, fault: Fault) -> None:
        if fault.kind == "slow":
            self.server.sink.stopping.wait(self.server.sink.slow_s)  # the fault itself: an answer that never comes
        if fault.kind in ("drop", "slow"):
            # Body already read; close without a single response byte -> client sees RemoteDisconnected.
            self.close_connection = True
            try:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault.kind in ("429", "429-retry-after"):
            body = {
                "code": 429,
                "error": "Too many requests for some devices and users",
                "eps_threshold": 30,
                "throttled_devices": {},
                "throttled_users": {},
                "throttled_events": [0],
            }
            headers = {"Retry-After": str(fault.retry_after_s)} if fault.kind == "429-retry-after" else None
            self._send_json(429, body, headers)
            return
        status = int(fault.kind)
        messages = {500: "Internal server error", 502: "Bad gateway", 503: "Service unavailable"}
        self._send_json(status, {"code": status, "error": messages.get(status, "Server error")})

    # ------------------------------------------------------------------------ form endpoints

    def _form_params(self, query: str, body: bytes, what: str, accept_json: bool) -> dict[str, str]:
        """Merge query-string and body parameters (both documented); a parameter may appear only once."""
        media = _media_type(self.headers.get("Content-Type"))
        raw: dict[str, list[str]] = {}

        def add(pairs: Iterable[tuple[str, str]]) -> None:
            for key, value in pairs:
                raw.setdefault(key, []).append(value)

        try:
            add(_parse_qs_pairs(query))
            if media == "application/json":
                if not accept_json:
                    raise _BadRequest(f"{self.path.split('?')[0].strip('/')} expects form fields {what}")
                add(_json_body_pairs(body))
            elif media == "multipart/form-data":
                add(_multipart_pairs(self.headers.get("Content-Type", ""), body))
            elif body:
                if media != "application/x-www-form-urlencoded":
                    # Amplitude only reads a body as parameters when it is declared as a form.
                    raise _BadRequest(f"unsupported Content-Type {media or '(none)'!r}; expected one of {_FORM_TYPES}")
                add(_parse_qs_pairs(body.decode("utf-8")))
        except UnicodeDecodeError:
            raise _BadRequest("request is not valid UTF-8") from None

        dupes = sorted(k for k, v in raw.items() if len(v) > 1)
        if dupes:
            raise _BadRequest(f"parameter(s) sent more than once: {', '.join(dupes)}", payload={"params": raw})
        return {k: v[0] for k, v in raw.items()}

    def _check_api_key(self, params: dict[str, str]) -> None:
        key = params.get("api_key", "")
        if not key:
            raise _BadRequest("missing api_key", payload={"params": params})
        if key != self.server.sink.api_key:
            raise _BadRequest("invalid api_key", payload={"params": params})

    def _attribution(self, query: str, body: bytes) -> list[dict[str, Any]]:
        sink = self.server.sink
        params = self._form_params(query, body, "api_key and event", sink.accept_json_attribution)
        self._check_api_key(params)
        raw_event = params.get("event", "")
        if not raw_event:
            raise _BadRequest("missing event", payload={"params": params})
        try:
            event = json.loads(raw_event)
        except json.JSONDecodeError as exc:
            raise _BadRequest(f"event is not valid JSON: {exc}", payload={"params": params}) from None
        if isinstance(event, list):
            raise _BadRequest("event must be a single JSON object, not an array", payload={"event": event})
        if not isinstance(event, dict):
            raise _BadRequest("event must be a JSON object", payload={"params": params})
        reason = _attribution_problem(event, sink.platform_case_insensitive)
        if reason:
            raise _BadRequest(reason, payload=event)
        return [event]

    def _identify(self, query: str, body: bytes) -> list[dict[str, Any]]:
        sink = self.server.sink
        params = self._form_params(query, body, "api_key and identification", sink.accept_json_identify)
        self._check_api_key(params)
        raw = params.get("identification", "")
        try:
            parsed = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            parsed = None
        items = parsed if isinstance(parsed, list) else [parsed] if isinstance(parsed, dict) else []
        if not items or not all(isinstance(i, dict) for i in items):
            raise _BadRequest("missing_event", payload={"params": params})
        for index, item in enumerate(items):
            problem = _identification_problem(item)
            if problem:
                prefix = f"identification[{index}]: " if isinstance(parsed, list) else ""
                raise _BadRequest(prefix + problem, payload=item)
        return cast(list[dict[str, Any]], items)

    # ------------------------------------------------------------------------------- HTTP V2

    def _httpapi(self, body: bytes) -> None:
        sink = self.server.sink
        try:
            events = self._httpapi_validate(body)
        except _BadRequest as exc:
            sink._record_rejected("httpapi", exc.payload or {}, exc.reason)
            self._send_json(exc.status, exc.json_body or {"code": exc.status, "error": exc.reason})
            return
        refusal = sink._admit("httpapi", events)
        if refusal is not None:
            self._send_json(*refusal)
            return
        sink._record_httpapi(events)
        self._send_json(
            200,
            {
                "code": 200,
                "events_ingested": len(events),
                "payload_size_bytes": len(body),
                "server_upload_time": _now_ms(),
            },
        )

    def _httpapi_validate(self, body: bytes) -> list[dict[str, Any]]:
        sink = self.server.sink

        def fail(error: str, status: int = 400, payload: dict[str, Any] | None = None, **extra: Any) -> NoReturn:
            reply = {"code": status, "error": error, **extra}
            reason = error if not extra else f"{error}: {json.dumps(extra, sort_keys=True)}"
            raise _BadRequest(reason, status=status, json_body=reply, payload=payload)

        if _media_type(self.headers.get("Content-Type")) != "application/json":
            fail("Invalid JSON request body", content_type=self.headers.get("Content-Type"))
        if not body:
            fail("Missing request body")
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError):
                fail("Invalid JSON request body")
        if len(body) > sink.max_httpapi_bytes:
            fail("Payload too large", status=413)
        try:
            doc = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            fail("Invalid JSON request body", payload={"raw": body[:2000].decode("utf-8", "replace")})
        if not isinstance(doc, dict):
            fail("Invalid JSON request body", payload={"raw": doc})
        for field in ("api_key", "events"):
            if field not in doc or doc[field] in (None, ""):
                fail("Request missing required field", payload=doc, missing_field=field)
        if doc["api_key"] != sink.api_key:
            fail("Invalid API key", payload=doc)
        events = doc["events"]
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            fail("Invalid event JSON", payload=doc)
        if not events:
            fail("Request missing required field", payload=doc, missing_field="events")
        if len(events) > sink.max_httpapi_events:
            fail("Payload too large", status=413, payload={"events": len(events)})

        options = doc.get("options") or {}
        min_id_length = options.get("min_id_length", 5) if isinstance(options, dict) else 5
        if not _is_int(min_id_length):
            fail("Invalid field values on some events", payload=doc, options=["min_id_length"])

        missing: dict[str, list[int]] = {}
        invalid: dict[str, list[int]] = {}
        short: dict[str, list[int]] = {}
        cleaned: list[dict[str, Any]] = []
        for index, raw_event in enumerate(events):
            event = dict(raw_event)
            for field, problem in _httpapi_event_problems(event, min_id_length):
                target = {"missing": missing, "invalid": invalid, "short": short}[problem]
                target.setdefault(field, []).append(index)
            cleaned.append(event)
        if missing or invalid:
            error = "Invalid field values on some events" if invalid else "Request missing required field"
            fail(
                error,
                payload=doc,
                events_with_missing_fields=missing,
                events_with_invalid_fields=invalid,
                events_with_invalid_id_lengths=short,
            )
        return cleaned


def _parse_qs_pairs(text: str) -> list[tuple[str, str]]:
    parsed = parse_qs(text, keep_blank_values=True, errors="strict")
    return [(key, value) for key, values in parsed.items() for value in values]


def _json_body_pairs(body: bytes) -> list[tuple[str, str]]:
    """Only used when a JSON body is explicitly allowed; nested objects are re-serialised like form values."""
    try:
        doc = json.loads(body or b"{}")
    except json.JSONDecodeError:
        raise _BadRequest("request body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise _BadRequest("JSON request body must be an object")
    return [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in doc.items()]


def _multipart_pairs(content_type: str, body: bytes) -> list[tuple[str, str]]:
    """multipart/form-data is documented for /identify; parsed with the email package (cgi is deprecated)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise _BadRequest("malformed multipart/form-data body")
    pairs: list[tuple[str, str]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        pairs.append((name, payload.decode("utf-8") if isinstance(payload, bytes) else ""))
    return pairs


def _attribution_problem(event: dict[str, Any], platform_case_insensitive: bool) -> str | None:
    """The Attribution API page's rules for one attribution event; None when acceptable."""
    event_type = event.get("event_type")
    if not isinstance(event_type, str) or not event_type.strip():
        return "event_type must be a non-empty string"
    platform = event.get("platform")
    if isinstance(platform, str) and platform_case_insensitive:
        platform = platform.lower()
    if platform not in ("ios", "android"):
        return f"platform must be 'ios' or 'android', got {event.get('platform')!r}"
    for name in _ID_FIELDS:
        if name in event and not isinstance(event[name], str):
            return f"{name} must be a string, got {event[name]!r}"
    bug = _relay_bug_ids(event)
    if bug:
        return bug
    needed = ("idfa", "idfv") if platform == "ios" else ("adid", "android_app_set_id")
    if not any(isinstance(event.get(n), str) and event[n].strip() for n in needed):
        return f"{platform} attribution needs a non-empty {' or '.join(needed)}"
    if "time" in event:
        problem = _check_time(event["time"])
        if problem:
            return problem
    if "user_properties" in event and not isinstance(event["user_properties"], dict):
        return "user_properties must be a JSON object"
    return None


def _identification_problem(item: dict[str, Any]) -> str | None:
    """Identify API rules for one identification object; None when acceptable."""
    ids = [item.get(n) for n in ("user_id", "device_id")]
    if not any(isinstance(v, str) and v.strip() for v in ids):
        return "identification needs a non-empty user_id or device_id"
    bug = _relay_bug_ids(item)
    if bug:
        return bug
    props = item.get("user_properties")
    if not isinstance(props, dict):
        return "user_properties must be a JSON object"
    operators = [k for k in props if k.startswith("$")]
    if operators:
        plain = sorted(k for k in props if k not in _IDENTIFY_OPERATORS)
        if plain:
            return f"user_properties mixes operators with other keys (or unknown operators): {plain}"
        for op, value in props.items():
            if op != "$clearAll" and not isinstance(value, dict):
                return f"user_properties.{op} must be a JSON object, got {value!r}"
    return None


def _httpapi_event_problems(event: dict[str, Any], min_id_length: int) -> list[tuple[str, str]]:
    """(field, "missing"|"invalid"|"short") problems for one HTTP V2 event; strips too-short ids in place."""
    problems: list[tuple[str, str]] = []
    event_type = event.get("event_type")
    if event_type is None or event_type == "":
        problems.append(("event_type", "missing"))
    elif not isinstance(event_type, str) or event_type in _RESERVED_EVENT_TYPES:
        problems.append(("event_type", "invalid"))

    kept_ids = 0
    bad_ids = False
    stripped: list[str] = []
    for name in ("user_id", "device_id"):
        value = event.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or value.strip().lower() in _HTTPAPI_BLOCKED_IDS or "{" in value:
            problems.append((name, "invalid"))
            bad_ids = True
        elif len(value) < min_id_length:
            # Amplitude strips a too-short id rather than failing; only an event left id-less is an error.
            del event[name]
            stripped.append(name)
        else:
            kept_ids += 1
    if kept_ids == 0 and not bad_ids:
        problems.extend((name, "short") for name in stripped)
        problems.extend([("user_id", "missing"), ("device_id", "missing")])

    for name in ("idfa", "idfv", "adid", "android_id", "android_app_set_id"):
        value = event.get(name)
        if value is not None and (not isinstance(value, str) or value == _ZERO_UUID or "{" in value):
            problems.append((name, "invalid"))
    for name in _INTEGER_FIELDS:
        if name in event:
            if name == "time":
                if _check_time(event[name]):
                    problems.append((name, "invalid"))
            elif not _is_int(event[name]):
                problems.append((name, "invalid"))
    for name in _NUMERIC_FIELDS:
        if name in event and not _is_number(event[name]):
            problems.append((name, "invalid"))
    if "insert_id" in event and not isinstance(event["insert_id"], str):
        problems.append(("insert_id", "invalid"))
    for name in ("event_properties", "user_properties"):
        if name in event and not isinstance(event[name], dict):
            problems.append((name, "invalid"))
    return problems


# ---------------------------------------------------------------------------------------------- sink


class AmplitudeSink:
    """A strict local Amplitude ingestion API. Use as a context manager or start()/stop()."""

    # Limits from Amplitude's HTTP V2 page (class attributes so a test can lower them on an instance).
    max_httpapi_events = 2000
    max_httpapi_bytes = 1024 * 1024
    # How long a "slow" fault holds a request before dropping it: past the relay's timeouts.
    slow_s = 1.0

    def __init__(
        self,
        api_key: str = "local-amplitude-key",
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
        *,
        accept_json_attribution: bool = False,
        accept_json_identify: bool = False,
        platform_case_insensitive: bool = False,
    ) -> None:
        """
        accept_json_attribution / accept_json_identify: a JSON body is undocumented for these endpoints
        ([U]: unconfirmed); off by default so the relay is held to form fields.
        platform_case_insensitive: Amplitude's page says "ios" or "android"; real Amplitude may be lenient [U],
        but the relay sends lower-case, so anything else is a bug by default.
        """
        self.api_key = api_key
        self.faults: FaultPlan = faults or FaultPlan.none()
        self.accept_json_attribution = accept_json_attribution
        self.accept_json_identify = accept_json_identify
        self.platform_case_insensitive = platform_case_insensitive
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._rejected: list[Received] = []
        self._seen_insert_ids: set[tuple[str, str]] = set()
        self._requests_seen = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()  # cuts "slow" faults short when the sink stops
        # A timed outage (start_outage): until this instant of the clock, every request gets `_outage`.
        self._outage_until_s = 0.0
        self._outage = Fault("503")

    # ------------------------------------------------------------------------------- outages

    def start_outage(self, seconds: float, status: int = 503, retry_after_s: int | None = None) -> None:
        """Fail every ingestion request for `seconds` of the clock (time.time: virtual under
        `serve --virtual-clock`) with `status` (429, 500 or 503), with Retry-After if given."""
        kinds: dict[int, FaultKind] = {429: "429", 500: "500", 503: "503"}
        if status not in kinds or seconds < 0:
            raise ValueError(f"an outage answers 429, 500 or 503 for N >= 0 seconds, not {status} for {seconds}")
        kind: FaultKind = "429-retry-after" if status == 429 and retry_after_s is not None else kinds[status]
        with self._lock:
            self._outage = Fault(kind, retry_after_s or 1)
            self._outage_until_s = time.time() + seconds

    def end_outage(self) -> None:
        with self._lock:
            self._outage_until_s = 0.0

    def outage_fault(self) -> Fault | None:
        with self._lock:
            return self._outage if time.time() < self._outage_until_s else None

    def outage_state(self) -> dict[str, Any]:
        with self._lock:
            left = max(0.0, self._outage_until_s - time.time())
            return {"outage": left > 0, "seconds_left": round(left, 3), "fault": self._outage.kind}

    # ----------------------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        if self._server is not None:
            return self
        self.stopping.clear()
        self._server = _Server((self._host, self._port), self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"amplitude-sink:{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self.stopping.set()
        server.shutdown()
        # Idle keep-alive connections would otherwise leave handler threads blocked in readline().
        with server.connections_lock:
            for conn in list(server.open_connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("AmplitudeSink is not started")
        return f"http://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    # ------------------------------------------------------------------------------- queries

    def received(self, endpoint: str | None = None) -> list[Received]:
        """Accepted (ingested) items in arrival order; httpapi duplicates by insert_id are not repeated."""
        with self._lock:
            return [r for r in self._received if endpoint is None or r.endpoint == endpoint]

    def rejected(self) -> list[Received]:
        """Requests refused with a 4xx validation error (400, and 413 for oversize), with their reason."""
        with self._lock:
            return list(self._rejected)

    def requests_seen(self) -> int:
        """Every request to an ingestion endpoint, faulted ones included (not /health or /_sink/*)."""
        with self._lock:
            return self._requests_seen

    def clear(self) -> None:
        """Forget everything, including the insert_id dedup memory (a fresh Amplitude project)."""
        with self._lock:
            self._received.clear()
            self._rejected.clear()
            self._seen_insert_ids.clear()
            self._requests_seen = 0

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """The JSON served at GET /_sink/received."""
        with self._lock:
            out: dict[str, list[dict[str, Any]]] = {"attribution": [], "identify": [], "httpapi": []}
            for item in self._received:
                out[item.endpoint].append({"payload": item.payload, "insert_id": item.insert_id})
            out["rejected"] = [asdict(r) for r in self._rejected]
            return out

    # ----------------------------------------------------------------------- handler hooks
    # The emulator (postback_relay_tools.emulator) subclasses the sink and overrides these to add storage,
    # throttling and the Dashboard REST API; the plain sink keeps its record-only behaviour.

    @property
    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    def _before_ingest(self, endpoint: Endpoint) -> None:
        """Called for every unfaulted ingestion request before validation (the emulator adds latency here)."""

    def _admit(self, endpoint: Endpoint, items: list[dict[str, Any]]) -> tuple[int, dict[str, Any]] | None:
        """A (status, JSON body) refusing valid items before they are recorded (e.g. a 429), or None."""
        return None

    def _count_request(self) -> None:
        with self._lock:
            self._requests_seen += 1

    def _record_accepted(self, endpoint: Endpoint, items: list[dict[str, Any]]) -> None:
        with self._lock:
            for item in items:
                insert_id = item.get("insert_id")
                self._received.append(Received(endpoint, item, None, insert_id if isinstance(insert_id, str) else None))

    def _record_httpapi(self, events: list[dict[str, Any]]) -> None:
        with self._lock:
            for event in events:
                insert_id = event.get("insert_id")
                if isinstance(insert_id, str) and insert_id:
                    # Amplitude dedups on insert_id scoped to device_id (else user_id): accepted, not stored.
                    scope = str(event.get("device_id") or "u:" + str(event.get("user_id")))
                    key = (scope, insert_id)
                    if key in self._seen_insert_ids:
                        continue
                    self._seen_insert_ids.add(key)
                self._received.append(
                    Received("httpapi", event, None, insert_id if isinstance(insert_id, str) else None)
                )

    def _record_rejected(self, endpoint: Endpoint, payload: dict[str, Any], reason: str) -> None:
        log.info("amplitude sink rejected %s: %s", endpoint, reason)
        with self._lock:
            self._rejected.append(Received(endpoint, payload, reason, None))
