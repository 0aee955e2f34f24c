"""Custom networks without code: YAML mapping files → normalised postbacks → Amplitude calls.

Table-driven over realistic postbacks of each shipped network (networks/*.yaml), then every
transform and time format on small inline mappings, then schema errors (each must name the file
and the field), then loading: the shipped folder, and a network added by dropping a file.
"""

from __future__ import annotations

import textwrap
from decimal import Decimal
from functools import reduce
from pathlib import Path
from typing import Any

import pytest

from postback_relay.config import ConfigurationError
from postback_relay.core import plan
from postback_relay.errors import BadRequest, Undeliverable
from postback_relay.mapping import to_amplitude_calls
from postback_relay.models.postback import DeviceIds, Kind, Postback
from postback_relay.partners import PartnerAdapter
from postback_relay.partners.custom import (
    NETWORKS_DIR,
    NETWORKS_DIR_ENV,
    MappingError,
    NetworkMapping,
    load_mapping,
    load_network,
    load_networks,
    networks_dir,
    parse_with,
)
from postback_relay.partners.custom.loader import adapter_for

IDFA = "A7071198-3848-40A5-B3D0-94578D9B1234"
IDFV = "868049A3-4B2F-4A11-9B00-CFFC36215678"
GAID = "9c9a82fb-d5de-4cd1-90c3-527441c11828"
ZEROS = "00000000-0000-0000-0000-000000000000"
EVENT_MS = 1_773_480_413_589  # 2026-03-14 09:26:53.589 UTC
EVENT_S = 1_773_480_413  # the same instant in seconds
INSTALL_MS = 1_773_475_501_120  # 2026-03-14 08:05:01.120 UTC

SHIPPED = load_networks(NETWORKS_DIR)


def attr(obj: Any, path: str) -> Any:
    return reduce(getattr, path.split("."), obj)


def check(postback: Postback, expected: dict[str, Any]) -> None:
    for path, value in expected.items():
        assert attr(postback, path) == value, f"{path}: {attr(postback, path)!r} != {value!r}"


# ------------------------------------------------------------------------------------------------
# Shipped networks: realistic postbacks
# ------------------------------------------------------------------------------------------------

# Unity Ads: keys as in Unity's secondary-postback reference (ifa/aid/ts/install_ts/event/platform).
# No "iOS zeroed IDFA but IDFV" case: Unity's parameters carry no IDFV, so such a postback has no id.
# No re-engagement case: Unity's postbacks have no re-engagement event.
UNITY_IOS_INSTALL = {
    "platform": "iOS",
    "ifa": IDFA.lower(),
    "aid": "",
    "ts": str(EVENT_MS),
    "install_ts": str(EVENT_MS),
    "campaign_id": "546b9257365339e0031572bd",
    "campaign_name": "US_iOS_Rewarded",
    "game_id": "500009999",
    "tracking_enabled": "1",
    "was_conversion_attributed": "1",
}
UNITY_ANDROID_INSTALL = {
    "platform": "GooglePlay",
    "aid": GAID.upper(),
    "ts": str(EVENT_S),  # Unity allows seconds or milliseconds
    "install_ts": str(EVENT_S),
    "campaign_id": "546b9257365339e0031572bd",
    "game_id": "500009998",
    "tracking_enabled": "1",
    "was_conversion_attributed": "1",
}
UNITY_PURCHASE = {
    **UNITY_IOS_INSTALL,
    "event": "purchase",
    "ts": str(EVENT_MS),
    "install_ts": str(INSTALL_MS),
    "revenue": "4.99",
    "currency": "eur",
}

UNITY_CASES: list[tuple[str, dict[str, Any], dict[str, Any], list[str]]] = [
    (
        "ios-install",
        UNITY_IOS_INSTALL,
        {
            "kind": Kind.INSTALL,
            "platform": "ios",
            "ids.idfa": IDFA,
            "ids.adid": None,
            "time_ms": EVENT_MS,
            "install_time_ms": EVENT_MS,
            "is_organic": False,
            "campaign.media_source": "unity",
            "campaign.campaign": "US_iOS_Rewarded",
            "campaign.campaign_id": "546b9257365339e0031572bd",
            "event_name": None,
        },
        ["attribution"],
    ),
    (
        "android-install-seconds",
        UNITY_ANDROID_INSTALL,
        {
            "kind": Kind.INSTALL,
            "platform": "android",
            "ids.adid": GAID,
            "ids.idfa": None,
            "time_ms": EVENT_S * 1000,
            "install_time_ms": EVENT_S * 1000,
        },
        ["attribution"],
    ),
    (
        "in-app-purchase",
        UNITY_PURCHASE,
        {
            "kind": Kind.IN_APP_EVENT,
            "event_name": "purchase",
            "time_ms": EVENT_MS,
            "install_time_ms": INSTALL_MS,
            "revenue.amount": Decimal("4.99"),
            "revenue.currency": "EUR",
        },
        ["httpapi"],
    ),
    (
        "custom-event-no-revenue",
        {**UNITY_ANDROID_INSTALL, "event": "level_complete"},
        {"kind": Kind.IN_APP_EVENT, "event_name": "level_complete", "revenue": None, "platform": "android"},
        ["httpapi"],
    ),
    (
        "organic-not-attributed",
        {**UNITY_IOS_INSTALL, "was_conversion_attributed": "0"},
        {"is_organic": True, "campaign.media_source": "organic", "kind": Kind.INSTALL},
        ["attribution"],
    ),
    (
        "odd-timestamp",
        {**UNITY_IOS_INSTALL, "ts": "yesterday", "install_ts": "99"},
        {"time_ms": None, "install_time_ms": None, "ids.idfa": IDFA},
        ["attribution"],
    ),
    (
        "platform-unstated-inferred-from-ifa",
        {key: value for key, value in UNITY_IOS_INSTALL.items() if key != "platform"},
        {"platform": "ios", "ids.idfa": IDFA},
        ["attribution"],
    ),
]

