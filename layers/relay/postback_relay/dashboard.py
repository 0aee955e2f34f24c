"""A small client of Amplitude's Dashboard REST API (seed 004): real Amplitude (US or EU) or the
local emulator, HTTP Basic with the project's API key and secret key."""

from __future__ import annotations

import json
from typing import Any

import requests

DASHBOARD_URLS = {"us": "https://amplitude.com/api/2", "eu": "https://analytics.eu.amplitude.com/api/2"}


class DashboardError(RuntimeError):
    """Amplitude refused the query; the message says why (401 keys, 429 limits, 400 parameters)."""


class DashboardClient:
    def __init__(self, base_url: str, api_key: str, secret_key: str, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = requests.Session()
        self._session.auth = (api_key, secret_key)
        self._timeout_s = timeout_s

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        encoded = {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in params.items() if v is not None}
        response = self._session.get(f"{self.base_url}/{path.lstrip('/')}", params=encoded, timeout=self._timeout_s)
        if response.status_code == 401:
            raise DashboardError("Amplitude refused the API key / secret key (401)")
        if response.status_code == 429:
            raise DashboardError(f"Amplitude's query limits were hit (429): {response.text[:200]}")
        if response.status_code >= 400:
            raise DashboardError(f"Amplitude answered {response.status_code}: {response.text[:200]}")
        answer: dict[str, Any] = response.json()
        return answer

    def usersearch(self, user: str) -> list[dict[str, Any]]:
        matches: list[dict[str, Any]] = self.get("usersearch", user=user).get("matches", [])
        return matches

    def useractivity(self, amplitude_id: int | str, limit: int = 1000) -> dict[str, Any]:
        return self.get("useractivity", user=amplitude_id, limit=limit)
