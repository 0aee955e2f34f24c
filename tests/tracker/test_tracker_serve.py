"""The first-party tracker through `serve`: scripted click → install sequences for each waterfall
outcome, the response shapes of docs/tracker.md, Amplitude intake, revenue events, open-redirect safety, and the
`apps` command against the running stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from postback_relay_tools.local.amplitude_sink import AmplitudeSink
from postback_relay_tools.local.stack import LocalStack
from tests.conftest import stack_with_stand_in
from tests.tracker.redirect_cases import FOLLOWED, REFUSED

pytestmark = pytest.mark.slow  # a local stack, servers or many moto calls: not in make test-quick

IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
IOS_SDK = "PaperBoat/4.12.0 CFNetwork/1494.0.7 Darwin/23.4.0"
ANDROID_CHROME = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36"
ANDROID_SDK = "okhttp/4.12.0"
IDFA = "A7071198-3848-40A5-B3D0-94578D9B1234"
GAID = "9c9a82fb-d5de-4cd1-90c3-527441c11828"
_STACK_VARIABLES = ("AWS_ENDPOINT_URL", "RELAY_DLQ_URL", "RELAY_RETRY_QUEUE_URL", "RELAY_APPS_TABLE")


@pytest.fixture(scope="module")
def tracker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, AmplitudeSink, Path]]:
    state = Path(tmp_path_factory.mktemp("tracker")) / "serve.json"
    with stack_with_stand_in(state) as (stack, sink):
        yield stack, sink, state


def cli(state: Path, *args: str) -> str:
    env = {name: value for name, value in os.environ.items() if name not in _STACK_VARIABLES}
    done = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "postback_relay_tools.cli", *args, "--state-file", str(state)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return done.stdout


def new_app(state: Path, *extra: str) -> dict[str, str]:
    created: dict[str, str] = json.loads(
        cli(
            state,
            "apps",
            "create",
            "--name",
            "Paper Boat",
            "--ios-store-url",
            "https://apps.apple.com/app/id1217828636",
            "--android-store-url",
            "https://play.google.com/store/apps/details?id=com.example.paperboat",
            "--redirect-domain",
            "paperboat.example",
            *extra,
            "--allow-duplicate",  # one stack for the whole module: every test registers its own Paper Boat
            "--json",
        )
    )
    return created


def click(stack: LocalStack, params: dict[str, str], user_agent: str) -> requests.Response:
    return requests.get(
        f"{stack.url}/v1/clicks", params=params, headers={"User-Agent": user_agent}, allow_redirects=False, timeout=10
    )


def install(
    stack: LocalStack, app: dict[str, str], body: dict[str, Any], user_agent: str, prefix: str = "/v1"
) -> requests.Response:
    return requests.post(
        f"{stack.url}{prefix}/installs",
        json={"app_id": app["app_id"], "sdk_version": "1.0.0", **body},
        headers={"X-API-Key": app["api_key"], "User-Agent": user_agent},
        timeout=10,
    )


def test_apps_create_and_list_against_the_running_stack(tracker: tuple[LocalStack, AmplitudeSink, Path]) -> None:
    _, _, state = tracker
    app = new_app(state)
    assert app["api_key"].startswith("ak_")
    listed = json.loads(cli(state, "apps", "list", "--json"))
    mine = next(item for item in listed if item["app_id"] == app["app_id"])
    assert mine["redirect_domains"] == ["paperboat.example"]
    assert app["api_key"] not in json.dumps(listed)  # never stored or shown again


def test_install_referrer(tracker: tuple[LocalStack, AmplitudeSink, Path]) -> None:
    stack, sink, state = tracker
    app = new_app(state)
    sink.clear()
    answer = install(
        stack,
        app,
        {"platform": "android", "device_id": GAID, "install_referrer": "utm_source=facebook&utm_campaign=summer"},
        ANDROID_SDK,
    )
    assert answer.status_code == 201
    assert answer.json() == {
        "success": True,
        "data": {
            "matchType": "install_referrer",
            "confidence": 100,
            "mediaSource": "facebook",
            "campaignId": "summer",
            "isOrganic": False,
            "attributedTouchTime": None,
        },
    }
    [event] = sink.received("attribution")
    assert (event.payload["platform"], event.payload["adid"]) == ("android", GAID)
    assert event.payload["user_properties"]["[Tracker] media source"] == "facebook"
    assert event.payload["user_properties"]["[Tracker] campaign"] == "summer"


def test_device_id_match_then_revenue_events(tracker: tuple[LocalStack, AmplitudeSink, Path]) -> None:
    stack, sink, state = tracker
    app = new_app(state)
    sink.clear()
    redirect = click(
        stack,
        {
            "app_id": app["app_id"],
            "c": "launch",
            "pid": "google",
            "af_adset": "lookalike",
            "af_ad": "video-15s",
            "advertising_id": GAID,
        },
        ANDROID_CHROME,
    )
    assert (redirect.status_code, redirect.headers["Location"]) == (
        302,
        "https://play.google.com/store/apps/details?id=com.example.paperboat",
    )
    answer = install(stack, app, {"platform": "android", "device_id": GAID}, ANDROID_SDK, prefix="/api/v1")
    data = answer.json()["data"]
    assert (answer.status_code, data["matchType"], data["confidence"], data["mediaSource"], data["campaignId"]) == (
        201,
        "device_id",
        100,
        "google",
        "launch",
    )
    assert data["attributedTouchTime"] > 0
    [event] = sink.received("attribution")
    assert event.payload["adid"] == GAID
    assert event.payload["user_properties"]["[Tracker] adset"] == "lookalike"

    events = requests.post(
        f"{stack.url}/v1/events",
        json={
            "app_id": app["app_id"],
            "device_id": GAID,
            "sdk_version": "1.0.0",
            "_api_key": app["api_key"],
            "events": [
                {
                    "event_name": "purchase",
                    "properties": {"amount": 5000, "currency": "NGN", "product_id": "premium_plan"},
                    "timestamp": 1_795_181_820_000,
                    "session_id": "session-uuid",
                },
                {
                    "event_name": "level_up",
                    "properties": {"level": 3},
                    "timestamp": 1_795_181_830_000,
                    "session_id": "session-uuid",
                },
            ],
        },
        timeout=10,
    )
    assert events.json() == {"success": True, "data": {"accepted": 2}}
    purchase, level = sorted(sink.received("httpapi"), key=lambda r: r.payload["event_type"], reverse=True)
    assert (purchase.payload["revenue"], purchase.payload["price"], purchase.payload["currency"]) == (5000, 5000, "NGN")
    assert purchase.payload["productId"] == "premium_plan"
    assert purchase.payload["event_properties"]["[Tracker] campaign"] == "launch"
    assert "revenue" not in level.payload


def test_fingerprint_match(tracker: tuple[LocalStack, AmplitudeSink, Path]) -> None:
    stack, sink, state = tracker
    app = new_app(state)
    sink.clear()
    redirect = click(stack, {"app_id": app["app_id"], "c": "spring", "pid": "tiktok"}, IPHONE_SAFARI)
    assert redirect.headers["Location"] == "https://apps.apple.com/app/id1217828636"
    answer = install(stack, app, {"platform": "ios", "device_id": IDFA, "os_version": "17.4"}, IOS_SDK)
    data = answer.json()["data"]
    assert (data["matchType"], data["mediaSource"], data["campaignId"]) == ("fingerprint", "tiktok", "spring")
    assert 60 <= data["confidence"] <= 80
    [event] = sink.received("attribution")
    assert (event.payload["platform"], event.payload["idfa"]) == ("ios", IDFA)


def test_organic_install_and_one_without_advertising_id(tracker: tuple[LocalStack, AmplitudeSink, Path]) -> None:
    stack, sink, state = tracker
    app = new_app(state)
    sink.clear()
    answer = install(stack, app, {"platform": "ios", "device_id": IDFA}, IOS_SDK)
    assert answer.json()["data"]["matchType"] == "organic"
    assert answer.json()["data"]["isOrganic"] is True
    click(stack, {"app_id": app["app_id"], "c": "web", "pid": "newsletter"}, IPHONE_SAFARI)
    keyless = install(stack, app, {"platform": "web"}, IPHONE_SAFARI)
    assert keyless.status_code == 201  # kept as an install, no Amplitude attribution
    assert sink.received("attribution") == []


@pytest.mark.parametrize(
    ("redirect_url", "expected"),
    [
        ("https://paperboat.example/welcome", "https://paperboat.example/welcome"),
        ("https://go.paperboat.example/x", "https://go.paperboat.example/x"),
        ("https://evil.example/phish", "https://apps.apple.com/app/id1217828636"),
        ("https://paperboat.example.evil.example/", "https://apps.apple.com/app/id1217828636"),
        ("javascript:alert(1)", "https://apps.apple.com/app/id1217828636"),
        ("//evil.example", "https://apps.apple.com/app/id1217828636"),
    ],
)
def test_redirects_only_to_the_apps_domains(
    tracker: tuple[LocalStack, AmplitudeSink, Path], redirect_url: str, expected: str
) -> None:
    stack, _, state = tracker
    app = new_app(state)
    answer = click(stack, {"app_id": app["app_id"], "redirect_url": redirect_url}, IPHONE_SAFARI)
    assert (answer.status_code, answer.headers["Location"]) == (302, expected)


def test_clicks_always_redirect(tracker: tuple[LocalStack, AmplitudeSink, Path]) -> None:
    stack, _, _ = tracker
    for params in ({}, {"app_id": "no-such-app"}, {"app_id": "x" * 5000}):
        answer = click(stack, params, "curl/8")
        assert (answer.status_code, answer.headers["Location"]) == (302, "https://www.apple.com/app-store/")


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        ({"platform": "ios"}, {}, 401, "missing API key"),
        ({"platform": "ios"}, {"X-API-Key": "ak_wrong"}, 401, "invalid API key"),
        ({"platform": "tv"}, None, 400, "platform"),
        ({}, None, 400, "platform"),
    ],
)
def test_install_errors(
    tracker: tuple[LocalStack, AmplitudeSink, Path],
    body: dict[str, Any],
    headers: dict[str, str] | None,
    status: int,
    message: str,
) -> None:
    stack, _, state = tracker
    app = new_app(state)
    answer = requests.post(
        f"{stack.url}/v1/installs",
        json={"app_id": app["app_id"], "sdk_version": "1", **body},
        headers={"X-API-Key": app["api_key"]} if headers is None else headers,
        timeout=10,
    )
    assert answer.status_code == status
    assert answer.json()["success"] is False
    assert message in answer.json()["error"]


def test_a_key_of_another_app_gets_the_answer_of_any_wrong_key(tracker: tuple[LocalStack, AmplitudeSink, Path]) -> None:
    stack, _, state = tracker
    mine, theirs = new_app(state), new_app(state)
    other = install(stack, {"app_id": mine["app_id"], "api_key": theirs["api_key"]}, {"platform": "ios"}, IOS_SDK)
    wrong = install(stack, {"app_id": mine["app_id"], "api_key": "ak_wrong"}, {"platform": "ios"}, IOS_SDK)
    assert (other.status_code, other.content) == (wrong.status_code, wrong.content)
    assert (other.status_code, other.json()["error"]) == (401, "invalid API key for this app_id")


def test_hostile_redirect_urls_through_serve(tracker: tuple[LocalStack, AmplitudeSink, Path]) -> None:
    """The bypass table over real HTTP: query encoding, the local API Gateway and the header block."""
    stack, _, state = tracker
    app = new_app(state, "--redirect-domain", "promo.example", "--redirect-domain", "bücher.example")
    store = "https://apps.apple.com/app/id1217828636"
    cases = {case: store for case in REFUSED if _encodable(case)} | FOLLOWED
    for redirect_url, expected in cases.items():
        answer = click(stack, {"app_id": app["app_id"], "redirect_url": redirect_url}, IPHONE_SAFARI)
        assert (answer.status_code, answer.headers["Location"]) == (302, expected), repr(redirect_url)
        assert "Set-Cookie" not in answer.headers, repr(redirect_url)


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