# Liftoff: keys as in Liftoff's Analytics S2S macro list; device_id is the IDFA on iOS, GAID on Android.
LIFTOFF_IOS_INSTALL = {
    "platform": "ios",
    "event_name": "install",
    "event_timestamp": str(EVENT_MS),
    "device_id": IDFA,
    "idfv": IDFV,
    "user_id": "user-4242",
    "language": "en",
    "device_model": "iPhone12,5",
    "os_version": "17.4",
    "app_version": "3.2.0",
    "is_attributed": "1",
}
LIFTOFF_ANDROID_INSTALL = {
    "platform": "android",
    "event_name": "install",
    "event_timestamp": str(EVENT_MS),
    "device_id": GAID,
    "language": "de",
    "device_model": "Pixel 8",
    "is_attributed": "1",
}

LIFTOFF_CASES: list[tuple[str, dict[str, Any], dict[str, Any], list[str]]] = [
    (
        "ios-install",
        LIFTOFF_IOS_INSTALL,
        {
            "kind": Kind.INSTALL,
            "platform": "ios",
            "ids.idfa": IDFA,
            "ids.idfv": IDFV,
            "ids.adid": None,
            "user_id": "user-4242",
            "time_ms": EVENT_MS,
            "device.model": "iPhone12,5",
            "device.language": "en",
            "device.os_version": "17.4",
            "device.app_version": "3.2.0",
            "campaign.media_source": "liftoff",
        },
        ["attribution", "identify"],
    ),
    (
        "ios-zeroed-idfa-idfv",
        {**LIFTOFF_IOS_INSTALL, "device_id": ZEROS, "user_id": ""},
        {"ids.idfa": None, "ids.idfv": IDFV, "platform": "ios", "user_id": None},
        ["attribution"],
    ),
    (
        "android-install",
        LIFTOFF_ANDROID_INSTALL,
        {"platform": "android", "ids.adid": GAID, "ids.idfa": None, "kind": Kind.INSTALL},
        ["attribution"],
    ),
    (
        "in-app-purchase",
        {**LIFTOFF_ANDROID_INSTALL, "event_name": "purchase", "revenue": "19.90", "currency": "brl"},
        {
            "kind": Kind.IN_APP_EVENT,
            "event_name": "purchase",
            "revenue.amount": Decimal("19.90"),
            "revenue.currency": "BRL",
        },
        ["httpapi"],
    ),
    (
        "in-app-revenue-default-currency",
        {**LIFTOFF_IOS_INSTALL, "event_name": "Purchase", "revenue": "0.99", "currency": "{currency}"},
        {"event_name": "Purchase", "revenue.currency": "USD"},
        ["httpapi"],
    ),
    (
        "organic",
        {**LIFTOFF_ANDROID_INSTALL, "is_attributed": "0"},
        {"is_organic": True, "campaign.media_source": "organic"},
        ["attribution"],
    ),
    (
        "reinstall",
        {**LIFTOFF_ANDROID_INSTALL, "event_name": "reinstall"},
        {"kind": Kind.REINSTALL},
        ["attribution"],
    ),
    (
        "seconds-sent-as-ms-is-dropped",
        {**LIFTOFF_ANDROID_INSTALL, "event_timestamp": str(EVENT_S)},
        {"time_ms": None},
        ["attribution"],
    ),
]


def _cases(network: str, table: list[tuple[str, dict[str, Any], dict[str, Any], list[str]]]) -> list[Any]:
    return [
        pytest.param(network, raw, expected, endpoints, id=f"{network}-{name}")
        for name, raw, expected, endpoints in table
    ]


@pytest.mark.parametrize(
    ("network", "raw", "expected", "endpoints"),
    _cases("unity-ads", UNITY_CASES) + _cases("liftoff", LIFTOFF_CASES),
)
def test_shipped_network_postbacks(
    network: str, raw: dict[str, Any], expected: dict[str, Any], endpoints: list[str]
) -> None:
    adapter = SHIPPED[network]
    postback = adapter.parse(raw)
    assert postback.partner == network
    check(postback, expected)
    calls = to_amplitude_calls(postback, adapter.convention)
    assert [call.endpoint for call in calls] == endpoints


