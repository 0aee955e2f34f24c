"""Tracker API keys, through the TrackerFunction handler on moto: an app is found by its id (one
GetItem), never by scanning the apps table, and every wrong key, unknown key or unknown app_id gets
the same answer, so a caller cannot tell which keys or apps exist."""

from __future__ import annotations

import json
from typing import Any

import pytest

from postback_relay.runtime import current_runtime, reset_runtime
from postback_relay.tracker.apps import register_app
from postback_relay.tracker.models import App
from postback_relay.tracker.store import TrackerStore
from postback_relay_tools.local.events import lambda_context
from tests.integration.support import function, sample
from tests.tracker.support import GAID, create_tables_for_the_handler

pytestmark = pytest.mark.slow  # a local stack, servers or many moto calls: not in make test-quick


@pytest.fixture
def apps(relay_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[TrackerStore, list[tuple[App, str]]]:
    store = create_tables_for_the_handler(monkeypatch)
    reset_runtime()
    return store, [register_app(store, name) for name in ("Paper Boat", "Other App")]


def dynamodb_calls() -> list[tuple[str, str]]:
    """Records (operation, table) of every DynamoDB request the tracker makes from now on."""
    calls: list[tuple[str, str]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, str(params.get("TableName", ""))))

    current_runtime().tracker.store.apps.meta.client.meta.events.register("provide-client-params.dynamodb.*", record)
    return calls


def post(path: str, body: dict[str, Any], api_key: str | None) -> dict[str, Any]:
    event = sample("tracker-install-post.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["routeKey"] = event["requestContext"]["routeKey"] = f"POST {path}"
    event["body"] = json.dumps(body)
    event["headers"] = {"content-type": "application/json", **({"x-api-key": api_key} if api_key is not None else {})}
    answer: dict[str, Any] = function("TrackerFunction")(event, lambda_context("TrackerFunction"))
    return answer


def install(app_id: str, api_key: str | None) -> dict[str, Any]:
    return post("/v1/installs", {"app_id": app_id, "platform": "android", "sdk_version": "1.0.0"}, api_key)


def events(app_id: str, api_key: str | None) -> dict[str, Any]:
    body = {
        "app_id": app_id,
        "device_id": GAID,
        "sdk_version": "1.0.0",
        "events": [{"event_name": "tap", "properties": {}, "timestamp": 1_795_181_820_000, "session_id": "s1"}],
    }
    return post("/v1/events", body, api_key)


@pytest.mark.parametrize("route", [install, events])
def test_every_wrong_key_gets_one_answer(apps: tuple[TrackerStore, list[tuple[App, str]]], route: Any) -> None:
    _, [(mine, my_key), (_, their_key)] = apps
    unknown_app = "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    answers = [
        route(mine.app_id, "ak_not_a_key"),  # unknown key
        route(mine.app_id, their_key),  # another app's key (it exists: no 403 to say so)
        route(unknown_app, my_key),  # a real key, an unknown app
        route(unknown_app, "ak_not_a_key"),
        route("x" * 1000, my_key),  # an app id no app has, too long to look up
    ]
    assert len({(answer["statusCode"], answer["body"]) for answer in answers}) == 1
    assert answers[0]["statusCode"] == 401
    assert json.loads(answers[0]["body"]) == {
        "success": False,
        "error": "invalid API key for this app_id",
        "code": "unauthorized",
    }
    for answer in answers:
        assert my_key not in answer["body"]
        assert their_key not in answer["body"]
    assert route(mine.app_id, my_key)["statusCode"] in (200, 201)


def test_a_missing_key_says_where_to_send_it(apps: tuple[TrackerStore, list[tuple[App, str]]]) -> None:
    _, [(mine, _), _] = apps
    answer = install(mine.app_id, None)
    assert answer["statusCode"] == 401
    assert "X-API-Key" in json.loads(answer["body"])["error"]


def test_keys_are_checked_by_one_get_item_never_a_scan(apps: tuple[TrackerStore, list[tuple[App, str]]]) -> None:
    _, [(mine, my_key), (_, their_key)] = apps
    calls = dynamodb_calls()
    for app_id, api_key in ((mine.app_id, their_key), (mine.app_id, "ak_x"), ("6a1b2c3d-0000", my_key)):
        install(app_id, api_key)
        events(app_id, api_key)
    assert calls == [("GetItem", "apps")] * 6
    assert not hasattr(TrackerStore, "app_with_key_hash")


def test_a_dynamodb_failure_is_a_503_without_its_text(
    apps: tuple[TrackerStore, list[tuple[App, str]]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from botocore.exceptions import ClientError

    _, [(mine, my_key), _] = apps

    def fail(_store: TrackerStore, app_id: str) -> App | None:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": app_id}}, "GetItem")

    monkeypatch.setattr(TrackerStore, "get_app", fail)
    answer = install(mine.app_id, my_key)
    assert answer["statusCode"] == 503
    assert mine.app_id not in answer["body"]
    assert mine.app_id not in capsys.readouterr().out
