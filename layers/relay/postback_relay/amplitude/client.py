"""One keep-alive HTTP session to Amplitude, and the classification of every answer.

- `/attribution`: form fields `api_key` + `event` (one JSON object per request, https://amplitude.com/docs/apis/analytics/attribution).
- `/identify`: form fields `api_key` + `identification` (https://amplitude.com/docs/apis/analytics/identify).
- `/2/httpapi`: JSON `{"api_key", "events": [...]}` (https://amplitude.com/docs/apis/analytics/http-v2).

Each answer is delivered (2xx), retryable (429, 5xx, timeout, connection error; `Retry-After`
honoured) or rejected (any other 4xx: resending the same request cannot succeed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

import certifi
import urllib3

from postback_relay.errors import ConfigurationError, DependencyUnavailable
from postback_relay.models.amplitude import AmplitudeCall
from postback_relay.observability import http_call

PATHS = {"attribution": "/attribution", "identify": "/identify", "httpapi": "/2/httpapi", "httpapi_batch": "/2/httpapi"}
_MAX_ERROR_TEXT = 300


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRYABLE = "retryable"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    status: int | None = None
    error: str | None = None
    retry_after_s: float | None = None

    @property
    def delivered(self) -> bool:
        return self.verdict is Verdict.DELIVERED


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def classify(status: int, body: str, retry_after: str | None) -> Outcome:
    if 200 <= status < 300:
        return Outcome(Verdict.DELIVERED, status)
    text = body[:_MAX_ERROR_TEXT] or None
    if status == 429 or status >= 500:
        return Outcome(Verdict.RETRYABLE, status, text, parse_retry_after(retry_after))
    return Outcome(Verdict.REJECTED, status, text)


def encode(call: AmplitudeCall, api_key: str) -> tuple[dict[str, str] | None, bytes | None]:
    """The form fields or JSON body Amplitude expects for this call."""
    payload = json.dumps(call.payload, separators=(",", ":"), ensure_ascii=False)
    if call.endpoint == "attribution":
        return {"api_key": api_key, "event": payload}, None
    if call.endpoint == "identify":
        return {"api_key": api_key, "identification": payload}, None
    events = call.payload["events"] if call.endpoint == "httpapi_batch" else [call.payload]
    body: dict[str, Any] = {"api_key": api_key, "events": events}
    return None, json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Connection": "keep-alive"}
_JSON_HEADERS = {"Content-Type": "application/json", "Connection": "keep-alive"}


class AmplitudeClient:
    """Sends AmplitudeCalls over one keep-alive connection pool per container.

    The hot path speaks urllib3 — what requests itself sits on — directly: a requests Session adds
    about half a millisecond of request preparation per POST that a fixed endpoint does not need
    (bench/ measures it). There is one host, so the pool is that host's connection pool itself: a
    PoolManager would parse the URL and look the pool up again on every POST (≈ 30 µs each).
    Certificates are verified (urllib3's default for HTTPS, with certifi's bundle).
    """

    def __init__(self, base_url: str, api_key: Callable[[str | None], str], connect_timeout_s: float = 0.5) -> None:
        """`api_key(ref)` is asked on every send (ref: the call's project, None for the relay's own);
        the secret store's cache decides when it is re-read."""
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._connect_timeout_s = connect_timeout_s
        parsed = urllib3.util.parse_url(self.base_url)
        if parsed.query or parsed.fragment:
            raise ConfigurationError("AMPLITUDE_API_URL must not carry a query string or a fragment")
        # A base URL may carry a path prefix (a proxy in front of Amplitude): kept before each path.
        self._path_prefix = (parsed.path or "").rstrip("/")
        self._pool = self._new_pool()

    def _new_pool(self) -> urllib3.HTTPConnectionPool:
        tls = {"ca_certs": certifi.where()} if self.base_url.startswith("https:") else {}
        # Retries are ours (queue + backoff), never urllib3's hidden ones.
        return urllib3.connection_from_url(self.base_url, maxsize=10, retries=False, **tls)

    def send(self, call: AmplitudeCall, timeout_s: float) -> Outcome:
        try:
            api_key = self._api_key(call.api_key_ref)
        except DependencyUnavailable:
            # The secret store is throttled or down: the call waits on the retry queue for it.
            return Outcome(Verdict.RETRYABLE, None, "not attempted: the Amplitude key could not be read")
        form, json_body = encode(call, api_key)
        if form is not None:
            body, headers = urlencode(form).encode(), _FORM_HEADERS
        else:
            body, headers = json_body or b"", _JSON_HEADERS
        path = PATHS[call.endpoint]
        with http_call(self.base_url + path) as record_status:
            outcome = self._post(self._path_prefix + path, body, headers, timeout_s)
            record_status(outcome.status)
        return outcome

    def _post(self, path: str, body: bytes, headers: dict[str, str], timeout_s: float) -> Outcome:
        timeout = urllib3.Timeout(connect=min(self._connect_timeout_s, timeout_s), read=timeout_s)
        try:
            response = self._pool.urlopen(
                "POST", path, body=body, headers=headers, timeout=timeout, retries=False, redirect=False
            )
        except urllib3.exceptions.TimeoutError:
            return Outcome(Verdict.RETRYABLE, None, f"timeout after {timeout_s:.2f}s")
        except urllib3.exceptions.HTTPError as error:  # refused, reset, dropped: the request may not have arrived
            return Outcome(Verdict.RETRYABLE, None, f"connection error: {type(error).__name__}")
        text = response.data.decode("utf-8", errors="replace")
        return classify(response.status, text, response.headers.get("Retry-After"))

    def close(self) -> None:
        """Close the open connections; the client stays usable (a new pool opens on the next send)."""
        pool, self._pool = self._pool, self._new_pool()
        pool.close()
