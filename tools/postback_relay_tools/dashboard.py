"""A small client of Amplitude's Dashboard REST API: real Amplitude (US or EU) or the local emulator, HTTP Basic
with the project's API key and secret key (https://amplitude.com/docs/apis/analytics/dashboard-rest)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import requests

T = TypeVar("T")

DASHBOARD_URLS = {"us": "https://amplitude.com/api/2", "eu": "https://analytics.eu.amplitude.com/api/2"}


class DashboardError(RuntimeError):
    """Amplitude refused the query; the message says why (401 keys, 429 limits, 400 parameters).
    `status` is the HTTP status (None when no answer came) and `body` the start of Amplitude's answer."""

    def __init__(self, message: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class DashboardClient:
    def __init__(self, base_url: str, api_key: str, secret_key: str, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = requests.Session()
        self._session.auth = (api_key, secret_key)
        self._timeout_s = timeout_s
        # Amplitude's own clock (its Date header) as of the last answer: how far its 72 h hold of an
        # attribution event has run is measured on it, not on this machine's clock.
        self.server_time_ms: int | None = None

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        encoded = {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in params.items() if v is not None}
        response = self._session.get(f"{self.base_url}/{path.lstrip('/')}", params=encoded, timeout=self._timeout_s)
        status, text = response.status_code, response.text[:200]
        if status == 401:
            raise DashboardError("Amplitude refused the API key / secret key (401)", status, text)
        if status == 429:
            raise DashboardError(f"Amplitude's query limits were hit (429): {text}", status, text)
        if status >= 400:
            raise DashboardError(f"Amplitude answered {status}: {text}", status, text)
        with contextlib.suppress(KeyError, TypeError, ValueError, IndexError):
            self.server_time_ms = int(parsedate_to_datetime(response.headers["Date"]).timestamp() * 1000)
        answer: dict[str, Any] = response.json()
        return answer

    def usersearch(self, user: str) -> list[dict[str, Any]]:
        matches: list[dict[str, Any]] = self.get("usersearch", user=user).get("matches", [])
        return matches

    def useractivity(self, amplitude_id: int | str, limit: int = 1000) -> dict[str, Any]:
        return self.get("useractivity", user=amplitude_id, limit=limit)


# Amplitude's documented Dashboard limits (docs/emulator.md): a query's cost is days x conditions x the
# chart type's cost; at most 1000 of it in flight (the emulator, like an earlier wording of Amplitude's page,
# reads that as per 5 minutes) and 108,000 an hour.
COST_PER_WINDOW = 1000
COST_WINDOW_S = 300.0
COST_PER_HOUR = 108_000


def query_cost(days: int, type_cost: int, *, segment_conditions: int = 0, group_bys: int = 0) -> int:
    """What Amplitude charges for a query: conditions are the segment (1), each condition within it,
    and 4 per group-by `g`; `type_cost` is the chart's (segmentation: 1 per event + 4 per event
    group-by; retention 8; others 1)."""
    return days * (1 + segment_conditions + 4 * group_bys) * type_cost


class QueryBudget:
    """Spends Amplitude's query budget without wasting it: a refused (429) query is tried again after
    a wait, and once Amplitude has refused one, every later query waits until the costs this client
    spent in the last window leave room for it. `clock` and `sleep` are injectable: tests drive time.
    `on_wait(seconds, why)` is told before each wait (the CLI prints it)."""

    def __init__(
        self,
        *,
        per_window: int = COST_PER_WINDOW,
        window_s: float = COST_WINDOW_S,
        per_hour: int = COST_PER_HOUR,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_wait_s: float = 3900.0,
        on_wait: Callable[[float, str], None] | None = None,
    ) -> None:
        self.per_window, self.window_s, self.per_hour = per_window, window_s, per_hour
        self._clock, self._sleep, self._on_wait = clock, sleep, on_wait
        self.max_wait_s = max_wait_s
        self.paced = False
        self.spent = 0
        self.waited_s = 0.0
        self._history: list[tuple[float, int]] = []

    def _room_in(self, cost: int) -> float:
        """Seconds until `cost` fits both windows of what this client spent."""
        now = self._clock()
        wait = 0.0
        for window, limit in ((self.window_s, self.per_window), (3600.0, self.per_hour)):
            recent = [(t, c) for t, c in self._history if t > now - window]
            used = sum(c for _, c in recent)
            for t, c in recent:  # oldest first: each one leaving the window frees its cost
                if used + cost <= limit:
                    break
                used -= c
                wait = max(wait, t + window - now + 0.001)
        return wait

    def _wait(self, seconds: float, why: str) -> None:
        if self._on_wait is not None:
            self._on_wait(seconds, why)
        self._sleep(seconds)
        self.waited_s += seconds

    def run(self, cost: int, send: Callable[[], T]) -> T:
        if cost > self.per_window:
            raise DashboardError(
                f"one query would cost {cost}, over Amplitude's limit of {self.per_window}: ask for fewer days"
            )
        waited, backoff = 0.0, 30.0
        while True:
            if self.paced and (room := self._room_in(cost)) > 0:
                self._wait(room, f"Amplitude's query budget ({self.per_window} per {self.window_s / 60:g} minutes)")
            try:
                answer = send()
            except DashboardError as error:
                if error.status != 429:
                    raise
                self.paced = True
                wait = max(self._room_in(cost), backoff)
                if waited + wait > self.max_wait_s:
                    raise DashboardError(
                        f"{error} — still refused after waiting {waited / 60:.0f} minutes", error.status, error.body
                    ) from None
                self._wait(wait, "Amplitude refused a query (429)")
                waited += wait
                backoff = min(backoff * 2, self.window_s)
                continue
            self._history.append((self._clock(), cost))
            self.spent += cost
            return answer
