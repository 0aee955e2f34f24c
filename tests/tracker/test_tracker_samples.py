"""The tracker's sample events (events/tracker-*.json), invoked as `sam local invoke` would."""

from __future__ import annotations

import json

import boto3
import pytest

from postback_relay.runtime import reset_runtime
from postback_relay.tracker.apps import hash_api_key
from postback_relay.tracker.models import App
from postback_relay.tracker.store import TrackerStore
from postback_relay_tools.local.amplitude_sink import AmplitudeSink
from postback_relay_tools.local.events import lambda_context
from tests.conftest import ROOT
from tests.integration.support import function, sample
from tests.tracker.support import create_tables_for_the_handler

SAMPLE_KEY = "ak_replace_with_the_key_apps_create_printed"


@pytest.fixture
def sample_app(relay_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> TrackerStore:
    store = create_tables_for_the_handler(monkeypatch)
    reset_runtime()
    app_id = json.loads(sample("tracker-install-post.json")["body"])["app_id"]
    store.put_app(
        App(
            app_id=app_id,
            name="Sample",
            android_store_url="https://play.google.com/store/apps/details?id=x",
            api_key_hash=hash_api_key(SAMPLE_KEY),
            created_at_ms=1,
        )
    )
    return store


def test_click_install_events_samples(sample_app: TrackerStore, sink: AmplitudeSink) -> None:
    handler = function("TrackerFunction")
    click = handler(sample("tracker-click-get.json"), lambda_context("TrackerFunction"))
    assert (click["statusCode"], click["headers"]["Location"]) == (
        302,
        "https://play.google.com/store/apps/details?id=x",
    )
    install = handler(sample("tracker-install-post.json"), lambda_context("TrackerFunction"))
    assert (install["statusCode"], json.loads(install["body"])["data"]["matchType"]) == (201, "install_referrer")
    events = handler(sample("tracker-events-post.json"), lambda_context("TrackerFunction"))
    assert json.loads(events["body"]) == {"success": True, "data": {"accepted": 1}}
    assert [received.endpoint for received in sink.received()] == ["attribution", "httpapi"]
    assert boto3.resource("dynamodb").Table("clicks").scan()["Items"]
    assert (ROOT / "events" / "tracker-click-get.json").exists()