UNDELIVERABLE: list[Any] = [
    pytest.param(
        "unity-ads",
        {"platform": "{platform}", "ifa": "{ifa}", "aid": "{aid}", "ts": "{ts}", "event": "{event}"},
        id="unity-unreplaced-macros",
    ),
    pytest.param("unity-ads", {**UNITY_IOS_INSTALL, "ifa": ZEROS}, id="unity-zeroed-idfa-no-idfv"),
    pytest.param("unity-ads", {**UNITY_PURCHASE, "ifa": "", "aid": "null"}, id="unity-event-without-ids"),
    pytest.param(
        "liftoff",
        {"platform": "{platform}", "event_name": "install", "device_id": "{device_id}", "idfv": "{idfv}"},
        id="liftoff-unreplaced-macros",
    ),
    pytest.param(
        "liftoff", {**LIFTOFF_IOS_INSTALL, "device_id": ZEROS, "idfv": ZEROS, "user_id": ""}, id="liftoff-no-ids"
    ),
    pytest.param(
        "liftoff",
        {**LIFTOFF_ANDROID_INSTALL, "platform": "", "device_id": GAID},
        id="liftoff-device-id-needs-platform",
    ),
]


@pytest.mark.parametrize(("network", "raw"), UNDELIVERABLE)
def test_broken_postbacks_are_undeliverable(network: str, raw: dict[str, Any]) -> None:
    adapter = SHIPPED[network]
    with pytest.raises(Undeliverable):
        to_amplitude_calls(adapter.parse(raw), adapter.convention)


def test_unreplaced_macros_are_missing_not_values() -> None:
    postback = SHIPPED["unity-ads"].parse(
        {**UNITY_IOS_INSTALL, "campaign_name": "{campaign_name}", "ts": "{ts}", "install_ts": "%7Binstall_ts%7D"}
    )
    assert postback.campaign.campaign is None
    assert postback.time_ms is None
    assert postback.install_time_ms is None


@pytest.mark.parametrize(("network", "key"), [("unity-ads", "revenue"), ("liftoff", "revenue")])
def test_garbage_revenue_is_a_bad_request_naming_the_key(network: str, key: str) -> None:
    raw = {**(UNITY_PURCHASE if network == "unity-ads" else LIFTOFF_IOS_INSTALL), "event_name": "purchase"}
    raw["event"] = "purchase"
    raw[key] = "4,99 EUR"
    with pytest.raises(BadRequest) as caught:
        SHIPPED[network].parse(raw)
    assert caught.value.details["field"] == key
    assert "4,99 EUR" in caught.value.message


def test_post_body_values_need_not_be_strings() -> None:
    """A JSON body may carry numbers and booleans where a query string has text."""
    raw: dict[str, Any] = {**LIFTOFF_ANDROID_INSTALL, "event_timestamp": EVENT_MS, "is_attributed": False}
    raw.update(event_name="purchase", revenue=2.5)
    postback = SHIPPED["liftoff"].parse(raw)
    check(postback, {"time_ms": EVENT_MS, "is_organic": True, "revenue.amount": Decimal("2.5")})


def test_shipped_adapters_describe_themselves() -> None:
    unity = SHIPPED["unity-ads"]
    assert unity.display_name == "Unity Ads"
    assert unity.route == "/v1/postbacks/custom/unity-ads"
    assert unity.method == "GET"
    assert unity.query_template is not None
    assert unity.query_template["ifa"] == "{ifa}"
    assert unity.convention.event_type(Kind.INSTALL, None) == "[Unity Ads] Install"
    assert unity.convention.event_type(Kind.IN_APP_EVENT, "purchase") == "[Unity Ads] purchase"
    assert unity.convention.property_name("media_source") == "[Unity Ads] media source"
    liftoff = SHIPPED["liftoff"]
    # No event_types in the file: the defaults cover every attribution kind.
    assert liftoff.convention.event_type(Kind.RE_ATTRIBUTION, None) == "[Liftoff] Re-attribution"
    assert liftoff.convention.property_name("is_organic") == "[Liftoff] is organic"
    for adapter in SHIPPED.values():
        assert adapter.query_template, adapter.name
        assert all(value == f"{{{key}}}" for key, value in adapter.query_template.items())


def test_attribution_payload_for_a_custom_network() -> None:
    adapter = SHIPPED["unity-ads"]
    [call] = to_amplitude_calls(adapter.parse(UNITY_IOS_INSTALL), adapter.convention)
    payload = call.payload
    assert payload["event_type"] == "[Unity Ads] Install"
    assert payload["idfa"] == IDFA
    assert payload["platform"] == "ios"
    assert payload["time"] == EVENT_MS
    assert payload["user_properties"]["[Unity Ads] media source"] == "unity"
    assert payload["user_properties"]["[Unity Ads] campaign"] == "US_iOS_Rewarded"
    assert call.insert_id.startswith("unity-ads-attribution-")


# ------------------------------------------------------------------------------------------------
# Transforms, rules and formats on inline mappings
# ------------------------------------------------------------------------------------------------


def mapping_of(fields: dict[str, Any], **extra: Any) -> NetworkMapping:
    return NetworkMapping.model_validate({"name": "test-net", "display_name": "Test Net", "fields": fields, **extra})


def parse(fields: dict[str, Any], raw: dict[str, Any], **extra: Any) -> Postback:
    return parse_with(mapping_of(fields, **extra), raw)


