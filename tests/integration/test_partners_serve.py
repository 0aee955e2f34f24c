"""Every partner through the local stack: realistic postbacks over real HTTP into `serve`, out to a
strict stand-in for Amplitude; undeliverable ones answered 4xx with a reason and nothing sent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from postback_relay_tools.local.amplitude_sink import AmplitudeSink
from postback_relay_tools.local.stack import LocalStack
from tests.conftest import TOKEN, fixture_json, stack_with_stand_in

IOS_IDFA = "A7071198-3848-40A5-B3D0-94578D9B1234"
ANDROID_GAID = "9c9a82fb-d5de-4cd1-90c3-527441c11828"

# partner route, fixture, how the partner calls, and what Amplitude must receive (read off the fixture)
CASES: list[tuple[str, str, str, dict[str, Any], dict[str, str]]] = [
    (
        "adjust",
        "install_ios",
        "GET",
        {"event_type": "[adjust] install", "platform": "ios", "idfa": IOS_IDFA, "time": 1_773_480_413_000},
        {"[adjust] network": "Google Ads ACI", "[adjust] campaign": "PB_iOS_US_Search_Brand (20611234567)"},
    ),
    (
        "adjust",
        "install_android",
        "GET",
        {"event_type": "[adjust] install", "platform": "android", "adid": ANDROID_GAID, "time": 1_773_475_501_000},
        {"[adjust] network": "Facebook Installs"},
    ),
    (
        "kochava",
        "install_ios",
        "GET",
        {"event_type": "[Kochava] Install", "platform": "ios", "idfa": IOS_IDFA, "time": 1_773_480_413_000},
        {"[Kochava] network": "Google Ads", "[Kochava] campaign": "PB_iOS_US_Search_Brand"},
    ),
    (
        "kochava",
        "install_android",
        "GET",
        {"platform": "android", "adid": ANDROID_GAID, "time": 1_773_475_501_000},
        {"[Kochava] network": "Unity Ads", "[Kochava] campaign": "PB_Android_DE_Playables"},
    ),
    (
        "tenjin",
        "install_ios",
        "GET",
        {"event_type": "[Tenjin] Install", "platform": "ios", "idfa": IOS_IDFA, "time": 1_773_480_413_589},
        {"[Tenjin] ad network": "applovin", "[Tenjin] campaign": "PB_iOS_US_Tier1"},
    ),
    (
        "tenjin",
        "install_android",
        "GET",
        {"platform": "android", "adid": ANDROID_GAID, "time": 1_773_475_501_120},
        {"[Tenjin] ad network": "unityads", "[Tenjin] campaign": "PB_Android_DE_Rewarded"},
    ),
    (
        "branch",
        "install_ios",
        "POST",
        {"event_type": "[Branch] Install", "platform": "ios", "idfa": IOS_IDFA, "time": 1_773_480_413_589},
        {"[Branch] media source": "Google AdWords", "[Branch] campaign": "PB_iOS_US_Search_Brand"},
    ),
    (
        "branch",
        "install_android",
        "POST",
        {"platform": "android", "adid": ANDROID_GAID, "time": 1_773_475_501_120},
        {"[Branch] media source": "Facebook", "[Branch] campaign": "PB_Android_DE_Stories"},
    ),
    (
        "singular",
        "install_ios",
        "POST",
        {"event_type": "[Singular] Install", "platform": "ios", "idfa": IOS_IDFA, "time": 1_773_480_413_000},
        {"[Singular] network": "AdWords", "[Singular] campaign": "PB_iOS_US_Search_Brand"},
    ),
    (
        "singular",
        "install_android",
        "POST",
        {"platform": "android", "adid": ANDROID_GAID, "time": 1_773_475_501_000},
        {"[Singular] network": "Facebook", "[Singular] campaign": "PB_Android_DE_Stories"},
    ),
    (
        "appsflyer",
        "install_android",
        "POST",
        {"event_type": "[AppsFlyer] Install", "platform": "android"},
        {"[AppsFlyer] media source": "Facebook Ads"},
    ),
    (
        "custom/unity-ads",
        "install_ios",
        "GET",
        {
            "event_type": "[Unity Ads] Install",
            "platform": "ios",
            "idfa": "B3A4C5D6-1111-4A2B-9C3D-0123456789AB",
            "time": 1_773_480_413_589,
        },
        {"[Unity Ads] media source": "unity", "[Unity Ads] campaign": "PB_iOS_US_Playables"},
    ),
    (
        "custom/liftoff",
        "install_android",
        "GET",
        {
            "event_type": "[Liftoff] Install",
            "platform": "android",
            "adid": "4f1c9a2e-7d3b-4c5a-9e8f-0a1b2c3d4e5f",
            "time": 1_773_480_413_000,
        },
        {"[Liftoff] media source": "liftoff"},
    ),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, AmplitudeSink]]:
    with stack_with_stand_in(Path(tmp_path_factory.mktemp("serve")) / "serve.json") as pair:
        yield pair


def send(local: LocalStack, route: str, method: str, postback: dict[str, Any]) -> requests.Response:
    url = f"{local.url}/v1/postbacks/{route}"
    if method == "GET":
        return requests.get(url, params={"token": TOKEN, **postback}, timeout=10)
    return requests.post(url, params={"token": TOKEN}, json=postback, timeout=10)


def fixture_for(route: str, name: str) -> dict[str, Any]:
    return fixture_json(route.removeprefix("custom/"), f"{name}.json")


@pytest.mark.parametrize(
    ("route", "fixture", "method", "event", "properties"), CASES, ids=[f"{case[0]}-{case[1]}" for case in CASES]
)
def test_partner_postback_arrives_with_ids_platform_time_and_campaign(
    stack: tuple[LocalStack, AmplitudeSink],
    route: str,
    fixture: str,
    method: str,
    event: dict[str, Any],
    properties: dict[str, str],
) -> None:
    local, sink = stack
    sink.clear()
    answer = send(local, route, method, fixture_for(route, fixture))
    assert (answer.status_code, answer.json()["status"]) == (200, "delivered"), answer.text
    [attribution] = sink.received("attribution")
    assert {key: attribution.payload.get(key) for key in event} == event
    user_properties = attribution.payload["user_properties"]
    assert {key: user_properties.get(key) for key in properties} == properties


BROKEN: list[tuple[str, str, dict[str, Any], int, str]] = [
    (
        "adjust",
        "GET",
        {"activity_kind": "install", "os_name": "ios", "idfa": "{idfa}", "idfv": "{idfv}"},
        422,
        "idfa or idfv",
    ),
    ("adjust", "GET", {"activity_kind": "session", "os_name": "android", "gps_adid": ANDROID_GAID}, 400, "session"),
    ("kochava", "GET", {"event_name": "_install", "platform": "android", "adid": "{adid}"}, 422, "advertising id"),
    (
        "tenjin",
        "GET",
        {"event_type": "install", "platform": "ios", "advertising_id": "{{advertising_id}}"},
        422,
        "idfa or idfv",
    ),
    (
        "branch",
        "POST",
        {"name": "INSTALL", "user_data": {"os": "IOS", "idfa": "00000000-0000-0000-0000-000000000000"}},
        422,
        "idfa or idfv",
    ),
    ("singular", "POST", {"event_name": "install", "platform": "Android", "aifa": ""}, 422, "advertising id"),
    ("custom/unity-ads", "GET", {"platform": "ios", "ifa": "{ifa}", "event": "install"}, 422, "idfa or idfv"),
    # No mapping file, so no tokens: refused as a wrong token is (strangers learn no network names).
    ("custom/no-such-network", "GET", {"platform": "ios"}, 401, "invalid relay token"),
]


@pytest.mark.parametrize(
    ("route", "method", "postback", "status", "reason"), BROKEN, ids=[f"{case[0]}-{case[3]}" for case in BROKEN]
)
def test_undeliverable_postbacks_get_a_clear_4xx_and_nothing_is_sent(
    stack: tuple[LocalStack, AmplitudeSink],
    route: str,
    method: str,
    postback: dict[str, Any],
    status: int,
    reason: str,
) -> None:
    local, sink = stack
    sink.clear()
    answer = send(local, route, method, postback)
    assert answer.status_code == status
    assert reason in answer.json()["error"]
    assert sink.requests_seen() == 0
    assert local.queue_depth("RetryQueue") == {"visible": 0, "in_flight": 0, "delayed": 0}


MALFORMED: list[tuple[str, dict[str, Any], int]] = [
    ("no token", {"method": "GET", "params": {"idfa": IOS_IDFA}}, 401),
    ("bad JSON", {"method": "POST", "data": b"{oops", "headers": {"content-type": "application/json"}}, 400),
    ("JSON array", {"method": "POST", "data": b"[1,2]", "headers": {"content-type": "application/json"}}, 400),
    ("NaN", {"method": "POST", "data": b'{"revenue": NaN}', "headers": {"content-type": "application/json"}}, 400),
    (
        "deep",
        {"method": "POST", "data": b'{"a":' * 40 + b"1" + b"}" * 40, "headers": {"content-type": "application/json"}},
        400,
    ),
    (
        "too large",
        {"method": "POST", "data": b'{"a":"' + b"x" * 70_000 + b'"}', "headers": {"content-type": "application/json"}},
        413,
    ),
    ("XML", {"method": "POST", "data": b"<postback/>", "headers": {"content-type": "application/xml"}}, 415),
    ("binary", {"method": "POST", "data": bytes(range(256)), "headers": {"content-type": "application/json"}}, 400),
    ("too many fields", {"method": "GET", "params": {f"k{i}": "v" for i in range(600)}}, 400),
]


def test_malformed_input_of_every_kind_is_a_json_4xx_and_the_relay_stays_healthy(
    stack: tuple[LocalStack, AmplitudeSink],
) -> None:
    local, sink = stack
    sink.clear()
    url = f"{local.url}/v1/postbacks/appsflyer"
    for name, request, status in MALFORMED:
        params = request.get("params", {})
        if name != "no token":
            params = {"token": TOKEN, **params}
        answer = requests.request(
            request["method"], url, params=params, data=request.get("data"), headers=request.get("headers"), timeout=10
        )
        assert answer.status_code == status, name
        assert answer.json()["error"], name
    assert sink.requests_seen() == 0
    assert requests.get(f"{local.url}/health", timeout=5).status_code == 200
    good = send(local, "appsflyer", "POST", fixture_for("appsflyer", "install_android"))
    assert good.status_code == 200
