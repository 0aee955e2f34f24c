"""Singular Internal BI postback adapter's tables: realistic payloads in, postbacks and Amplitude
calls out. tests/unit/test_partner_contract.py runs every row (Singular has no test of its own).

Fixtures in tests/fixtures/singular/ are flat JSON bodies as Singular POSTs them; the timestamp is
deliberately given in every accepted shape across them (datetime string, epoch seconds as int,
epoch ms as int, ISO with Z).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from postback_relay.models.postback import Campaign, Kind, Revenue
from postback_relay.partners.singular import ADAPTER, CONVENTION, parse
from tests.unit import partner_cases as cases
from tests.unit.partner_cases import GAID, IOS_IDFA, IOS_IDFV

CASES = cases.PartnerCases(ADAPTER)
load = CASES.load
raw = CASES.raw


IOS_INSTALL_MS = 1_773_480_413_000  # 2026-03-14 09:26:53 (Singular sends whole seconds here)
IOS_TOUCH_MS = 1_773_480_011_000  # 2026-03-14 09:20:11
ANDROID_INSTALL_MS = 1_773_475_501_000  # epoch seconds 1773475501
ANDROID_INSTALL_EXACT_MS = 1_773_475_501_120  # epoch ms (purchase fixture's install time)
PURCHASE_MS = 1_773_603_667_305
REENGAGEMENT_MS = 1_774_029_662_250  # 2026-03-20 18:01:02.250
REENGAGEMENT_TOUCH_MS = 1_774_029_510_000  # 2026-03-20 17:58:30
ORIGINAL_INSTALL_MS = 1_753_179_072_000  # 2025-07-22 10:11:12
ORGANIC_INSTALL_MS = 1_773_701_109_000  # 2026-03-16T22:45:09Z

REENGAGEMENT_IDFV = "3F2504E0-4F89-41D3-9A0C-0305E82C3301"
ZEROED_IDFA = "00000000-0000-0000-0000-000000000000"


PARSE_CASES: list[Any] = [
    # The app's user id under user_id, as published Singular postbacks carry it.
    pytest.param(
        raw("install_ios", drop=("custom_user_id",), user_id="u-8841"), {"user_id": "u-8841"}, id="user-id-key"
    ),
    pytest.param(
        load("install_ios"),
        {
            "partner": "singular",
            "kind": Kind.INSTALL,
            "event_name": None,
            "platform": "ios",
            "ids.idfa": IOS_IDFA,
            "ids.idfv": IOS_IDFV,
            "user_id": "user-100245",
            "time_ms": IOS_INSTALL_MS,
            "install_time_ms": IOS_INSTALL_MS,
            "is_organic": False,
            "campaign": Campaign(
                media_source="AdWords",
                channel="Search",
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
            "device.country": "US",
            "device.brand": "Apple",
            "partner_event_id": None,
        },
        id="ios-install-idfa-fixture",
    ),
    pytest.param(
        load("install_android"),
        {
            "kind": Kind.INSTALL,
            "platform": "android",
            "ids.adid": GAID,  # aifa, sent upper case
            "ids.android_app_set_id": "a1b2c3d4-0000-4000-8000-abcdef012345",  # asid
            "time_ms": ANDROID_INSTALL_MS,  # integer epoch seconds
            "campaign.media_source": "Facebook",
            "campaign.touch_type": "impression",  # is_viewthrough "1"
            "is_organic": False,
        },
        id="android-install-gaid-fixture",
    ),
    pytest.param(
        load("reengagement"),
        {
            "kind": Kind.RE_ENGAGEMENT,  # __START__ with is_reengagement 1
            "platform": "ios",
            "ids.idfa": None,
            "ids.idfv": REENGAGEMENT_IDFV,
            "time_ms": REENGAGEMENT_MS,
            "install_time_ms": ORIGINAL_INSTALL_MS,
            "campaign.touch_time_ms": REENGAGEMENT_TOUCH_MS,
            "campaign.media_source": "Criteo",
        },
        id="re-engagement-session-zeroed-idfa",
    ),
    pytest.param(
        load("organic_install"),
        {"kind": Kind.INSTALL, "is_organic": True, "campaign.media_source": "organic", "time_ms": ORGANIC_INSTALL_MS},
        id="organic-install-fixture",
    ),
    pytest.param(
        load("purchase"),
        {
            "kind": Kind.IN_APP_EVENT,
            "event_name": "__iap__",
            "user_id": "user-100777",
            "time_ms": PURCHASE_MS,
            "install_time_ms": ANDROID_INSTALL_EXACT_MS,
            "revenue": Revenue(amount=Decimal("9.99"), currency="EUR", amount_usd=Decimal("10.8741")),
            "event_properties": {"sku": "sku_gold_100", "quantity": 1, "sandbox": False},
        },
        id="iap-revenue-fixture",
    ),
    pytest.param(raw("install_ios", is_reengagement="true"), {"kind": Kind.RE_ENGAGEMENT}, id="install-reengagement"),
    pytest.param(raw("install_ios", event_name="reinstall"), {"kind": Kind.REINSTALL}, id="reinstall"),
    pytest.param(raw("install_ios", event_name="Re-engagement"), {"kind": Kind.RE_ENGAGEMENT}, id="reengagement-name"),
    pytest.param(
        raw("purchase", is_reengagement=1),
        {"kind": Kind.IN_APP_EVENT},
        id="re-engagement-in-app-event-stays-event",
    ),
    pytest.param(
        raw("purchase", event_name="tutorial_complete", revenue=None, revenue_usd=None, event_attributes=None),
        {"event_name": "tutorial_complete", "revenue": None, "event_properties": {}},
        id="event-without-revenue",
    ),
    pytest.param(
        raw("purchase", revenue=None, amount=4.99, currency="usd", revenue_usd=None),
        {"revenue": Revenue(amount=Decimal("4.99"), currency="USD")},
        id="amount-fallback",
    ),
    pytest.param(
        raw("install_ios", network="Organic", is_organic=0), {"is_organic": True}, id="network-organic-is-organic"
    ),
    pytest.param(raw("install_ios", drop=("network",)), {"is_organic": True}, id="no-network-is-organic"),
    pytest.param(
        raw(
            "install_ios",
            drop=("campaign_name", "sub_campaign_name"),
            tracker_campaign_name="Tracker Campaign",
            tracker_sub_campaign_name="Tracker Sub",
        ),
        {"campaign.campaign": "Tracker Campaign", "campaign.adset": "Tracker Sub"},
        id="tracker-field-names",
    ),
    pytest.param(
        raw("install_ios", idfa="{IDFA}", custom_user_id="", campaign_name="{CID}"),
        {"ids.idfa": None, "user_id": None, "campaign.campaign": None},
        id="unreplaced-macros-dropped",
    ),
    pytest.param(raw("install_ios", platform="Web"), {"platform": None}, id="web-platform-is-none"),
    pytest.param(raw("install_ios", drop=("platform",), idfa=None), {"platform": "ios"}, id="platform-from-idfv"),
    pytest.param(
        raw("install_ios", event_utc_timestamp="soon", install_utc_timestamp=None),
        {"time_ms": None},
        id="odd-timestamp-is-none",
    ),
    pytest.param(
        raw("purchase", event_utc_timestamp="1773603667"), {"time_ms": 1_773_603_667_000}, id="string-seconds"
    ),
    pytest.param(raw("install_ios", event_id="sg-1"), {"partner_event_id": "sg-1"}, id="event-id-when-sent"),
    pytest.param(
        raw("purchase", event_name="__LEVEL_UP__"),
        {"kind": Kind.IN_APP_EVENT, "event_name": "__LEVEL_UP__"},
        id="dunder-event-name-is-a-name-not-a-macro",
    ),
]


BAD_REQUEST_CASES: list[Any] = [
    pytest.param(raw("reengagement", is_reengagement=0), "session", "event_name", id="plain-session"),
    pytest.param(raw("install_ios", event_name="uninstall"), "not forwarded", "event_name", id="uninstall"),
    pytest.param(raw("install_ios", event_name="{EVTNAME}"), "no event_name", "event_name", id="macro-event-name"),
    pytest.param(raw("install_ios", drop=("event_name",)), "no event_name", "event_name", id="no-event-name"),
    pytest.param(raw("purchase", revenue="9,99"), "not a number", "revenue", id="revenue-comma"),
]


UNDELIVERABLE_CASES: list[Any] = [
    pytest.param(raw("install_ios", idfa=ZEROED_IDFA, idfv="{IDFV}", custom_user_id=None), id="ios-no-usable-ids"),
    pytest.param(raw("install_android", aifa="", asid=None, android_id="d1e2f3a4b5c6d7e8"), id="android-id-only"),
    pytest.param(raw("purchase", aifa=None, custom_user_id="null"), id="purchase-no-ids"),
]


AMPLITUDE_CASES: list[Any] = [
    pytest.param(
        load("install_ios"),
        [
            (
                "attribution",
                {
                    "event_type": "[Singular] Install",
                    "platform": "ios",
                    "idfa": IOS_IDFA,
                    "idfv": IOS_IDFV,
                    "time": IOS_INSTALL_MS,
                    "user_properties": {
                        "[Singular] network": "AdWords",
                        "[Singular] campaign": "PB_iOS_US_Search_Brand",
                        "[Singular] sub campaign": "Brand Exact",
                        "[Singular] creative": "RSA_1",
                        "[Singular] is organic": False,
                        "[Singular] install time": IOS_INSTALL_MS,
                    },
                },
            ),
            (
                "identify",
                {"user_id": "user-100245", "user_properties": {"$setOnce": {"[Singular] initial network": "AdWords"}}},
            ),
        ],
        id="ios-install",
    ),
    pytest.param(
        load("install_android"),
        [
            (
                "attribution",
                {
                    "event_type": "[Singular] Install",
                    "platform": "android",
                    "adid": GAID,
                    "android_app_set_id": "a1b2c3d4-0000-4000-8000-abcdef012345",
                    "time": ANDROID_INSTALL_MS,
                },
            )
        ],
        id="android-install",
    ),
    pytest.param(
        load("reengagement"),
        [
            (
                "attribution",
                {"event_type": "[Singular] Re-engagement", "idfv": REENGAGEMENT_IDFV, "time": REENGAGEMENT_MS},
            ),
            ("identify", {"user_id": "user-055120"}),
        ],
        id="re-engagement",
    ),
    pytest.param(
        load("organic_install"),
        [("attribution", {"user_properties": {"[Singular] network": "organic", "[Singular] is organic": True}})],
        id="organic-install",
    ),
    pytest.param(
        load("purchase"),
        [
            (
                "httpapi",
                {
                    "event_type": "[Singular] __iap__",
                    "user_id": "user-100777",
                    "device_id": GAID,
                    "time": PURCHASE_MS,
                    "revenue": 9.99,
                    "currency": "EUR",
                    "event_properties": {"[Singular] revenue usd": 10.8741, "sku": "sku_gold_100"},
                },
            )
        ],
        id="purchase",
    ),
]

DIFFERENT_EVENT_CASES: list[Any] = [
    pytest.param(load("purchase"), raw("purchase", event_utc_timestamp=PURCHASE_MS + 1000), id="another-event-time"),
]

WIRING: dict[str, Any] = {
    "name": "singular",
    "display_name": "Singular",
    "method": "POST",
    "convention": CONVENTION,
    "parse": parse,
    "query_template": None,
    "sample": load("install_ios"),
}


# --------------------------------------------------------------------------------------------
# Money and ad revenue. Singular's revenue is in whole units of its currency (its S2S API's `amt`
# and `cur`, https://support.singular.net/hc/en-us/articles/360048588672); impression-level ad
# revenue is the event __ADMON_USER_LEVEL_REVENUE__ (https://support.singular.net/hc/en-us/articles/4409886379163),
# its ad in the keys of the SDKs' SingularAdData [U: which of them an Internal BI postback carries].
# --------------------------------------------------------------------------------------------

AD_REVENUE: dict[str, Any] = raw(
    "purchase",
    drop=("revenue_usd",),
    event_name="__ADMON_USER_LEVEL_REVENUE__",
    revenue=0.0125,
    currency="USD",
    event_attributes={
        "ad_platform": "AppLovin",
        "ad_network_name": "AdMob",
        "ad_unit_id": "89b8c0159a50ebd1",
        "ad_placement_name": "level_complete",
        "ad_type": "Rewarded",
        "is_admon_revenue": True,
    },
)

AD_REVENUE_CASES: list[Any] = [
    pytest.param(
        AD_REVENUE,
        0.0125,
        "USD",
        {
            "ad_network": "AdMob",
            "ad_mediation_platform": "AppLovin",
            "ad_unit": "89b8c0159a50ebd1",
            "ad_placement": "level_complete",
            "ad_format": "Rewarded",
            "is_admon_revenue": True,
        },
        id="admon-user-level-revenue",
    ),
]

PARSE_CASES += [
    pytest.param(
        raw("purchase", revenue=9.99, revenue_usd=10.8741),
        {"revenue": Revenue(amount=Decimal("9.99"), currency="EUR", amount_usd=Decimal("10.8741"))},
        id="revenue-as-json-numbers-in-whole-units",
    ),
    pytest.param(
        AD_REVENUE,
        {"event_name": "__ADMON_USER_LEVEL_REVENUE__", "revenue.revenue_type": "ad_revenue"},
        id="ad-revenue-event",
    ),
]
