"""Fixtures for the Amplitude emulator: a movable clock and an emulator on a loopback port."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from postback_relay_tools.emulator import AmplitudeEmulator, EmulatorSettings

KEY = "emu-key"
SECRET = "emu-secret"
T0 = 1_763_683_200.0  # 2025-11-21 00:00:00 UTC
DAY = 86_400.0


class Clock:
    """Seconds since epoch that only move when a test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    @property
    def ms(self) -> int:
        return int(self.now * 1000)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_emulator(clock: Clock, **settings: Any) -> AmplitudeEmulator:
    return AmplitudeEmulator(api_key=KEY, secret_key=SECRET, clock=clock, settings=EmulatorSettings(**settings))


@pytest.fixture
def emu(clock: Clock) -> Iterator[AmplitudeEmulator]:
    emulator = make_emulator(clock).start()
    try:
        yield emulator
    finally:
        emulator.close()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


class Client:
    """The three ingestion APIs and the Dashboard REST API of one emulator, over HTTP."""

    def __init__(self, emu: AmplitudeEmulator, http: requests.Session) -> None:
        self.emu = emu
        self.http = http

    def attribution(self, event: dict[str, Any]) -> requests.Response:
        return self.http.post(
            f"{self.emu.url}/attribution", data={"api_key": KEY, "event": json.dumps(event)}, timeout=5
        )

    def identify(self, identification: Any) -> requests.Response:
        return self.http.post(
            f"{self.emu.url}/identify", data={"api_key": KEY, "identification": json.dumps(identification)}, timeout=5
        )

    def events(self, *events: dict[str, Any]) -> requests.Response:
        return self.http.post(f"{self.emu.url}/2/httpapi", json={"api_key": KEY, "events": list(events)}, timeout=5)

    def get(self, path: str, auth: tuple[str, str] | None = (KEY, SECRET), **params: Any) -> requests.Response:
        return self.http.get(f"{self.emu.url}/api/2/{path}", params=params, auth=auth, timeout=5)

    def query(self, path: str, **params: Any) -> Any:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def client(emu: AmplitudeEmulator, http: requests.Session) -> Client:
    return Client(emu, http)
