"""One keep-alive HTTP session to Amplitude, and the classification of every answer.

- `/attribution`: form fields `api_key` + `event` (one JSON object per request, guide 001).
- `/identify`: form fields `api_key` + `identification` (seed 003).
- `/2/httpapi`: JSON `{"api_key", "events": [...]}` (reference §3).

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

import requests
from requests.adapters import HTTPAdapter

from postback_relay.mapping import AmplitudeCall

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


class AmplitudeClient:
    """Sends AmplitudeCalls over one pooled keep-alive session (one per container)."""

    def __init__(self, base_url: str, api_key: Callable[[str | None], str], connect_timeout_s: float = 0.5) -> None:
        """`api_key(ref)` is asked on every send (ref: the call's project, None for the relay's own);
        the secret store's cache decides when it is re-read."""
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._connect_timeout_s = connect_timeout_s
        self._session = requests.Session()
        # Retries are ours (queue + backoff), never urllib3's hidden ones.
        self._session.mount("http://", HTTPAdapter(max_retries=0, pool_maxsize=10))
        self._session.mount("https://", HTTPAdapter(max_retries=0, pool_maxsize=10))

    def send(self, call: AmplitudeCall, timeout_s: float) -> Outcome:
        form, json_body = encode(call, self._api_key(call.api_key_ref))
        url = self.base_url + PATHS[call.endpoint]
        timeout = (min(self._connect_timeout_s, timeout_s), timeout_s)
        try:
            if form is not None:
                response = self._session.post(url, data=form, timeout=timeout)
            else:
                response = self._session.post(
                    url, data=json_body, headers={"Content-Type": "application/json"}, timeout=timeout
                )
        except requests.Timeout:
            return Outcome(Verdict.RETRYABLE, None, f"timeout after {timeout_s:.2f}s")
        except requests.ConnectionError as error:
            return Outcome(Verdict.RETRYABLE, None, f"connection error: {type(error).__name__}")
        return classify(response.status_code, response.text, response.headers.get("Retry-After"))

    def close(self) -> None:
        self._session.close()