@pytest.mark.parametrize(
    ("transforms", "value", "expected"),
    [
        (["lower"], "Summer SALE", "summer sale"),
        (["upper"], "Summer SALE", "SUMMER SALE"),
        (["strip"], "x", "x"),
        ([{"split": {"sep": "::", "index": 1}}, "strip"], "Net:: Summer ::Ad", "Summer"),
        ([{"map": {"a": "alpha"}}], "a", "alpha"),
        ([{"map": {"a": "alpha"}}], "b", "b"),  # unmapped passes through
        ([{"map": {"a": "alpha"}, "strict": True}], "b", None),
        ([{"map": {"a": "alpha"}, "other": "rest"}], "b", "rest"),
        ([{"map": {"a": None}}], "a", None),  # null target = missing
        ([{"prefix_strip": "id"}], "id1234", "1234"),
        ([{"prefix_strip": "id"}], "1234", "1234"),
        ([{"split": {"sep": "::", "index": 1}}], "Net::Summer::Ad", "Summer"),
        ([{"split": {"sep": "::", "index": -1}}], "Net::Summer::Ad", "Ad"),
        ([{"split": {"sep": "::", "index": 5}}], "Net::Summer", None),
        ([{"split": {"sep": "::"}}], "", None),
        ([{"regex": r"\((\d+)\)$"}], "Summer Sale (1234)", "1234"),
        ([{"regex": r"\((\d+)\)$"}], "Summer Sale", None),
        (["lower", {"map": {"summer": "S"}}, {"prefix_strip": "S"}], "SUMMER", None),  # "" → missing
    ],
)
def test_transforms(transforms: list[Any], value: str, expected: str | None) -> None:
    postback = parse({"campaign": {"from": "c", "transforms": transforms}}, {"c": value, "aid": GAID})
    assert postback.campaign.campaign == expected


def test_yaml_booleans_in_map_keys_become_words(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "yes-net",
        """
        name: yes-net
        display_name: Yes Net
        fields:
          is_organic: {from: org, transforms: [lower, {map: {yes: "true", no: "false"}}]}
        """,
    )
    adapter = load_mapping(path)
    assert adapter.parse({"org": "YES"}).is_organic is True
    assert adapter.parse({"org": "no"}).is_organic is False


def test_from_list_first_usable_wins() -> None:
    fields = {"idfa": {"from": ["ifa", "idfa", "advertising_id"]}, "platform": {"constant": "ios"}}
    assert parse(fields, {"ifa": ZEROS, "idfa": "{idfa}", "advertising_id": IDFA.lower()}).ids.idfa == IDFA
    assert parse(fields, {"ifa": IDFA, "idfa": IDFV}).ids.idfa == IDFA
    assert parse(fields, {}).ids.idfa is None


def test_constant_and_default() -> None:
    fields = {
        "media_source": {"constant": "somenet"},
        "currency": {"from": "cur", "default": "USD"},
        "kind": {"from": "k", "default": "re-engagement"},
        "channel": {"from": "ch", "default": 42},  # YAML numbers are text here
    }
    postback = parse(fields, {"aid": GAID})
    assert postback.campaign.media_source == "somenet"
    assert postback.kind is Kind.RE_ENGAGEMENT
    assert postback.campaign.channel == "42"


def test_ids_get_hygiene() -> None:
    fields = {
        "idfa": {"from": "a"},
        "idfv": {"from": "v"},
        "adid": {"from": "g"},
        "android_app_set_id": {"from": "s"},
        "android_id": {"from": "i"},
        "user_id": {"from": "u"},
    }
    app_set_id = "A1B2C3D4-0000-4000-8000-ABCDEF012345"
    raw = {"a": IDFA.lower(), "v": ZEROS, "g": GAID.upper(), "s": app_set_id, "i": "3F4A92B6C1D8E90F", "u": "0000"}
    postback = parse(fields, raw)
    assert postback.ids.idfa == IDFA
    assert postback.ids.idfv is None
    assert postback.ids.adid == GAID
    assert postback.ids.android_app_set_id == app_set_id.lower()
    assert postback.ids.android_id == "3f4a92b6c1d8e90f"
    assert postback.user_id is None


def test_malformed_ids_count_as_missing() -> None:
    fields = {"idfa": {"from": "a"}, "adid": {"from": "g"}, "android_app_set_id": {"from": "s"}}
    fields["android_id"] = {"from": "i"}
    raw = {"a": "ABC-DEF", "g": IDFA + "0", "s": "x" * 5000, "i": "3F4A92B6C1D8E90"}
    assert parse(fields, raw).ids == DeviceIds()


def test_when_platform_routes_one_key_to_the_right_id() -> None:
    fields = {
        "platform": {"from": "os"},
        "idfa": {"from": "dev", "when_platform": "ios"},
        "adid": {"from": "dev", "when_platform": "android"},
    }
    ios = parse(fields, {"os": "iOS", "dev": IDFA})
    android = parse(fields, {"os": "android", "dev": GAID})
    assert (ios.ids.idfa, ios.ids.adid) == (IDFA, None)
    assert (android.ids.idfa, android.ids.adid) == (None, GAID)


def test_platform_rules() -> None:
    fields = {"platform": {"from": "os", "transforms": ["lower", {"map": {"iphone": "ios"}}]}, "adid": {"from": "g"}}
    assert parse(fields, {"os": "iPhone"}).platform == "ios"
    assert parse(fields, {"os": "Android"}).platform == "android"
    assert parse(fields, {"os": "windows", "g": GAID}).platform is None  # stated but unsupported: not inferred
    assert parse(fields, {"g": GAID}).platform == "android"  # not stated: inferred from the ids
    assert parse({"platform": {"constant": "ios"}}, {}).platform == "ios"


