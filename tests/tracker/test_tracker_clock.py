"""Click expiry and privacy, with the clock driven by the test (moto DynamoDB, no wall clock)."""

from __future__ import annotations

import json

import boto3
import pytest

from postback_relay.runtime import get_delivery
from postback_relay.tracker.apps import register_app
from postback_relay.tracker.models import App, InstallRequest
from postback_relay.tracker.service import Tracker, TrackerSettings
from postback_relay.tracker.store import CLICK_TTL_S
from tests.tracker.support import CHROME, GAID, IP, T0, Clock, create_tables

pytestmark = pytest.mark.slow  # a local stack, servers or many moto calls: not in make test-quick

DAY = 24 * 3600


@pytest.fixture
def world(relay_env: dict[str, str]) -> tuple[Tracker, App, Clock]:
    clock = Clock()
    store = create_tables()
    app, _ = register_app(store, "Paper Boat", android_store_url="https://play.google.com/x", now_ms=int(T0 * 1000))
    return (
        Tracker(store, get_delivery(), TrackerSettings("https://default.example", "s3cret-salt", True), clock=clock),
        app,
        clock,
    )


def android_install(tracker: Tracker, app: App, device_id: str | None = GAID) -> str:
    request = InstallRequest(
        app_id=app.app_id, platform="android", device_id=device_id, sdk_version="1.0.0", os_version="14"
    )
    return tracker.install(app, request, IP, "okhttp/4.12.0").match_type


def test_clicks_carry_a_seven_day_ttl(world: tuple[Tracker, App, Clock]) -> None:
    tracker, app, _ = world
    tracker.click({"app_id": app.app_id, "c": "launch", "pid": "google", "advertising_id": GAID}, IP, CHROME)
    items = boto3.resource("dynamodb").Table("clicks").scan()["Items"]
    assert items
    assert {str(item["expires_at"]) for item in items} == {str(int(T0) + CLICK_TTL_S)}


@pytest.mark.parametrize(("days_later", "match"), [(1, "device_id"), (6.9, "device_id"), (7.01, "organic")])
def test_a_click_counts_for_seven_days(world: tuple[Tracker, App, Clock], days_later: float, match: str) -> None:
    tracker, app, clock = world
    tracker.click({"app_id": app.app_id, "c": "launch", "pid": "google", "advertising_id": GAID}, IP, CHROME)
    clock.now = T0 + days_later * DAY
    assert android_install(tracker, app) == match


def test_nothing_identifying_is_stored_raw(world: tuple[Tracker, App, Clock]) -> None:
    tracker, app, _ = world
    tracker.click({"app_id": app.app_id, "c": "launch", "pid": "google", "advertising_id": GAID}, IP, CHROME)
    android_install(tracker, app)
    stored = json.dumps(
        [boto3.resource("dynamodb").Table(name).scan()["Items"] for name in ("clicks", "installs")], default=str
    )
    for raw in (GAID, GAID.upper(), IP, CHROME):
        assert raw not in stored


def test_fingerprinting_can_be_turned_off(world: tuple[Tracker, App, Clock]) -> None:
    tracker, app, _ = world
    off = Tracker(
        tracker.store, tracker.delivery, TrackerSettings("https://default.example", "s", False), clock=tracker.clock
    )
    off.click({"app_id": app.app_id, "c": "launch", "pid": "google"}, IP, CHROME)
    assert all("fingerprint" not in item for item in boto3.resource("dynamodb").Table("clicks").scan()["Items"])
    assert android_install(off, app, device_id=None) == "organic"
    tracker.click({"app_id": app.app_id, "c": "launch", "pid": "google"}, IP, CHROME)
    assert android_install(tracker, app, device_id=None) == "fingerprint"
