"""Tenjin S2S callback adapter's tables: realistic query dicts in, normalised postbacks and Amplitude
calls out. tests/unit/test_partner_contract.py runs every row; tests/unit/test_tenjin.py holds what
only Tenjin has.

Fixtures in tests/fixtures/tenjin/ are the query dicts a GET produces from our recommended
template (every value a string, macros without data left empty) plus the literal `event_type`
the user writes per callback, and macros users commonly add that the relay ignores
(`bundle_id`, `analytics_installation_id`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from postback_relay.models.postback import Campaign, Kind, Revenue
from postback_relay.partners.tenjin import ADAPTER, CONVENTION, QUERY_TEMPLATE, parse
from tests.unit import partner_cases as cases
from tests.unit.partner_cases import GAID, IOS_IDFA, IOS_IDFV

CASES = cases.PartnerCases(ADAPTER)
load = CASES.load
raw = CASES.raw

FIXTURE_NAMES = ("install_ios", "install_android", "purchase", "custom_event", "organic_install")

IOS_INSTALL_MS = 1_773_480_413_589  # 2026-03-14 09:26:53.589 UTC
IOS_TOUCH_MS = 1_773_480_011_000
ANDROID_INSTALL_MS = 1_773_475_501_120
ANDROID_TOUCH_MS = 1_773_475_364_000
PURCHASE_MS = 1_773_603_667_305
CUSTOM_EVENT_MS = 1_773_566_813_589
ORGANIC_INSTALL_MS = 1_773_701_109_014

ORGANIC_IDFV = "3F2504E0-4F89-41D3-9A0C-0305E82C3301"
ZEROS = "00000000-0000-0000-0000-000000000000"

# Realistic GET callbacks: flat, every value a string, every template key and the literal event_type.
GET_QUERY_FIXTURE_CASES: list[Any] = [
    pytest.param(load(name), set(QUERY_TEMPLATE) | {"event_type"}, id=name) for name in FIXTURE_NAMES
]


# --------------------------------------------------------------------------------------------
# parse(): one row per mapping rule. Each expectation is "dotted attribute path" -> value.
# --------------------------------------------------------------------------------------------

PARSE_CASES: list[Any] = [
    # --- the fixtures, end to end -----------------------------------------------------------
    pytest.param(
        load("install_ios"),
        {
            "partner": "tenjin",
            "kind": Kind.INSTALL,
            "event_name": None,
            "platform": "ios",
            "ids.idfa": IOS_IDFA,
            "ids.idfv": IOS_IDFV,
            "ids.adid": None,
            "user_id": None,
            "time_ms": IOS_INSTALL_MS,
            "install_time_ms": IOS_INSTALL_MS,
            "is_organic": False,
            "campaign": Campaign(
                media_source="applovin",
                campaign="PB_iOS_US_Tier1",
                site_id="com.example.puzzlegame",
                ad="video_30s_v3",
                touch_time_ms=IOS_TOUCH_MS,
            ),
            "revenue": None,
            "event_properties": {},
            "device.os_version": "17.4.1",
            "device.model": "iPhone14,5",
            "device.country": "US",
            "partner_event_id": None,
        },
        id="ios-install-fixture-advertising-id-is-idfa",
    ),
    pytest.param(
        load("install_android"),
        {
            "kind": Kind.INSTALL,
            "platform": "android",
            "ids.adid": GAID,
            "ids.idfa": None,
            "ids.idfv": None,
            "time_ms": ANDROID_INSTALL_MS,
            "campaign.media_source": "unityads",
            "campaign.site_id": "3412987",
            "campaign.touch_time_ms": ANDROID_TOUCH_MS,
            "device.os_version": "34",
            "device.country": "DE",
        },
        id="android-install-fixture-advertising-id-is-gaid",
    ),
    pytest.param(
        load("purchase"),
        {
            "kind": Kind.IN_APP_EVENT,
            "event_name": "purchase",
            "platform": "android",
            "ids.adid": GAID,
            "time_ms": PURCHASE_MS,
            "install_time_ms": ANDROID_INSTALL_MS,
            "revenue": Revenue(amount=Decimal("9.99"), currency="USD", amount_usd=Decimal("9.99")),
            "event_properties": {"revenue_usd_net": 6.99},
        },
        id="purchase-fixture-revenue-usd-gross",
    ),
    pytest.param(
        load("custom_event"),
        {
            "kind": Kind.IN_APP_EVENT,
            "event_name": "level_complete",
            "platform": "ios",
            "time_ms": CUSTOM_EVENT_MS,
            "revenue": None,
            "event_properties": {},
        },
        id="custom-event-fixture-value-is-name",
    ),
    pytest.param(
        load("organic_install"),
        {
            "kind": Kind.INSTALL,
            "is_organic": True,
            "campaign.media_source": "organic",
            "campaign.campaign": None,
            "campaign.touch_time_ms": None,
            "ids.idfa": None,  # all zeros: ATT denied
            "ids.idfv": ORGANIC_IDFV,
            "time_ms": ORGANIC_INSTALL_MS,
        },
        id="organic-install-fixture-zeroed-idfa-keeps-idfv",
    ),
    # --- kinds ------------------------------------------------------------------------------
    pytest.param(raw("install_ios", drop=("event_type",)), {"kind": Kind.INSTALL}, id="no-event-type-install"),
    pytest.param(
        raw("custom_event", drop=("event_type",)),
        {"kind": Kind.IN_APP_EVENT, "event_name": "level_complete"},
        id="no-event-type-named-event",
    ),
    pytest.param(
        raw("purchase", event_type=""),
        {"kind": Kind.IN_APP_EVENT, "event_name": None, "revenue.amount": Decimal("9.99")},
        id="no-event-type-revenue-is-event",
    ),
    pytest.param(raw("install_ios", drop=("event_type",), value="install"), {"kind": Kind.INSTALL}, id="value-install"),
    pytest.param(raw("custom_event", event_type="Custom Event"), {"kind": Kind.IN_APP_EVENT}, id="event-type-spelling"),
    pytest.param(
        raw("custom_event", event_name="tutorial_done"), {"event_name": "tutorial_done"}, id="literal-event-name-wins"
    ),
    pytest.param(
        raw("custom_event", value="3"),
        {"event_name": None, "event_properties": {"value": 3}},
        id="numeric-value-is-a-value",
    ),
    pytest.param(
        raw("custom_event", value="2.5", event_name="score"),
        {"event_name": "score", "event_properties": {"value": 2.5}},
        id="decimal-value-property",
    ),
    # --- ids and platform -------------------------------------------------------------------
    pytest.param(
        raw("install_ios", advertising_id="{{advertising_id}}", developer_device_id="{{developer_device_id}}"),
        {"ids.idfa": None, "ids.idfv": None, "platform": "ios"},
        id="unreplaced-macros-dropped",
    ),
    pytest.param(raw("install_android", advertising_id=GAID.upper()), {"ids.adid": GAID}, id="gaid-lower-cased"),
    pytest.param(raw("install_ios", advertising_id=IOS_IDFA.lower()), {"ids.idfa": IOS_IDFA}, id="idfa-upper-cased"),
    pytest.param(
        raw("install_android", platform="amazon", advertising_id="df07c7dc-cea7-4a89-b328-810ff5acb15d"),
        {"platform": "android", "ids.adid": "df07c7dc-cea7-4a89-b328-810ff5acb15d"},
        id="amazon-fire-advertising-id",
    ),
    pytest.param(
        raw("install_ios", platform="{{platform}}"),
        {"platform": "ios", "ids.idfa": IOS_IDFA},
        id="platform-inferred-from-idfv",
    ),
    pytest.param(
        raw("install_android", platform=""),
        {"platform": None, "ids.adid": None, "ids.idfa": None},
        id="bare-advertising-id-without-platform-is-not-guessed",
    ),
    pytest.param(raw("install_ios", platform="windows"), {"platform": None}, id="windows-no-platform"),
    pytest.param(
        raw("install_android", developer_device_id="868049A3-4B2F-4A11-9B00-CFFC36215678"),
        {"ids.idfv": None},
        id="no-idfv-on-android",
    ),
    pytest.param(raw("install_ios", customer_user_id="user-100245"), {"user_id": "user-100245"}, id="customer-user-id"),
    # --- organic ----------------------------------------------------------------------------
    pytest.param(
        raw("install_ios", ad_network="ORGANIC"),
        {"is_organic": True, "campaign.media_source": "organic", "campaign.campaign": "PB_iOS_US_Tier1"},
        id="organic-any-case",
    ),
    pytest.param(
        raw("install_android", ad_network=""),
        {"is_organic": True, "campaign.media_source": "organic"},
        id="organic-empty",
    ),
    pytest.param(raw("install_android", ad_network="{{ad_network}}"), {"is_organic": True}, id="organic-macro-network"),
    # --- revenue ----------------------------------------------------------------------------
    pytest.param(
        raw("purchase", revenue_usd_gross="0", revenue_usd_net="0"),
        {"revenue": None, "event_properties": {}},
        id="zero-revenue-is-no-revenue",
    ),
    pytest.param(
        raw("purchase", revenue_usd_gross="{{revenue_usd_gross}}"), {"revenue": None}, id="revenue-macro-no-revenue"
    ),
    pytest.param(raw("install_ios", revenue_usd_gross="4.99"), {"revenue": None}, id="installs-carry-no-revenue"),
    # --- times ------------------------------------------------------------------------------
    pytest.param(
        raw("install_ios", time_in_ms=""), {"time_ms": IOS_INSTALL_MS}, id="install-falls-back-to-acquired-at"
    ),
    pytest.param(
        raw("purchase", time_in_ms="{{time_in_ms}}"),
        {"time_ms": None, "install_time_ms": ANDROID_INSTALL_MS},
        id="event-never-uses-install-time",
    ),
    pytest.param(
        raw("purchase", time_in_ms="17736036", acquired_at_ms="soon"),
        {"time_ms": None, "install_time_ms": None},
        id="odd-timestamps-are-none",
    ),
    pytest.param(raw("purchase", time_in_ms="1773603667"), {"time_ms": 1_773_603_667_000}, id="seconds-by-magnitude"),
]

# A macro without data may be dropped or left empty: the same postback either way.
MISSING_KEYS_CASES: list[Any] = [pytest.param(load(name), id=name) for name in FIXTURE_NAMES]

# Tenjin's own installation id is never read.
UNREAD_KEY_CASES: list[Any] = [
    # Unread keys parse alike (on the route they key a new postback: a resend is the same raw one).
    pytest.param(load("purchase"), raw("purchase", ip_address="203.0.113.9", click_id="c-1"), id="unread-keys"),
    pytest.param(
        load("install_ios"),
        raw("install_ios", analytics_installation_id="ffffffffffffffffffffffffffffffff"),
        id="analytics-installation-id",
    ),
]


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

BAD_REQUEST_CASES: list[Any] = [
    pytest.param(raw("install_ios", event_type="open"), "'open'", "event_type", id="event-type-open"),
    pytest.param(raw("install_ios", event_type="reinstall"), "'reinstall'", "event_type", id="event-type-reinstall"),
    pytest.param(
        raw("purchase", revenue_usd_gross="9,99"), "revenue_usd_gross", "revenue_usd_gross", id="revenue-comma"
    ),
    pytest.param(raw("purchase", revenue_usd_gross="inf"), "revenue_usd_gross", "revenue_usd_gross", id="revenue-inf"),
    pytest.param(raw("purchase", revenue_usd_net="six"), "revenue_usd_net", "revenue_usd_net", id="net-text"),
]


UNDELIVERABLE_CASES: list[Any] = [
    pytest.param(raw("install_android", advertising_id=ZEROS), id="android-zeroed-gaid"),
    pytest.param(
        raw("install_ios", advertising_id="{{advertising_id}}", developer_device_id=""), id="ios-macro-and-empty"
    ),
    pytest.param(raw("organic_install", developer_device_id="{{developer_device_id}}"), id="ios-zeros-and-macro"),
    pytest.param(raw("install_android", platform=""), id="no-platform-bare-advertising-id"),
    pytest.param(raw("purchase", advertising_id=""), id="purchase-without-device-or-user"),
]


# --------------------------------------------------------------------------------------------
# Final Amplitude payloads
# --------------------------------------------------------------------------------------------

IOS_USER_PROPERTIES = {
    "[Tenjin] ad network": "applovin",
    "[Tenjin] campaign": "PB_iOS_US_Tier1",
    "[Tenjin] site id": "com.example.puzzlegame",
    "[Tenjin] creative": "video_30s_v3",
    "[Tenjin] is organic": False,
    "[Tenjin] acquired at": IOS_INSTALL_MS,
    "[Tenjin] engaged at": IOS_TOUCH_MS,
}

AMPLITUDE_CASES: list[Any] = [
    pytest.param(
        load("install_ios"),
        [
            (
                "attribution",
                {
                    "event_type": "[Tenjin] Install",
                    "platform": "ios",
                    "os_name": "ios",
                    "idfa": IOS_IDFA,
                    "idfv": IOS_IDFV,
                    "time": IOS_INSTALL_MS,
                    "country": "US",
                    "device_model": "iPhone14,5",
                    "user_properties": IOS_USER_PROPERTIES,
                },
            )
        ],
        id="ios-install-attribution",
    ),
    pytest.param(
        raw("install_ios", customer_user_id="user-100245"),
        [
            ("attribution", {"event_type": "[Tenjin] Install"}),
            (
                "identify",
                {
                    "user_id": "user-100245",
                    "user_properties": {
                        "$setOnce": {"[Tenjin] initial ad network": "applovin"},
                        "$set": {"[Tenjin] ad network": "applovin"},
                    },
                },
            ),
        ],
        id="ios-install-with-user-identify",
    ),
    pytest.param(
        load("install_android"),
        [
            (
                "attribution",
                {
                    "event_type": "[Tenjin] Install",
                    "platform": "android",
                    "adid": GAID,
                    "time": ANDROID_INSTALL_MS,
                    "os_version": "34",
                    "user_properties": {"[Tenjin] ad network": "unityads", "[Tenjin] site id": "3412987"},
                },
            )
        ],
        id="android-install-attribution",
    ),
    pytest.param(
        load("organic_install"),
        [
            (
                "attribution",
                {
                    "event_type": "[Tenjin] Install",
                    "idfv": ORGANIC_IDFV,
                    "time": ORGANIC_INSTALL_MS,
                    "user_properties": {
                        "[Tenjin] ad network": "organic",
                        "[Tenjin] is organic": True,
                        "[Tenjin] acquired at": ORGANIC_INSTALL_MS,
                    },
                },
            )
        ],
        id="organic-install-idfv-only",
    ),
    pytest.param(
        load("purchase"),
        [
            (
                "httpapi",
                {
                    "event_type": "[Tenjin] purchase",
                    "device_id": GAID,
                    "platform": "android",
                    "adid": GAID,
                    "time": PURCHASE_MS,
                    "price": 9.99,
                    "revenue": 9.99,
                    "quantity": 1,
                    "currency": "USD",
                    "event_properties": {
                        "revenue_usd_net": 6.99,
                        "[Tenjin] revenue usd": 9.99,
                        "[Tenjin] ad network": "unityads",
                    },
                },
            )
        ],
        id="purchase-httpapi",
    ),
    pytest.param(
        load("custom_event"),
        [("httpapi", {"event_type": "[Tenjin] level_complete", "device_id": IOS_IDFV, "idfa": IOS_IDFA})],
        id="custom-event-httpapi",
    ),
]

EXACT_USER_PROPERTIES_CASES: list[Any] = [pytest.param(load("install_ios"), IOS_USER_PROPERTIES, id="install_ios")]

ZEROED_IDFA_CASES: list[Any] = [pytest.param(load("organic_install"), id="organic_install")]

NO_REVENUE_CASES: list[Any] = [pytest.param(load("custom_event"), "[Tenjin] level_complete", id="custom_event")]


# --------------------------------------------------------------------------------------------
# Resends
# --------------------------------------------------------------------------------------------

DIFFERENT_EVENT_CASES: list[Any] = [
    pytest.param(load(name), raw(name, time_in_ms="1775000000000"), id=name) for name in FIXTURE_NAMES
]

SAME_EVENT_CASES: list[Any] = [
    # The token is not data: a resend with another one is the same postback.
    pytest.param(load("purchase"), raw("purchase", token="s3cr3t"), id="token"),
]


# --------------------------------------------------------------------------------------------
# Template, convention and adapter wiring
# --------------------------------------------------------------------------------------------

TEMPLATE_CASES: list[Any] = [pytest.param(QUERY_TEMPLATE, "{{", "}}", id="query-template")]

CONVENTION_NAMES: cases.ConventionNames = [
    ("property_name", ("media_source",), "[Tenjin] ad network"),
    ("property_name", ("site_id",), "[Tenjin] site id"),
    ("event_type", (Kind.INSTALL, None), "[Tenjin] Install"),
    ("event_type", (Kind.IN_APP_EVENT, None), "[Tenjin] event"),
]

WIRING: dict[str, Any] = {
    "name": "tenjin",
    "display_name": "Tenjin",
    "method": "GET",
    "convention": CONVENTION,
    "parse": parse,
    "query_template": QUERY_TEMPLATE,
    "sample": load("install_ios"),
}