def test_kind_rules() -> None:
    fields = {"kind": {"from": "ev", "transforms": ["lower"]}}
    assert parse(fields, {"ev": "Re_Engagement"}).kind is Kind.RE_ENGAGEMENT
    assert parse(fields, {"ev": "in app event"}).kind is Kind.IN_APP_EVENT
    assert parse({}, {}).kind is Kind.INSTALL  # no kind rule: an install
    with pytest.raises(BadRequest) as unknown:
        parse(fields, {"ev": "purchase"})
    assert unknown.value.details == {"field": "ev", "value": "purchase"}
    assert "'purchase'" in unknown.value.message
    with pytest.raises(BadRequest) as missing:
        parse(fields, {})
    assert missing.value.details["field"] == "ev"


def test_event_name_only_for_in_app_events() -> None:
    fields = {"kind": {"from": "ev", "transforms": [{"map": {"install": "install"}, "other": "in-app-event"}]}}
    fields["event_name"] = {"from": "ev"}
    assert parse(fields, {"ev": "install"}).event_name is None
    assert parse(fields, {"ev": "af_purchase"}).event_name == "af_purchase"


def test_revenue_rules() -> None:
    fields = {
        "kind": {"constant": "in-app-event"},
        "revenue": {"from": "rev"},
        "revenue_usd": {"from": "usd"},
        "currency": {"from": "cur", "transforms": ["upper"]},
    }
    full = parse(fields, {"rev": "9.99", "usd": "10.87", "cur": "eur"})
    assert full.revenue is not None
    assert (full.revenue.amount, full.revenue.currency, full.revenue.amount_usd) == (
        Decimal("9.99"),
        "EUR",
        Decimal("10.87"),
    )
    usd_only = parse(fields, {"usd": "5"})
    assert usd_only.revenue is not None
    assert (usd_only.revenue.amount, usd_only.revenue.currency) == (Decimal(5), "USD")
    assert parse(fields, {"rev": "0", "cur": "EUR"}).revenue is None
    for garbage in ("abc", "NaN", "Infinity"):
        with pytest.raises(BadRequest) as caught:
            parse(fields, {"rev": garbage})
        assert caught.value.details["field"] == "rev"


def test_ad_revenue_rules_give_http_v2_revenue_with_the_ad() -> None:
    """A network reporting impression-level ad revenue: revenue_type "ad_revenue" and the ad's
    keys under the coded partners' property names, so one chart sums them all."""
    fields = {
        "kind": {"constant": "in-app-event"},
        "event_name": {"constant": "ad_impression"},
        "platform": {"from": "os"},
        "adid": {"from": "gaid"},
        "revenue": {"from": "rev"},
        "currency": {"from": "cur", "transforms": ["upper"]},
        "revenue_type": {"constant": "ad_revenue"},
        "ad_network": {"from": "network"},
        "ad_unit": {"from": "unit"},
        "ad_placement": {"from": "placement"},
        "ad_format": {"from": "format"},
        "ad_impressions": {"from": "count"},
    }
    raw = {
        "os": "android",
        "gaid": "9c9a82fb-d5de-4cd1-90c3-527441c11828",
        "rev": "0.0125",
        "cur": "usd",
        "network": "AdMob",
        "unit": "rewarded_video",
        "placement": "home",
        "format": "Rewarded",
        "count": "2",
    }
    [call] = plan(adapter_for(mapping_of(fields)), raw).calls
    event = call.payload
    assert (event["revenue"], event["currency"], event["revenueType"]) == (0.0125, "USD", "ad_revenue")
    ad = {"ad_network": "AdMob", "ad_unit": "rewarded_video", "ad_placement": "home", "ad_format": "Rewarded"}
    assert event["event_properties"] == {**ad, "ad_impressions": 2, "[Test Net] is organic": False}


def test_revenue_ignored_on_installs() -> None:
    assert parse({"revenue": {"from": "rev"}}, {"rev": "garbage"}).revenue is None


