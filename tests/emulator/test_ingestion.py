"""Ingestion semantics: users from HTTP V2 events, insert_id dedup, hold-and-match of attribution, throttling."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from postback_relay_tools.emulator import AmplitudeEmulator
from postback_relay_tools.local.amplitude_sink import FaultPlan

from .conftest import DAY, KEY, Client, Clock, make_emulator

IDFA = "AEBE52E7-03EE-455A-B3C4-E57283966239"
IDFV = "0C3B4D5E-1111-2222-3333-444455556666"
ADID = "38400000-8cf0-11bd-b23e-10b96e40000d"


def install(**ids: str) -> dict[str, Any]:
    platform = "ios" if ("idfa" in ids or "idfv" in ids) else "android"
    return {
        "event_type": "[Adjust] Install",
        "platform": platform,
        "user_properties": {"[Adjust] media source": "facebook", "[Adjust] campaign": "spring"},
        **ids,
    }


def test_httpapi_creates_and_merges_users(client: Client) -> None:
    assert client.events({"event_type": "open", "device_id": "device-A1"}).status_code == 200
    # The anonymous device user takes the first user_id it is seen with: still one user.
    client.events({"event_type": "login", "device_id": "device-A1", "user_id": "user-1"})
    (user,) = client.emu.store.users()
    assert (user.user_id, user.device_ids) == ("user-1", ["device-A1"])
    # A second anonymous device, then seen with the same user_id: merged into that user.
    client.events({"event_type": "open", "device_id": "device-B2"})
    assert len(client.emu.store.users()) == 2
    client.events({"event_type": "login", "device_id": "device-B2", "user_id": "user-1"})
    (merged,) = client.emu.store.users()
    assert merged.amplitude_id == user.amplitude_id
    assert sorted(merged.device_ids) == ["device-A1", "device-B2"]
    assert len(merged.merged) == 1
    assert {e.amplitude_id for e in client.emu.store.events()} == {user.amplitude_id}
    # A device already owned by user-1 seen with another user_id starts a new Amplitude user.
    client.events({"event_type": "login", "device_id": "device-A1", "user_id": "user-2"})
    assert [u.user_id for u in client.emu.store.users()] == ["user-1", "user-2"]


def test_insert_id_dedup_for_seven_days(client: Client, clock: Clock) -> None:
    event = {"event_type": "purchase", "device_id": "device-A1", "insert_id": "ins-1", "revenue": 9.99}
    first = client.events(event)
    again = client.events(event)
    assert first.json()["events_ingested"] == again.json()["events_ingested"] == 1  # a duplicate is still a 200
    assert len(client.emu.store.events()) == 1
    assert len(client.emu.received("httpapi")) == 1
    clock.advance(7 * DAY - 1)
    client.events(event)
    assert len(client.emu.store.events()) == 1
    clock.advance(2)  # 7 days after the first sighting it is forgotten
    client.events(event)
    assert len(client.emu.store.events()) == 2
    # Scoped to the device by default: the same insert_id on another device is another event.
    client.events({**event, "device_id": "device-B2"})
    assert len(client.emu.store.events()) == 3


def test_insert_id_scope_setting(clock: Clock, http: requests.Session) -> None:
    with make_emulator(clock, dedup_scope="insert_id") as emu:
        client = Client(emu, http)
        client.events({"event_type": "a", "device_id": "device-A1", "insert_id": "same"})
        client.events({"event_type": "a", "device_id": "device-B2", "insert_id": "same"})
        assert len(emu.store.events()) == 1


def test_attribution_held_then_matched_within_72_hours(client: Client, clock: Clock) -> None:
    assert client.attribution(install(idfa=IDFA)).text == "success"
    assert client.emu.store.users() == []  # unmatched attribution creates no user
    assert [h.status for h in client.emu.store.held()] == ["held"]
    clock.advance(71 * 3600)
    client.events({"event_type": "app open", "device_id": "device-A1", "idfa": IDFA, "platform": "iOS"})
    (user,) = client.emu.store.users()
    assert user.properties == {"[Adjust] media source": "facebook", "[Adjust] campaign": "spring"}
    events = client.emu.store.events()
    assert [(e.event_type, e.source) for e in events] == [("[Adjust] Install", "attribution"), ("app open", "httpapi")]
    # The triggering event already carries the campaign, applied before it.
    assert events[1].user_properties["[Adjust] campaign"] == "spring"
    (held,) = client.emu.store.held()
    assert (held.status, held.amplitude_id) == ("matched", user.amplitude_id)


def test_attribution_expires_after_72_hours(client: Client, clock: Clock) -> None:
    client.attribution(install(adid=ADID))
    clock.advance(72 * 3600)
    client.events({"event_type": "app open", "device_id": "device-A1", "adid": ADID})
    (user,) = client.emu.store.users()
    assert user.properties == {}
    assert [e.source for e in client.emu.store.events()] == ["httpapi"]
    assert [h.status for h in client.emu.store.held()] == ["expired"]


@pytest.mark.parametrize(
    ("attribution_ids", "event_ids"),
    [
        ({"idfv": IDFV}, {"idfv": IDFV}),
        ({"android_app_set_id": ADID}, {"android_app_set_id": ADID}),
        ({"idfv": IDFV}, {"device_id": IDFV}),  # the iOS SDK's device id is the IDFV
    ],
)
def test_attribution_matches_on_each_identifier(
    client: Client, attribution_ids: dict[str, str], event_ids: dict[str, str]
) -> None:
    client.attribution(install(**attribution_ids))
    client.events({"event_type": "app open", "user_id": "user-1", **event_ids})
    assert client.emu.store.users()[0].properties["[Adjust] campaign"] == "spring"


def test_device_id_matching_can_be_switched_off(clock: Clock, http: requests.Session) -> None:
    with make_emulator(clock, match_device_id_as_advertising_id=False) as emu:
        client = Client(emu, http)
        client.attribution(install(idfv=IDFV))
        client.events({"event_type": "app open", "device_id": IDFV})
        assert emu.store.users()[0].properties == {}
        assert [h.status for h in emu.store.held()] == ["held"]


def test_attribution_for_a_known_user_applies_at_once(client: Client) -> None:
    client.events({"event_type": "app open", "device_id": "device-A1", "idfa": IDFA})
    client.attribution(install(idfa=IDFA))
    (user,) = client.emu.store.users()
    assert user.properties["[Adjust] media source"] == "facebook"
    stored = [e for e in client.emu.store.events() if e.source == "attribution"]
    assert len(stored) == 1
    assert [h.status for h in client.emu.store.held()] == ["matched"]


def test_adid_stripped_from_stored_attribution_event(client: Client) -> None:
    client.attribution(install(adid=ADID))
    client.events({"event_type": "app open", "device_id": "device-A1", "adid": ADID})
    (attributed,) = [e for e in client.emu.store.events() if e.source == "attribution"]
    assert "adid" not in attributed.event


def test_attribution_validation_still_strict(client: Client) -> None:
    bad = client.attribution({"event_type": "[Adjust] Install", "platform": "ios"})  # no idfa/idfv
    assert bad.status_code == 400
    assert client.emu.store.held() == []


def test_throttle_429_over_30_eps_per_device(client: Client, clock: Clock) -> None:
    burst = [{"event_type": "tap", "device_id": "device-A1", "user_id": "user-1"} for _ in range(900)]
    assert client.events(*burst).status_code == 200  # 900 events / 30 s = 30 eps: at the limit
    response = client.events(
        {"event_type": "tap", "device_id": "device-A1"}, {"event_type": "x", "device_id": "dev-B2"}
    )
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == 429
    assert body["error"] == "Too many requests for some devices and users"
    assert body["eps_threshold"] == 30
    assert body["throttled_devices"] == {"device-A1": 30.03}
    assert body["throttled_users"] == {}
    assert body["throttled_events"] == [0]
    assert len(client.emu.store.events()) == 900  # the whole request was refused
    # Identify shares the throttle of its user.
    assert client.identify({"user_id": "user-1", "user_properties": {"a": 1}}).status_code == 429
    clock.advance(30)  # the window slides past the burst
    assert client.events({"event_type": "tap", "device_id": "device-A1"}).status_code == 200


def test_throttle_threshold_setting(clock: Clock, http: requests.Session) -> None:
    with make_emulator(clock, eps_threshold=1, throttle_window_s=10) as emu:
        client = Client(emu, http)
        events = [{"event_type": "tap", "device_id": "device-A1"}] * 10
        assert client.events(*events).status_code == 200
        assert client.events(events[0]).status_code == 429


def test_fault_injection_and_latency(clock: Clock, http: requests.Session) -> None:
    slept: list[float] = []
    emulator = AmplitudeEmulator(
        api_key=KEY, clock=clock, faults=FaultPlan.script(["503"]), latency_s=0.25, sleep=slept.append
    )
    with emulator:
        client = Client(emulator, http)
        assert client.events({"event_type": "a", "device_id": "device-A1"}).status_code == 503
        assert client.events({"event_type": "a", "device_id": "device-A1"}).status_code == 200
        assert slept == [0.25]  # the faulted request answers at once; the processed one is delayed
        assert len(emulator.store.events()) == 1


def test_sqlite_file_persists_across_restarts(tmp_path: Any, clock: Clock, http: requests.Session) -> None:
    db = str(tmp_path / "amplitude.sqlite")
    with AmplitudeEmulator(api_key=KEY, clock=clock, db=db) as first:
        Client(first, http).attribution(install(idfa=IDFA))
        Client(first, http).events({"event_type": "open", "device_id": "device-A1", "insert_id": "i-1"})
        first.store.close()
    with AmplitudeEmulator(api_key=KEY, clock=clock, db=db) as second:
        assert [u.device_ids for u in second.store.users()] == [["device-A1"]]
        assert [h.status for h in second.store.held()] == ["held"]
        Client(second, http).events({"event_type": "open", "device_id": "device-A1", "insert_id": "i-1"})
        assert len(second.store.events()) == 1  # dedup memory survived the restart
        Client(second, http).events({"event_type": "open", "device_id": "device-A1", "idfa": IDFA})
        assert second.store.users()[0].properties["[Adjust] campaign"] == "spring"
        second.store.close()


def test_sink_api_kept(emu: AmplitudeEmulator, http: requests.Session) -> None:
    client = Client(emu, http)
    client.attribution(install(idfa=IDFA))
    client.identify({"user_id": "user-1", "user_properties": {"a": 1}})
    client.events({"event_type": "a", "device_id": "device-A1"})
    assert [len(emu.received(e)) for e in ("attribution", "identify", "httpapi")] == [1, 1, 1]
    assert emu.requests_seen() == 3
    assert http.get(f"{emu.url}/_sink/received", timeout=5).json()["identify"][0]["payload"]["user_id"] == "user-1"
    emu.clear()
    assert emu.received() == []
    assert emu.store.users() == []
    assert emu.store.events() == []
    assert emu.store.held() == []


def test_uses_real_clock_by_default() -> None:
    with AmplitudeEmulator(api_key=KEY) as emulator:
        assert abs(emulator.store.now_ms() - time.time() * 1000) < 5000
