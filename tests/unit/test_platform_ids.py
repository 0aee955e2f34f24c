"""A device has its own platform's ids only: an IDFV left in an Android postback (a template that
asks for every id) is not sent with the Android event, nor an advertising id with an iOS one.
Payloads: AppsFlyer Push API fixtures (https://support.appsflyer.com/hc/en-us/articles/207034356)."""

from __future__ import annotations

from typing import Any

from postback_relay.core import plan
from postback_relay.partners.appsflyer import ADAPTER
from tests.conftest import fixture_json
from tests.unit.partner_cases import GAID, IOS_IDFA, IOS_IDFV, payload_by_endpoint


def payloads(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return payload_by_endpoint(plan(ADAPTER, raw).calls)


def test_an_android_event_carries_no_apple_id() -> None:
    raw = {**fixture_json("appsflyer", "install_android.json"), "idfv": IOS_IDFV, "idfa": IOS_IDFA}
    attribution = payloads(raw)["attribution"]
    assert attribution["platform"] == "android"
    assert attribution["adid"] == GAID
    assert "idfv" not in attribution
    assert "idfa" not in attribution


def test_an_ios_event_carries_no_android_id() -> None:
    raw = {
        **fixture_json("appsflyer", "install_ios.json"),
        "advertising_id": GAID,
        "android_id": "9774d56d682e549c",
        "app_set_id": GAID,
    }
    attribution = payloads(raw)["attribution"]
    assert attribution["idfa"] == IOS_IDFA
    assert "adid" not in attribution
    assert "android_id" not in attribution
    assert "android_app_set_id" not in attribution


def test_an_in_app_event_on_android_carries_no_apple_id() -> None:
    raw = {
        **fixture_json("appsflyer", "inapp_purchase.json"),
        "platform": "android",
        "advertising_id": GAID,
        "idfv": IOS_IDFV,
    }
    event = payloads(raw)["httpapi"]
    assert (event["platform"], event["adid"]) == ("android", GAID)
    assert "idfv" not in event
    assert event["device_id"] == GAID  # not the IDFV, which an iOS event would use