@pytest.mark.parametrize(
    ("time_format", "value", "expected"),
    [
        ("epoch_s", str(EVENT_S), EVENT_S * 1000),
        ("epoch_s", "1773480413.589", EVENT_MS),
        ("epoch_s", str(EVENT_MS), None),  # ms where seconds are promised: out of range
        ("epoch_ms", str(EVENT_MS), EVENT_MS),
        ("epoch_ms", str(EVENT_S), None),  # seconds where ms are promised: 1970
        ("epoch_ms", "2026-03-14", None),
        ("auto", str(EVENT_S), EVENT_S * 1000),
        ("auto", str(EVENT_MS), EVENT_MS),
        ("auto", "2026-03-14 09:26:53.589", EVENT_MS),
        ("auto", "soon", None),
        ("iso8601", "2026-03-14T09:26:53.589Z", EVENT_MS),
        ("iso8601", "2026-03-14T10:26:53.589+01:00", EVENT_MS),
        ("iso8601", "2026-03-14T09:26:53.589", EVENT_MS),  # no offset: UTC
        ("iso8601", "20260314T092653Z", 1_773_480_413_000),  # basic format, via fromisoformat
        ("iso8601", str(EVENT_MS), None),
        ("iso8601", "14/03/2026", None),
        ("%Y-%m-%d %H:%M:%S", "2026-03-14 09:26:53", 1_773_480_413_000),
        ("%d/%m/%Y %H:%M", "14/03/2026 09:26", 1_773_480_360_000),
        ("%Y-%m-%d %H:%M:%S%z", "2026-03-14 10:26:53+0100", 1_773_480_413_000),
        ("%Y-%m-%d %H:%M:%S", "2026-03-14T09:26:53", None),
        ("%Y-%m-%d", "1970-01-01", None),  # before 2000: a broken clock
    ],
)
def test_time_formats(time_format: str, value: str, expected: int | None) -> None:
    fields = {
        "time": {"from": "t", "format": time_format},
        "install_time": {"from": "i", "format": time_format},
        "touch_time": {"from": "c", "format": time_format},
    }
    postback = parse(fields, {"t": value, "i": value, "c": value})
    assert (postback.time_ms, postback.install_time_ms, postback.campaign.touch_time_ms) == (expected,) * 3


def test_install_time_stands_in_for_install_event_time() -> None:
    fields = {"time": {"from": "t"}, "install_time": {"from": "i"}, "kind": {"from": "k"}}
    assert parse(fields, {"i": str(INSTALL_MS), "k": "install"}).time_ms == INSTALL_MS
    assert parse(fields, {"i": str(INSTALL_MS), "k": "in-app-event"}).time_ms is None


def test_macro_patterns_from_the_file() -> None:
    fields = {"campaign": {"from": "c"}, "adid": {"from": "g"}}
    # ids.is_macro already knows {x}, {{x}}, ${x}, [UPPER], __UPPER__ ...
    assert parse(fields, {"c": "{campaign}", "g": GAID}).campaign.campaign is None
    assert parse(fields, {"c": "[US] brand", "g": GAID}).campaign.campaign == "[US] brand"
    # ... and a file may add its network's own style.
    extra = {"macro_patterns": [r"^\[.*\]$", "^#"]}
    assert parse(fields, {"c": "[campaign_name]", "g": GAID}, **extra).campaign.campaign is None
    assert parse(fields, {"c": "#CAMPAIGN#", "g": GAID}, **extra).campaign.campaign is None
    assert parse(fields, {"c": "Summer", "g": GAID}, **extra).campaign.campaign == "Summer"


@pytest.mark.parametrize(
    ("condition", "raw", "organic"),
    [
        ({"field": "media_source", "in": ["organic", ""]}, {"ms": "Organic"}, True),
        ({"field": "media_source", "in": ["organic", ""]}, {}, True),
        ({"field": "media_source", "in": ["organic", ""]}, {"ms": "unity"}, False),
        ({"field": "campaign", "in": ["none"]}, {"c": "None"}, False),  # "None" is a placeholder → ""
        ({"field": "campaign", "in": ["", "organic"]}, {"c": "null"}, True),
        ({"key": "attributed", "in": [0, False]}, {"attributed": "0"}, True),  # YAML 0/false as text
        ({"key": "attributed", "in": ["0", "false"]}, {"attributed": "1"}, False),
        ({"field": "platform", "in": ["android"]}, {"os": "Android"}, True),
        ({"field": "adid", "in": [""]}, {}, True),
    ],
)
def test_organic_when(condition: dict[str, Any], raw: dict[str, Any], organic: bool) -> None:
    fields = {
        "media_source": {"from": "ms"},
        "campaign": {"from": "c"},
        "platform": {"from": "os"},
        "adid": {"from": "g"},
    }
    postback = parse(fields, raw, organic_when=condition)
    assert postback.is_organic is organic
    if organic:
        assert postback.campaign.media_source == "organic"


def test_is_organic_rule_wins_over_organic_when() -> None:
    fields = {"is_organic": {"from": "org"}, "media_source": {"from": "ms"}}
    condition = {"field": "media_source", "in": [""]}
    assert parse(fields, {"org": "false"}, organic_when=condition).is_organic is False
    assert parse(fields, {"org": "TRUE", "ms": "net"}, organic_when=condition).is_organic is True
    assert parse(fields, {"org": "maybe"}, organic_when=condition).is_organic is True  # unreadable → condition


def test_text_is_capped() -> None:
    fields = {"campaign": {"from": "c"}, "event_name": {"from": "e"}, "kind": {"constant": "in-app-event"}}
    postback = parse(fields, {"c": "x" * 5000, "e": "y" * 5000, "u": "user-1"} | {"aid": GAID})
    assert postback.campaign.campaign is not None
    assert len(postback.campaign.campaign) == 1024
    assert postback.event_name is not None
    assert len(postback.event_name) == 1000


def test_wrong_typed_values_count_as_missing() -> None:
    # The inbound layer keeps a repeated query parameter's first value; a list can only be a JSON
    # body's wrong type, never coerced into text.
    assert parse({"campaign": {"from": "c"}}, {"c": ["first", "second"]}).campaign.campaign is None
    assert parse({"campaign": {"from": "c"}}, {"c": {"a": 1}}).campaign.campaign is None


