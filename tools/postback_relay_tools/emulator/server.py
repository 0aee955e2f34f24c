"""`AmplitudeEmulator`: the strict `AmplitudeSink` plus storage, Amplitude's ingestion semantics, throttling and
the Dashboard REST API.

The sink's validation stays the single source of ingestion rules (so every relay mistake is still a 400);
the emulator hooks in after validation: `_admit` throttles, `_record_*` store into SQLite, and its handler
class serves `/api/2/…` before falling back to the sink's routes.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import threading
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from ..local.amplitude_sink import AmplitudeSink, Endpoint, FaultPlan, _BadRequest, _Handler
from .dashboard import BadQuery, Dashboard
from .limits import EpsThrottle, QueryLimiter, QueryLimitExceeded
from .properties import MixedOperatorsError, validate
from .settings import EmulatorSettings
from .store import Store

__all__ = ["LOCAL_SECRET_KEY", "AmplitudeEmulator"]

LOCAL_SECRET_KEY = "local-amplitude-secret"  # noqa: S105 - the local project's well-known secret


class _EmulatorHandler(_Handler):
    server_version = "AmplitudeEmulator/1.0"

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header on the project's clock, as Amplitude's is on its own: `verify` measures
        how long a held attribution event has left by it."""
        emulator = cast(AmplitudeEmulator, self.server.sink)
        return formatdate(emulator.clock() if timestamp is None else timestamp, usegmt=True)

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/")
        if not path.startswith("/api/"):
            super()._dispatch(method)
            return
        try:
            self._read_body()  # keep keep-alive framing right; Dashboard requests carry no body
        except _BadRequest as exc:
            self.close_connection = True
            self._send_json(exc.status, {"code": exc.status, "error": exc.reason})
            return
        emulator = cast(AmplitudeEmulator, self.server.sink)
        status, body = emulator.dashboard_request(method, path, parts.query, self.headers.get("Authorization"))
        self._send_json(status, body)


class AmplitudeEmulator(AmplitudeSink):
    """A local Amplitude project: ingestion with Amplitude's semantics, persisted, and queryable.

    `clock` (seconds since epoch) drives hold-and-match, dedup, throttling and query budgets, so tests move
    time instead of sleeping. `db` is a SQLite path (`:memory:` by default). `latency_s` delays every
    ingestion answer (demos); `sleep` is how, injectable for tests.
    """

    def __init__(
        self,
        api_key: str = "local-amplitude-key",
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
        *,
        secret_key: str = LOCAL_SECRET_KEY,
        db: str = ":memory:",
        settings: EmulatorSettings | None = None,
        clock: Callable[[], float] = time.time,
        latency_s: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings or EmulatorSettings()
        super().__init__(
            api_key,
            host,
            port,
            faults,
            accept_json_attribution=self.settings.accept_json_attribution,
            accept_json_identify=self.settings.accept_json_identify,
            platform_case_insensitive=self.settings.platform_case_insensitive,
        )
        self.secret_key = secret_key
        self.clock = clock
        self.latency_s = latency_s
        self._sleep = sleep
        self.store = Store(db, settings=self.settings, clock=clock)
        self.throttle = EpsThrottle(self.settings, clock)
        self.limiter = QueryLimiter(self.settings, clock)
        self.dashboard = Dashboard(self.store, self.settings)
        self.on_query: Callable[[str], None] | None = None
        """Test hook: called while a Dashboard query holds its concurrency slot."""
        self._ingest_lock = threading.Lock()

    @property
    def handler_class(self) -> type[_Handler]:
        return _EmulatorHandler

    def close(self) -> None:
        """Stop serving and close the database."""
        self.stop()
        self.store.close()

    def clear(self) -> None:
        """Forget everything: recordings, stored project data, throttle and query budgets."""
        with self._ingest_lock:
            super().clear()
            self.store.reset()
            self.throttle.reset()
            self.limiter.reset()

    # ------------------------------------------------------------------------------ ingestion hooks

    def _before_ingest(self, endpoint: Endpoint) -> None:
        if self.latency_s > 0:
            self._sleep(self.latency_s)

    def _admit(self, endpoint: Endpoint, items: list[dict[str, Any]]) -> tuple[int, dict[str, Any]] | None:
        if endpoint == "httpapi" and self.settings.reject_mixed_httpapi_user_properties:
            invalid = []
            for index, event in enumerate(items):
                props = event.get("user_properties")
                try:
                    if isinstance(props, dict):
                        validate(props)
                except MixedOperatorsError:
                    invalid.append(index)
            if invalid:
                body = {
                    "code": 400,
                    "error": "Invalid field values on some events",
                    "events_with_invalid_fields": {"user_properties": invalid},
                }
                self._record_rejected(endpoint, {"events": items}, "user_properties mixes operators and plain keys")
                return 400, body
        if endpoint == "attribution" and not self.settings.throttle_attribution:
            return None
        refusal = self.throttle.admit(items)
        return (429, refusal) if refusal is not None else None

    def _record_accepted(self, endpoint: Endpoint, items: list[dict[str, Any]]) -> None:
        with self._ingest_lock:
            super()._record_accepted(endpoint, items)
            for item in items:
                if endpoint == "attribution":
                    self.store.ingest_attribution(item)
                else:
                    self.store.ingest_identify(item)

    def _record_httpapi(self, events: list[dict[str, Any]]) -> None:
        with self._ingest_lock:
            stored = self.store.ingest_httpapi(events)
            # Keep the sink's in-memory recording in step: only what was stored (not insert_id duplicates).
            super()._record_accepted("httpapi", stored)

    # ---------------------------------------------------------------------------------- dashboard

    def _authorised(self, header: str | None) -> bool:
        if not header or not header.lower().startswith("basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        key, _, secret = decoded.partition(":")
        return hmac.compare_digest(key, self.api_key) and hmac.compare_digest(secret, self.secret_key)

    def dashboard_request(
        self, method: str, path: str, query: str, authorization: str | None
    ) -> tuple[int, dict[str, Any]]:
        """(status, JSON body) of one Dashboard REST API request."""
        if not path.startswith("/api/2/"):
            return 404, {"code": 404, "error": f"{path} is not implemented in the emulator"}
        if not self._authorised(authorization):
            # Amplitude's body for bad credentials is undocumented [U]; the status is 401.
            return 401, {"code": 401, "error": "Invalid API key or secret key (HTTP Basic api_key:secret_key)"}
        if method != "GET":
            return 405, {"code": 405, "error": f"{method} not allowed on {path}"}
        try:
            self.limiter.acquire()
        except QueryLimitExceeded as exc:
            return 429, exc.body()
        try:
            params = parse_qs(query, keep_blank_values=True)
            prepared = self.dashboard.prepare(path[len("/api/2/") :], params)
            if prepared is None:
                return 404, {"code": 404, "error": f"{path} is not implemented in the emulator"}
            self.limiter.charge(prepared.cost, user_lookup=prepared.user_lookup)
            if self.on_query is not None:
                self.on_query(prepared.endpoint)
            return 200, prepared.run()
        except BadQuery as exc:
            return exc.status, {"code": exc.status, "error": str(exc)}
        except QueryLimitExceeded as exc:
            return 429, exc.body()
        finally:
            self.limiter.release()
