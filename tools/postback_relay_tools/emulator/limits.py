"""Amplitude's rate limits: the per-device/user events-per-second throttle of ingestion and the Dashboard REST API's
concurrency, user-lookup and cost budgets. Clock-injected, thread-safe.

Sources: https://amplitude.com/docs/apis/analytics/http-v2#upload-limit and
https://amplitude.com/docs/apis/analytics/dashboard-rest (rate limits); docs/emulator.md.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from .settings import EmulatorSettings

__all__ = ["EpsThrottle", "QueryLimitExceeded", "QueryLimiter"]


class EpsThrottle:
    """Sliding window of accepted events per device_id and per user_id.

    A request is refused as a whole (nothing ingested, nothing counted) when any of its ids would average more
    than `eps_threshold` events/s over the last `throttle_window_s` seconds including the request's own events.
    """

    def __init__(self, settings: EmulatorSettings, clock: Callable[[], float]) -> None:
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], deque[tuple[float, int]]] = {}

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()

    def admit(self, items: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
        """Count the items and return None, or return the 429 body (and count nothing)."""
        window = self._settings.throttle_window_s
        with self._lock:
            now = self._clock()
            wanted: dict[tuple[str, str], list[int]] = {}
            for index, item in enumerate(items):
                for kind in ("device_id", "user_id"):
                    value = item.get(kind)
                    if isinstance(value, str) and value:
                        wanted.setdefault((kind, value), []).append(index)
            throttled: dict[tuple[str, str], float] = {}
            for key, indexes in wanted.items():
                history = self._seen.get(key)
                while history and history[0][0] <= now - window:
                    history.popleft()
                recent = sum(n for _, n in history) if history else 0
                eps = (recent + len(indexes)) / window
                if eps > self._settings.eps_threshold:
                    throttled[key] = round(eps, 2)
            if throttled:
                events = sorted({i for key in throttled for i in wanted[key]})
                return {
                    "code": 429,
                    "error": "Too many requests for some devices and users",
                    "eps_threshold": self._settings.eps_threshold,
                    "throttled_devices": {v: eps for (k, v), eps in throttled.items() if k == "device_id"},
                    "throttled_users": {v: eps for (k, v), eps in throttled.items() if k == "user_id"},
                    "throttled_events": events,
                }
            for key, indexes in wanted.items():
                self._seen.setdefault(key, deque()).append((now, len(indexes)))
            return None


class QueryLimitExceeded(Exception):
    """A Dashboard query refused with 429; `limit` names the budget."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit
        self.message = message

    def body(self) -> dict[str, Any]:
        # The real body "explains which limit" but its shape is undocumented [U]: this one names it.
        return {"code": 429, "error": self.message, "limit": self.limit}


class QueryLimiter:
    """Concurrency slots and sliding cost / lookup budgets of the Dashboard REST API."""

    def __init__(self, settings: EmulatorSettings, clock: Callable[[], float]) -> None:
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._running = 0
        self._costs: deque[tuple[float, int]] = deque()
        self._lookups: deque[float] = deque()

    def reset(self) -> None:
        with self._lock:
            self._costs.clear()
            self._lookups.clear()

    def acquire(self) -> None:
        with self._lock:
            if self._running >= self._settings.max_concurrent_queries:
                raise QueryLimitExceeded(
                    "concurrent_requests",
                    f"Too many concurrent requests: at most {self._settings.max_concurrent_queries} per project",
                )
            self._running += 1

    def release(self) -> None:
        with self._lock:
            self._running -= 1

    def charge(self, cost: int, *, user_lookup: bool) -> None:
        """Record a query's cost, or raise when it would go over a budget (then nothing is recorded)."""
        settings = self._settings
        with self._lock:
            now = self._clock()
            while self._costs and self._costs[0][0] <= now - 3600:
                self._costs.popleft()
            while self._lookups and self._lookups[0] <= now - 3600:
                self._lookups.popleft()
            if user_lookup and len(self._lookups) + 1 > settings.user_lookups_per_hour:
                raise QueryLimitExceeded(
                    "user_lookups_per_hour",
                    f"Too many useractivity/usersearch requests: at most {settings.user_lookups_per_hour} per hour",
                )
            recent = sum(c for t, c in self._costs if t > now - 300)
            if recent + cost > settings.cost_per_5_minutes:
                raise QueryLimitExceeded(
                    "cost_per_5_minutes",
                    f"Query cost {cost} exceeds the budget of {settings.cost_per_5_minutes} per 5 minutes"
                    f" ({recent} used)",
                )
            hourly = sum(c for _, c in self._costs)
            if hourly + cost > settings.cost_per_hour:
                raise QueryLimitExceeded(
                    "cost_per_hour",
                    f"Query cost {cost} exceeds the budget of {settings.cost_per_hour} per hour ({hourly} used)",
                )
            self._costs.append((now, cost))
            if user_lookup:
                self._lookups.append(now)