def test_properties_and_event_types_from_the_file() -> None:
    mapping = mapping_of(
        {},
        label="[SN]",
        event_types={"install": "First Open"},
        properties={"media_source": "network", "campaign": "camp"},
    )
    convention = mapping.convention()
    assert convention.event_type(Kind.INSTALL, None) == "[SN] First Open"
    assert convention.event_type(Kind.REINSTALL, None) == "[SN] Reinstall"
    assert dict(convention.properties) == {"media_source": "network", "campaign": "camp"}
    assert mapping_of({}).convention().label == "[Test Net]"  # default label from display_name


# ------------------------------------------------------------------------------------------------
# Schema errors: each names the file and the field
# ------------------------------------------------------------------------------------------------

VALID = """
name: {name}
display_name: Some Net
fields:
  adid: {{from: aid}}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def broken(tmp_path: Path, body: str, name: str = "some-net") -> str:
    path = write(tmp_path, name, body)
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    message = str(caught.value)
    assert str(path) in message
    return message


def base(fields: str = "  adid: {from: aid}", extra: str = "") -> str:
    return f"name: some-net\ndisplay_name: Some Net\nfields:\n{fields}\n{extra}"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(base(extra="organic_wen: {field: media_source, in: [organic]}"), "organic_wen", id="typo-top-key"),
        pytest.param(base("  adid: {form: aid}"), "fields.adid.form: unknown key", id="typo-rule-key"),
        pytest.param(
            base("  campaign: {from: c, transforms: [lowercase]}"),
            "fields.campaign.transforms[0]: unknown transform",
            id="unknown-transform",
        ),
        pytest.param(
            base("  campaign: {from: c, transforms: [{mapp: {a: b}}]}"),
            "fields.campaign.transforms[0]: unknown transform",
            id="unknown-keyed-transform",
        ),
        pytest.param(
            base("  campaign: {from: c, transforms: [{map: {a: b}, strict: true, other: x}]}"),
            "fields.campaign.transforms[0]: use either `strict: true` or `other`",
            id="strict-and-other",
        ),
        pytest.param(
            base("  campaign: {from: c, transforms: [{regex: 'no group'}]}"),
            "fields.campaign.transforms[0].regex: regex 'no group' must have exactly one capturing group",
            id="regex-without-group",
        ),
        pytest.param(
            base("  campaign: {from: c, transforms: [{regex: '(unclosed'}]}"),
            "fields.campaign.transforms[0].regex: invalid regular expression",
            id="regex-invalid",
        ),
        pytest.param(
            base("  campaign: {from: c, transforms: [{split: {separator: '::'}}]}"),
            "fields.campaign.transforms[0].split.separator: unknown key",
            id="split-typo",
        ),
        pytest.param(
            base("  plaform: {from: os}"), "fields.plaform: unknown target field 'plaform'", id="unknown-target"
        ),
        pytest.param(
            base("  time: {from: ts, format: epoch_min}"),
            "fields.time.format: unknown format 'epoch_min'",
            id="bad-format",
        ),
        pytest.param(
            base("  campaign: {from: c, format: epoch_s}"), "fields.campaign.format: unknown key", id="format-on-text"
        ),
        pytest.param(base("  kind: {from: ev, default: purchase}"), "fields.kind.default", id="bad-kind-default"),
        pytest.param(base("  platform: {constant: windows}"), "fields.platform.constant", id="bad-platform"),
        pytest.param(base("  campaign: {default: x}"), "fields.campaign: a rule needs `from`", id="no-source"),
        pytest.param(
            base("  campaign: {from: c, constant: x}"),
            "fields.campaign: give either `from` or `constant`",
            id="from-and-constant",
        ),
        pytest.param(base("  revenue: {from: r, default: lots}"), "fields.revenue.default", id="bad-revenue-default"),
        pytest.param(
            base("  idfa: {from: d, when_platform: web}"), "fields.idfa.when_platform", id="bad-when-platform"
        ),
        pytest.param(
            base(extra="macro_patterns: ['[unclosed']"), "macro_patterns[0]: invalid regular expression", id="bad-macro"
        ),
        pytest.param(
            base(extra="organic_when: {field: time, in: ['']}"),
            "organic_when: `field: time` is not a text field",
            id="organic-non-text",
        ),
        pytest.param(
            base(extra="organic_when: {in: [organic]}"), "organic_when: give exactly one of", id="organic-no-field"
        ),
        pytest.param(base(extra="event_types: {purchase: Buy}"), "event_types.purchase", id="bad-event-type"),
        pytest.param(base(extra="properties: {platform: os}"), "properties.platform", id="bad-property"),
        pytest.param(base(extra="method: PUT"), "method: Input should be 'GET' or 'POST' (got 'PUT')", id="bad-method"),
        pytest.param("name: some-net\ndisplay_name: Some Net\n", "fields: required key is missing", id="no-fields"),
        pytest.param(
            base().replace("name: some-net", "name: Some_Net"), "name: String should match pattern", id="bad-name"
        ),
        pytest.param(
            "name: some-net\ndisplay_name: Some Net\nfields:\n  adid: {from: aid\n",
            "YAML syntax error at line",
            id="yaml-syntax",
        ),
        pytest.param(base() + "name: other\n", "found duplicate key 'name'", id="duplicate-key"),
        pytest.param("- just\n- a list\n", "(top level): expected a mapping", id="not-a-mapping"),
        pytest.param(
            base().replace("name: some-net", "name: unity-ads"),
            "name: 'unity-ads' does not match the file name 'some-net.yaml'",
            id="name-mismatch",
        ),
    ],
)
def test_schema_errors_name_file_and_field(tmp_path: Path, body: str, expected: str) -> None:
    message = broken(tmp_path, body)
    assert expected in message, message


def test_mapping_error_is_a_configuration_error(tmp_path: Path) -> None:
    path = write(tmp_path, "x", "name: x\n")
    with pytest.raises(ConfigurationError):
        load_mapping(path)


def test_several_problems_reported_together(tmp_path: Path) -> None:
    message = broken(tmp_path, base("  time: {from: ts, format: fortnightly}\n  plaform: {from: os}"))
    assert "fields.time.format" in message
    assert "fields.plaform" in message


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=r"missing\.yaml"):
        load_mapping(tmp_path / "missing.yaml")


# ------------------------------------------------------------------------------------------------
# Loading: the shipped folder, and a network added without code
# ------------------------------------------------------------------------------------------------


def test_shipped_folder_loads_every_file() -> None:
    files = sorted(path.stem for path in NETWORKS_DIR.glob("*.yaml"))
    assert len(files) >= 2
    assert sorted(SHIPPED) == files
    assert {"unity-ads", "liftoff"} <= set(SHIPPED)
    for name, adapter in SHIPPED.items():
        assert isinstance(adapter, PartnerAdapter)
        assert adapter.name == name


def test_networks_dir_default_and_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NETWORKS_DIR_ENV, raising=False)
    assert networks_dir() == NETWORKS_DIR
    assert NETWORKS_DIR.name == "networks"
    assert NETWORKS_DIR.parent.name == "postback_relay"
    monkeypatch.setenv(NETWORKS_DIR_ENV, str(tmp_path))
    assert networks_dir() == tmp_path  # read at call time, not import time


def test_adding_a_network_is_dropping_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(
        tmp_path,
        "acme-ads",
        """
        # Acme Ads: a made-up network whose macros look like [MACRO] and %%macro%%.
        name: acme-ads
        display_name: Acme Ads
        method: POST
        macro_patterns: ["^%%.*%%$"]
        fields:
          platform: {from: os, transforms: [lower, {map: {iphone: ios, ipad: ios}}]}
          idfa: {from: ifa}
          adid: {from: gaid}
          kind: {from: type, transforms: [lower, {map: {conv: install, evt: in-app-event}, strict: true}]}
          event_name: {from: name}
          time: {from: when, format: "%Y-%m-%d %H:%M:%S"}
          media_source: {constant: acme}
          campaign: {from: camp, transforms: [{split: {sep: "|", index: 0}}, strip]}
          campaign_id: {from: camp, transforms: [{regex: "id=(\\\\d+)"}]}
          revenue: {from: payout}
        query_template: {os: "%%os%%", ifa: "%%ifa%%"}
        """,
    )
    monkeypatch.setenv(NETWORKS_DIR_ENV, str(tmp_path))
    networks = load_networks()
    assert list(networks) == ["acme-ads"]
    adapter = networks["acme-ads"]
    assert adapter.method == "POST"
    raw = {
        "os": "iPhone",
        "ifa": IDFA,
        "gaid": "%%gaid%%",
        "type": "CONV",
        "when": "2026-03-14 09:26:53",
        "camp": "Spring Push | id=777",
    }
    postback = adapter.parse(raw)
    check(
        postback,
        {
            "partner": "acme-ads",
            "kind": Kind.INSTALL,
            "platform": "ios",
            "ids.idfa": IDFA,
            "ids.adid": None,
            "time_ms": 1_773_480_413_000,
            "campaign.media_source": "acme",
            "campaign.campaign": "Spring Push",
            "campaign.campaign_id": "777",
        },
    )
    [call] = to_amplitude_calls(postback, adapter.convention)
    assert call.payload["event_type"] == "[Acme Ads] Install"
    assert load_network("acme-ads") is not None
    assert load_network("nope") is None


def test_one_broken_file_fails_the_whole_load(tmp_path: Path) -> None:
    write(tmp_path, "good-net", VALID.format(name="good-net"))
    write(tmp_path, "bad-net", VALID.format(name="bad-net").replace("adid", "adidd"))
    with pytest.raises(MappingError, match=r"bad-net\.yaml: fields\.adidd"):
        load_networks(tmp_path)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="does not exist"):
        load_networks(tmp_path / "nowhere")


@pytest.mark.parametrize("name", ["../etc/passwd", "UNITY", "a/b", "", "-x", "x" * 100])
def test_load_network_refuses_names_outside_the_pattern(tmp_path: Path, name: str) -> None:
    assert load_network(name, tmp_path) is None


def test_load_network_by_name(tmp_path: Path) -> None:
    write(tmp_path, "some-net", VALID.format(name="some-net"))
    adapter = load_network("some-net", tmp_path)
    assert adapter is not None
    assert adapter.parse({"aid": GAID}).ids.adid == GAID
