"""Branch webhook adapter's tables: realistic payloads in, normalised postbacks and Amplitude calls
out. tests/unit/test_partner_contract.py runs every row; tests/unit/test_branch.py holds what only
Branch has.

Fixtures in tests/fixtures/branch/ are People-Based Attribution webhook bodies as Branch POSTs
them (nested user_data / last_attributed_touch_data / event_data, epoch-ms timestamps).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from postback_relay.models.postback import Campaign, Kind, Revenue
from postback_relay.partners.branch import ADAPTER, CONVENTION, parse
from tests.unit import partner_cases as cases
from tests.unit.partner_cases import GAID, IOS_IDFA, IOS_IDFV

CASES = cases.PartnerCases(ADAPTER)
load = CASES.load

FIXTURE_NAMES = ("install_ios", "install_android", "purchase", "organic_install", "reengagement")

# Epoch ms of the fixture timestamps (UTC).
IOS_INSTALL_MS = 1_773_480_413_589  # 2026-03-14 09:26:53.589
IOS_TOUCH_MS = 1_773_480_011_000  # 2026-03-14 09:20:11.000
ANDROID_INSTALL_MS = 1_773_475_501_120  # 2026-03-14 08:05:01.120
ANDROID_TOUCH_MS = 1_773_475_364_000  # 2026-03-14 08:02:44.000
PURCHASE_MS = 1_773_603_667_305  # 2026-03-15 19:41:07.305
REENGAGEMENT_MS = 1_774_029_662_250  # 2026-03-20 18:01:02.250
REENGAGEMENT_TOUCH_MS = 1_774_029_510_000  # 2026-03-20 17:58:30.000
ORIGINAL_INSTALL_MS = 1_753_179_072_000  # 2025-07-22 10:11:12.000
ORGANIC_INSTALL_MS = 1_773_701_109_014  # 2026-03-16 22:45:09.014

REENGAGEMENT_IDFV = "3F2504E0-4F89-41D3-9A0C-0305E82C3301"
ZEROED_IDFA = "00000000-0000-0000-0000-000000000000"


def raw(fixture: str, /, drop: tuple[str, ...] = (), **changes: Any) -> dict[str, Any]:
    """A fixture with changes; a key "user_data__idfa" means user_data["idfa"] (None removes it)."""
    payload = load(fixture)
    for key, value in changes.items():
        section, _, leaf = key.partition("__")
        target = payload.setdefault(section, {}) if leaf else payload
        name_in_target = leaf or section
        if value is None and leaf:
            target.pop(name_in_target, None)
        else:
            target[name_in_target] = value
    for key in drop:
        payload.pop(key, None)
    return payload


# The purchase fixture's event properties: event_data's transaction id, content_items as lists of
# product ids (names when sent) and their total quantity, then custom_data.
PURCHASE_PROPERTIES = {
    "transaction_id": "GPA.3345-1122-9988-77665",
    "product_ids": ["sku_gold_100"],
    "products_quantity": 1.0,
    "sku": "sku_gold_100",
    "pack": "gold",
    "quantity": "1",
}


# --------------------------------------------------------------------------------------------
# parse(): one row per mapping rule
# --------------------------------------------------------------------------------------------

PARSE_CASES: list[Any] = [
    pytest.param(
        load("install_ios"),
        {
            "partner": "branch",
            "kind": Kind.INSTALL,
            "event_name": None,
            "platform": "ios",
            "ids.idfa": IOS_IDFA,
            "ids.idfv": IOS_IDFV,
            "ids.adid": None,
            "user_id": "user-100245",
            "time_ms": IOS_INSTALL_MS,
            "install_time_ms": IOS_INSTALL_MS,
            "is_organic": False,
            "campaign": Campaign(
                media_source="Google AdWords",
                channel="Google Search",
                campaign="PB_iOS_US_Search_Brand",
                campaign_id="20611234567",
                adset="Brand Exact",
                adset_id="154321098765",
                ad="RSA_1",
                ad_id="698765432101",
                site_id="google_search",
                keywords="paper boat app",
                touch_type="click",
                touch_time_ms=IOS_TOUCH_MS,
            ),
            "event_properties": {"[Branch] feature": "paid advertising"},
            "device.country": "US",
            "device.city": "San Francisco",
            "device.model": "iPhone14,5",
            "device.brand": "Apple",
            "device.os_version": "17.4.1",
            "partner_event_id": "1173480413589456789",
        },
        id="ios-install-idfa-fixture",
    ),
    pytest.param(
        load("install_android"),
        {
            "kind": Kind.INSTALL,  # lower-case "install"
            "platform": "android",
            "ids.adid": GAID,  # aaid, sent upper case
            "ids.android_id": "d1e2f3a4b5c6d7e8",
            "ids.idfa": None,
            "user_id": None,
            "time_ms": ANDROID_INSTALL_MS,
            "campaign.media_source": "Facebook",
            "campaign.channel": "Instagram",
            "campaign.ad": "Video_15s_v2",  # ~creative_name when there is no ~ad_name
            "campaign.ad_id": "23851234567890789",
            "campaign.touch_type": "impression",
            "campaign.touch_time_ms": ANDROID_TOUCH_MS,
            "device.country": "DE",
            "partner_event_id": "1173475501120123456",
        },
        id="android-install-gaid-fixture",
    ),
    pytest.param(
        load("reengagement"),
        {
            "kind": Kind.RE_ENGAGEMENT,
            "platform": "ios",
            "ids.idfa": None,  # zeroed: never an id
            "ids.idfv": REENGAGEMENT_IDFV,
            "user_id": "user-055120",
            "time_ms": REENGAGEMENT_MS,
            "install_time_ms": ORIGINAL_INSTALL_MS,
            "campaign.media_source": "email",  # no ~advertising_partner_name: the channel
            "campaign.campaign": "winback_march",
            "campaign.touch_time_ms": REENGAGEMENT_TOUCH_MS,
            "is_organic": False,
        },
        id="attributed-open-is-re-engagement-zeroed-idfa",
    ),
    pytest.param(
        load("organic_install"),
        {
            "kind": Kind.INSTALL,
            "is_organic": True,
            "campaign": Campaign(media_source="organic"),
            "time_ms": ORGANIC_INSTALL_MS,
            "event_properties": {},
            "ids.adid": "38400000-8cf0-11bd-b23e-10b96e40000d",
        },
        id="organic-install-fixture",
    ),
    pytest.param(
        load("purchase"),
        {
            "kind": Kind.IN_APP_EVENT,
            "event_name": "PURCHASE",
            "platform": "android",
            "user_id": "user-100777",
            "time_ms": PURCHASE_MS,
            "install_time_ms": ANDROID_INSTALL_MS,
            "revenue": Revenue(amount=Decimal("9.99"), currency="EUR"),
            "event_properties": PURCHASE_PROPERTIES,
            "partner_event_id": "1173603667305987654",
        },
        id="purchase-revenue-fixture",
    ),
    pytest.param(raw("install_ios", name="REINSTALL"), {"kind": Kind.REINSTALL}, id="reinstall"),
    pytest.param(
        raw("purchase", name="COMPLETE_REGISTRATION", event_data={}),
        {"kind": Kind.IN_APP_EVENT, "event_name": "COMPLETE_REGISTRATION", "revenue": None},
        id="standard-event-without-revenue",
    ),
    pytest.param(
        raw("purchase", name="level_7_reached", event_data={"revenue": 0, "currency": "USD"}),
        {"event_name": "level_7_reached", "revenue": None},
        id="custom-event-zero-revenue",
    ),
    pytest.param(
        raw("purchase", event_data={"revenue": "4.99", "currency": "usd", "revenue_in_usd": "4.99"}),
        {"revenue": Revenue(amount=Decimal("4.99"), currency="USD", amount_usd=Decimal("4.99"))},
        id="string-revenue-lower-currency",
    ),
    pytest.param(
        raw("install_ios", user_data__os=None, user_data__platform="IOS_APP"),
        {"platform": "ios"},
        id="platform-from-ios-app",
    ),
    pytest.param(
        raw("install_android", user_data__os=None, user_data__platform=None),
        {"platform": "android"},
        id="platform-inferred-from-aaid",
    ),
    pytest.param(raw("install_ios", user_data__os="WEB"), {"platform": None}, id="web-platform-is-none"),
    pytest.param(
        raw("install_ios", attributed=False),
        {"is_organic": True, "campaign": Campaign(media_source="organic"), "event_properties": {}},
        id="attributed-false-drops-touch-data",
    ),
    pytest.param(
        raw("install_ios", user_data__idfa="${(user_data.idfa)!}", user_data__developer_identity="null"),
        {"ids.idfa": None, "ids.idfv": IOS_IDFV, "user_id": None},
        id="unreplaced-freemarker-and-null-dropped",
    ),
    pytest.param(raw("install_ios", timestamp="yesterday"), {"time_ms": None}, id="odd-timestamp-is-none"),
    pytest.param(raw("install_ios", timestamp=1_773_480_413), {"time_ms": 1_773_480_413_000}, id="seconds-timestamp"),
    pytest.param(raw("install_ios", timestamp=-5), {"time_ms": None}, id="negative-timestamp-is-none"),
]


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

BAD_REQUEST_CASES: list[Any] = [
    pytest.param(raw("reengagement", attributed=False), "unattributed OPEN", "name", id="unattributed-open"),
    pytest.param(
        raw("reengagement", last_attributed_touch_data={}), "unattributed OPEN", "name", id="open-without-touch"
    ),
    pytest.param(raw("install_ios", name="CLICK"), "not forwarded", "name", id="click"),
    pytest.param(raw("install_ios", name="impression"), "not forwarded", "name", id="impression"),
    pytest.param(raw("install_ios", name="web session start"), "not forwarded", "name", id="web-session-start"),
    pytest.param(raw("install_ios", drop=("name",)), "no event name", "name", id="no-name"),
    pytest.param(
        raw("purchase", event_data={"revenue": "9,99"}), "not a number", "event_data.revenue", id="revenue-comma"
    ),
]


UNDELIVERABLE_CASES: list[Any] = [
    pytest.param(
        raw("install_ios", user_data__idfa=ZEROED_IDFA, user_data__idfv="", user_data__developer_identity=None),
        id="ios-zeroed-idfa-no-idfv-no-user",
    ),
    pytest.param(
        raw("install_android", user_data__aaid="${(user_data.aaid)!}"),
        id="android-unreplaced-aaid-android-id-only",
    ),
    pytest.param(raw("purchase", user_data__aaid=None, user_data__developer_identity=None), id="purchase-no-ids"),
]


# --------------------------------------------------------------------------------------------
# Final Amplitude payloads
# --------------------------------------------------------------------------------------------

AMPLITUDE_CASES: list[Any] = [
    pytest.param(
        load("install_ios"),
        [
            (
                "attribution",
                {
                    "event_type": "[Branch] Install",
                    "platform": "ios",
                    "idfa": IOS_IDFA,
                    "idfv": IOS_IDFV,
                    "time": IOS_INSTALL_MS,
                    "country": "US",
                    "user_properties": {
                        "[Branch] media source": "Google AdWords",
                        "[Branch] channel": "Google Search",
                        "[Branch] campaign": "PB_iOS_US_Search_Brand",
                        "[Branch] ad set": "Brand Exact",
                        "[Branch] secondary publisher": "google_search",
                        "[Branch] keyword": "paper boat app",
                        "[Branch] touch type": "click",
                        "[Branch] is organic": False,
                        "[Branch] attributed touch time": IOS_TOUCH_MS,
                        "[Branch] install time": IOS_INSTALL_MS,
                    },
                    "event_properties": {"[Branch] feature": "paid advertising"},
                },
            ),
            (
                "identify",
                {
                    "user_id": "user-100245",
                    "user_properties": {
                        "$setOnce": {"[Branch] initial media source": "Google AdWords"},
                        "$set": {"[Branch] campaign": "PB_iOS_US_Search_Brand"},
                    },
                },
            ),
        ],
        id="ios-install-attribution-plus-identify",
    ),
    pytest.param(
        load("install_android"),
        [
            (
                "attribution",
                {"event_type": "[Branch] Install", "platform": "android", "adid": GAID, "time": ANDROID_INSTALL_MS},
            )
        ],
        id="android-install",
    ),
    pytest.param(
        load("reengagement"),
        [
            (
                "attribution",
                {
                    "event_type": "[Branch] Re-engagement",
                    "platform": "ios",
                    "idfv": REENGAGEMENT_IDFV,
                    "time": REENGAGEMENT_MS,
                },
            ),
            ("identify", {"user_id": "user-055120"}),
        ],
        id="re-engagement-idfv-only",
    ),
    pytest.param(
        load("organic_install"),
        [
            (
                "attribution",
                {
                    "event_type": "[Branch] Install",
                    "user_properties": {"[Branch] media source": "organic", "[Branch] is organic": True},
                },
            )
        ],
        id="organic-install",
    ),
    pytest.param(
        load("purchase"),
        [
            (
                "httpapi",
                {
                    "event_type": "[Branch] PURCHASE",
                    "user_id": "user-100777",
                    "device_id": GAID,
                    "platform": "android",
                    "time": PURCHASE_MS,
                    "price": 9.99,
                    "revenue": 9.99,
                    "currency": "EUR",
                    "revenueType": "PURCHASE",
                    "event_properties": {"transaction_id": "GPA.3345-1122-9988-77665", "sku": "sku_gold_100"},
                },
            )
        ],
        id="purchase-httpapi-revenue",
    ),
]

ZEROED_IDFA_CASES: list[Any] = [pytest.param(load("reengagement"), id="reengagement")]


# --------------------------------------------------------------------------------------------
# Resends and wiring
# --------------------------------------------------------------------------------------------

# Branch's event id says which event it is, whatever its timestamp.
DIFFERENT_EVENT_CASES: list[Any] = [pytest.param(load("purchase"), raw("purchase", id=1), id="another-branch-id")]

SAME_EVENT_CASES: list[Any] = [
    pytest.param(load("purchase"), raw("purchase", timestamp=PURCHASE_MS + 1), id="same-branch-id-retimed"),
]

CONVENTION_NAMES: cases.ConventionNames = [("event_type", (Kind.IN_APP_EVENT, "PURCHASE"), "[Branch] PURCHASE")]

WIRING: dict[str, Any] = {
    "name": "branch",
    "display_name": "Branch",
    "method": "POST",
    "convention": CONVENTION,
    "parse": parse,
    "query_template": None,
    "sample": load("install_ios"),
}


# --------------------------------------------------------------------------------------------
# What Branch sends beside the campaign and the revenue (https://help.branch.io/developers-hub/docs/webhooks-for-developers:
# event_data, content_items; https://help.branch.io/docs/postback-macros-functions: the touch
# keys), money (event_data.revenue and revenue_in_usd: numbers in whole units) and ad revenue
# (the VIEW_AD standard event, https://help.branch.io/developers-hub/reference/logstandardevents).
# --------------------------------------------------------------------------------------------

PARSE_CASES += [
    pytest.param(
        # Branch's own example purchase (logstandardevents), as its webhook carries it.
        raw(
            "purchase",
            event_data={
                "transaction_id": "tras_Id_1232343434",
                "currency": "USD",
                "revenue": 180.2,
                "shipping": 10.5,
                "tax": 13.5,
                "coupon": "promo-1234",
                "affiliation": "high_fi",
                "description": "Preferred purchase",
            },
            content_items=[
                {
                    "$content_schema": "COMMERCE_PRODUCT",
                    "$og_title": "Nike Shoe",
                    "$price": 101.2,
                    "$quantity": 1,
                    "$sku": "1101123445",
                    "$product_name": "Runner",
                    "$product_brand": "Nike",
                },
                {"$og_title": "Socks", "$price": 9.5, "$quantity": 2, "$canonical_identifier": "socks/42"},
            ],
            custom_data={"purchase_loc": "Palo Alto"},
        ),
        {
            "revenue": Revenue(amount=Decimal("180.2"), currency="USD"),
            "event_properties": {
                "transaction_id": "tras_Id_1232343434",
                "coupon": "promo-1234",
                "affiliation": "high_fi",
                "description": "Preferred purchase",
                "shipping": 10.5,
                "tax": 13.5,
                "product_ids": ["1101123445", "socks/42"],
                "product_names": ["Runner", "Socks"],
                "products_quantity": 3.0,
                "purchase_loc": "Palo Alto",
            },
        },
        id="event-data-and-content-items",
    ),
    pytest.param(
        raw(
            "purchase",
            last_attributed_touch_data={
                "~advertising_partner_name": "Facebook",
                "~advertising_partner_id": "1234567890",
                "~campaign": "PB_Android_DE_Stories",
                "~ad_name": "Stories 15s",
                "~ad_id": "23851234567890789",
                "~creative_name": "video_v2",
                "~creative_id": "998877",
                "~keyword_id": "kw-1",
                "~sub_site_name": "instagram_stories",
                "~branch_ad_format": "App Only",
                "~technology_partner": "mmp-x",
                "~placement": "stories",
            },
        ),
        {
            "campaign.ad": "Stories 15s",
            "campaign.ad_id": "23851234567890789",
            "event_properties": {
                "[Branch] creative": "video_v2",
                "[Branch] creative id": "998877",
                "[Branch] advertising partner id": "1234567890",
                "[Branch] keyword id": "kw-1",
                "[Branch] sub site": "instagram_stories",
                "[Branch] ad format": "App Only",
                "[Branch] technology partner": "mmp-x",
                "[Branch] placement": "stories",
                **PURCHASE_PROPERTIES,
            },
        },
        id="creative-beside-the-ad-and-the-partners-id",
    ),
    pytest.param(
        raw("purchase", last_attributed_touch_data={"~advertising_partner_name": "Meta", "~creative_name": "video_v2"}),
        {"campaign.ad": "video_v2"},  # and no "[Branch] creative" property: tests/unit/test_branch.py
        id="creative-is-the-ad-without-ad-keys",
    ),
]

AD_REVENUE_CASES: list[Any] = [
    pytest.param(
        raw("purchase", name="VIEW_AD", event_data={"revenue": 0.0125, "currency": "USD", "ad_type": "BANNER"}),
        0.0125,
        "USD",
        {"ad_format": "BANNER"},
        id="view-ad-with-revenue",
    ),
    pytest.param(
        raw("purchase", name="view_ad", event_data={"revenue": 0.02, "currency": "eur"}),
        0.02,
        "EUR",
        {},
        id="view-ad-in-the-webhooks-lower-case",
    ),
]
