"""Amplitude's official Python SDK (amplitude-analytics) as a real client of the emulator, and the CLI module."""

from __future__ import annotations

import argparse
import threading
from typing import Any

import pytest
import requests

from postback_relay_tools import cli_amplitude
from postback_relay_tools.emulator import AmplitudeEmulator

from .conftest import KEY, Client


# Slow: the SDK's consumer thread waits out its 10 s flush interval before the interpreter can exit.
@pytest.mark.slow
def test_official_sdk_events_are_accepted(emu: AmplitudeEmulator, http: requests.Session) -> None:
    amplitude = pytest.importorskip("amplitude")
    results: list[tuple[str, int]] = []

    def callback(event: Any, code: int, message: str | None = None) -> None:
        results.append((event.event_type, code))

    config = amplitude.Config(server_url=f"{emu.url}/2/httpapi", callback=callback, flush_max_retries=1)
    sdk = amplitude.Amplitude(KEY, configuration=config)
    try:
        sdk.track(
            amplitude.BaseEvent(
                event_type="Level Up",
                user_id="sdk-user-1",
                device_id="sdk-device-1",
                event_properties={"level": 3},
                idfa="AEBE52E7-03EE-455A-B3C4-E57283966239",
            )
        )
        identify = amplitude.Identify().set("plan", "pro").add("logins", 2).append("tags", "sdk")
        sdk.identify(identify, amplitude.EventOptions(user_id="sdk-user-1", device_id="sdk-device-1"))
        for future in sdk.flush():
            future.result(timeout=10)
    finally:
        sdk.shutdown()
    assert sorted(results) == [("$identify", 200), ("Level Up", 200)]
    assert emu.rejected() == []
    (user,) = emu.store.users()
    assert user.user_id == "sdk-user-1"
    assert user.properties == {"plan": "pro", "logins": 2, "tags": ["sdk"]}
    activity = Client(emu, http).query("useractivity", user=user.amplitude_id)
    assert "Level Up" in [e["event_type"] for e in activity["events"]]


def test_cli_register_and_run(tmp_path: Any) -> None:
    parser = argparse.ArgumentParser()
    cli_amplitude.register(parser.add_subparsers(dest="command"))
    db = tmp_path / "emu.sqlite"
    args = parser.parse_args(
        ["amplitude-emulator", "--port", "0", "--db", str(db), "--fail-rate", "0.5", "--seed", "3", "--latency", "0"]
    )
    assert (args.port, args.db, args.fail_rate, args.seed, args.run) == (0, str(db), 0.5, 3, cli_amplitude.run)
    stop = threading.Event()
    stop.set()  # serve, then stop at once: proves it starts, binds and shuts down cleanly
    assert cli_amplitude.run(args, stop=stop) == 0
    assert db.exists()
    bad = parser.parse_args(["amplitude-emulator", "--fail-rate", "2"])
    assert cli_amplitude.run(bad, stop=stop) == 2
