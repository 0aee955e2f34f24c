"""Adjust callback adapter's tables: realistic query dicts in, normalised postbacks and Amplitude
calls out. tests/unit/test_partner_contract.py runs every row; tests/unit/test_adjust.py holds what
only Adjust has.

Fixtures in tests/fixtures/adjust/ are the query dicts a GET produces from our recommended
template (every value a string, placeholders without data left empty), plus what users commonly
add: Adjust's own `{adid}` and `{app_name}`, and the app's `user_id` callback parameter that the
Adjust SDK appends to every callback.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from postback_relay.models.postback import Campaign, Kind, Revenue
from postback_relay.partners.adjust import ADAPTER, CONVENTION, QUERY_TEMPLATE, parse
from tests.unit import partner_cases as cases
from tests.unit.partner_cases import GAID, IOS_IDFA, IOS_IDFV

CASES = cases.PartnerCases(ADAPTER)
load = CASES.load
raw = CASES.raw
calls_for = CASES.calls

FIXTURE_NAMES = ("install_ios", "install_android", "reattribution", "purchase", "organic_install", "ad_revenue")

# Fixture timestamps (epoch seconds in the callbacks) as epoch ms, computed independently.
IOS_INSTALL_MS = 1_773_480_413_000  # 2026-03-14 09:26:53 UTC
IOS_TOUCH_MS = 1_773_480_011_000  # 2026-03-14 09:20:11
ANDROID_INSTALL_MS = 1_773_475_501_000  # 2026-03-14 08:05:01
ANDROID_TOUCH_MS = 1_773_475_364_000  # 2026-03-14 08:02:44
PURCHASE_MS = 1_773_603_667_000  # 2026-03-15 19:41:07
REATTRIBUTION_MS = 1_774_029_662_000  # 2026-03-20 18:01:02
REATTRIBUTION_TOUCH_MS = 1_774_029_510_000  # 2026-03-20 17:58:30
ORIGINAL_INSTALL_MS = 1_753_179_072_000  # 2025-07-22 10:11:12
ORGANIC_INSTALL_MS = 1_773_701_109_000  # 2026-03-16 22:45:09

REATTRIBUTION_IDFV = "3F2504E0-4F89-41D3-9A0C-0305E82C3301"
APP_SET_ID = "5a1d9c3e-7b2f-4e8a-9c1d-2f3e4a5b6c7d"
ADJUST_DEVICE_ID = "7c3ea5f0b1d24a0c8f6e9d2b1a0c3e4f"  # Adjust's {adid}: never an Amplitude id

# Realistic GET callbacks: flat, every value a string, at least every template key.
GET_QUERY_FIXTURE_CASES: list[Any] = [pytest.param(load(name), set(QUERY_TEMPLATE), id=name) for name in FIXTURE_NAMES]


# --------------------------------------------------------------------------------------------
# parse(): one row per mapping rule. Each expectation is "dotted attribute path" -> value.
# --------------------------------------------------------------------------------------------

PARSE_CASES: list[Any] = [
    # Templates that name the keys after Adjust's token placeholders ({tracker}, {event}) as
    # tracker_token= / event_token= (https://help.adjust.com/en/article/server-callbacks).
    pytest.param(
        raw("purchase", drop=("tracker", "event"), tracker_token="xyz789", event_token="f8k2n1"),
        {"campaign.site_id": "xyz789", "event_name": "purchase", "event_properties": {"event_token": "f8k2n1"}},
        id="token-keys-named-tracker-token-event-token",
    ),
    # --- the fixtures, end to end -----------------------------------------------------------
    pytest.param(
        load("install_ios"),
        {
            "partner": "adjust",
            "kind": Kind.INSTALL,
            "event_name": None,
            "platform": "ios",
            "ids.idfa": IOS_IDFA,
            "ids.idfv": IOS_IDFV,
            "ids.adid": None,
            "ids.android_app_set_id": None,
            "user_id": "user-100245",
            "time_ms": IOS_INSTALL_MS,
            "install_time_ms": IOS_INSTALL_MS,
            "is_organic": False,
            "campaign": Campaign(
                media_source="Google Ads ACI",
                campaign="PB_iOS_US_Search_Brand (20611234567)",
                campaign_id="20611234567",
                adset="Brand Exact (154321098765)",
                adset_id="154321098765",
                ad="RSA_1 (698765432101)",
                ad_id="698765432101",
                site_id="abc123",
                touch_time_ms=IOS_TOUCH_MS,
            ),
            "revenue": None,
            "event_properties": {},
            "device.os_version": "17.4.1",
            "device.model": "iPhone14,5",
            "device.country": "US",  # Adjust's lower-case "us"
            "device.city": "San Francisco",
            "device.language": "en",
            "device.app_version": "4.12.0",
            "partner_event_id": None,
        },
        id="ios-install-fixture-idfa",
    ),
    pytest.param(
        load("install_android"),
        {
            "kind": Kind.INSTALL,
            "platform": "android",
            "ids.adid": GAID,  # gps_adid, NOT Adjust's own 32-hex {adid}
            "ids.android_app_set_id": APP_SET_ID,
            "ids.android_id": None,
            "ids.idfa": None,
            "user_id": None,
            "time_ms": ANDROID_INSTALL_MS,
            "campaign.media_source": "Facebook Installs",
            "campaign.campaign_id": "23851234567890123",
            "campaign.adset": "Lookalike 1% DE (23851234567890456)",
            "campaign.adset_id": "23851234567890456",
            "campaign.ad_id": "23851234567890789",
            "campaign.site_id": "xyz789",
            "campaign.touch_time_ms": ANDROID_TOUCH_MS,
            "device.country": "DE",
            "device.model": "Pixel 7",
        },
        id="android-install-fixture-gps-adid-not-adjust-adid",
    ),
    pytest.param(
        load("reattribution"),
        {
            "kind": Kind.RE_ATTRIBUTION,
            "platform": "ios",
            "ids.idfa": None,  # zeroed (ATT denied): never an id
            "ids.idfv": REATTRIBUTION_IDFV,
            "time_ms": REATTRIBUTION_MS,
            "install_time_ms": ORIGINAL_INSTALL_MS,
            "campaign.touch_time_ms": REATTRIBUTION_TOUCH_MS,
            "campaign.media_source": "Criteo",
            "campaign.campaign": "Winback_Lapsed_30d",
            "campaign.campaign_id": None,  # no "(id)" in the name
            "campaign.adset": None,
            "user_id": "user-055120",
        },
        id="ios-reattribution-zeroed-idfa-keeps-idfv",
    ),
    pytest.param(
        load("purchase"),
        {
            "kind": Kind.IN_APP_EVENT,
            "event_name": "purchase",
            "platform": "android",
            "ids.adid": GAID,
            "user_id": "user-100777",
            "time_ms": PURCHASE_MS,
            "install_time_ms": ANDROID_INSTALL_MS,
            "revenue": Revenue(amount=Decimal("9.99"), currency="EUR", amount_usd=Decimal("10.87")),
            "event_properties": {"event_token": "f8k2n1"},
        },
        id="purchase-fixture-revenue-float",
    ),
    pytest.param(
        load("organic_install"),
        {
            "kind": Kind.INSTALL,
            "is_organic": True,
            "campaign.media_source": "organic",
            "campaign.campaign": None,
            "campaign.site_id": "abc0rg",
            "campaign.touch_time_ms": None,
            "time_ms": ORGANIC_INSTALL_MS,
            "ids.adid": "38400000-8cf0-11bd-b23e-10b96e40000d",
            "device.country": "BE",
        },
        id="organic-install-fixture",
    ),
    # --- activity kinds ---------------------------------------------------------------------
    pytest.param(raw("install_android", activity_kind="reinstall"), {"kind": Kind.REINSTALL}, id="reinstall"),
    pytest.param(
        raw("reattribution", activity_kind="reattribution reinstall"),
        {"kind": Kind.RE_ATTRIBUTION},
        id="reattribution-reinstall-prose-spelling",
    ),
    pytest.param(
        raw("reattribution", activity_kind="reattribution_reinstall"),
        {"kind": Kind.RE_ATTRIBUTION},
        id="reattribution-reinstall-wire-spelling",
    ),
    pytest.param(raw("purchase", activity_kind="in-app event"), {"kind": Kind.IN_APP_EVENT}, id="in-app-event-prose"),
    pytest.param(raw("purchase", activity_kind="IN_APP_EVENT"), {"kind": Kind.IN_APP_EVENT}, id="in-app-event-upper"),
    pytest.param(
        raw("install_android", drop=("activity_kind",)), {"kind": Kind.INSTALL}, id="no-activity-kind-install"
    ),
    pytest.param(
        raw("purchase", activity_kind="{activity_kind}"),
        {"kind": Kind.IN_APP_EVENT, "event_name": "purchase"},
        id="activity-kind-macro-with-event-name-is-event",
    ),
    # --- ids --------------------------------------------------------------------------------
    pytest.param(
        raw("install_ios", idfa="{idfa}", idfv="{idfv}", user_id="{user_id}", campaign_name="{campaign_name}"),
        {
            "ids.idfa": None,
            "ids.idfv": None,
            "user_id": None,
            "campaign.campaign": "PB_iOS_US_Search_Brand (20611234567)",
        },
        id="unreplaced-macros-dropped-campaign-from-tracker-name",
    ),
    pytest.param(
        raw("install_android", gps_adid="", google_app_set_id="{google_app_set_id}"),
        {"ids.adid": None, "ids.android_app_set_id": None, "platform": "android"},
        id="android-without-gaid-never-uses-adjust-adid",
    ),
    pytest.param(
        raw("install_android", gps_adid="9C9A82FB-D5DE-4CD1-90C3-527441C11828"),
        {"ids.adid": GAID},
        id="gaid-lower-cased",
    ),
    pytest.param(
        raw("install_android", os_name="", idfa=""), {"platform": "android"}, id="platform-inferred-from-gaid"
    ),
    pytest.param(raw("install_ios", os_name="{os_name}"), {"platform": "ios"}, id="platform-inferred-from-idfa"),
    pytest.param(raw("install_ios", os_name="windows"), {"platform": None}, id="windows-no-platform"),
    # A list is no user id (a JSON body's wrong type: the query string's repeats keep their first value).
    pytest.param(raw("install_ios", user_id=["{user_id}", "user-9"]), {"user_id": None}, id="list-user-id-is-missing"),
    # --- campaign ---------------------------------------------------------------------------
    pytest.param(
        raw("install_android", network_name="", campaign_name="", adgroup_name="", creative_name=""),
        {
            "campaign.media_source": "Facebook Installs",
            "campaign.campaign": "DE_Android_AEO_Purchase (23851234567890123)",
            "campaign.campaign_id": "23851234567890123",
            "campaign.adset": "Lookalike 1% DE (23851234567890456)",
            "campaign.ad": "Video_15s_v2 (23851234567890789)",
        },
        id="campaign-from-tracker-name",
    ),
    pytest.param(
        raw(
            "install_android",
            drop=("network_name", "campaign_name", "adgroup_name", "creative_name"),
            tracker_name="Unity%3A%3AWinter%20Promo%3A%3Arewarded",
        ),
        {
            "campaign.media_source": "Unity",
            "campaign.campaign": "Winter Promo",
            "campaign.adset": "rewarded",
            "campaign.ad": None,
        },
        id="tracker-name-still-url-encoded",
    ),
    pytest.param(
        raw("install_ios", campaign_name="Summer Sale (2)", adgroup_name="Brand (copy)"),
        {"campaign.campaign_id": None, "campaign.adset_id": None, "campaign.campaign": "Summer Sale (2)"},
        id="short-parenthesised-text-is-not-an-id",
    ),
    pytest.param(
        raw("install_ios", campaign_name="Spring (0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d)"),
        {"campaign.campaign_id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"},
        id="uuid-campaign-id",
    ),
    # --- organic ----------------------------------------------------------------------------
    pytest.param(
        raw("organic_install", is_organic=""),
        {"is_organic": True, "campaign.media_source": "organic"},
        id="organic-name",
    ),
    pytest.param(
        raw("organic_install", network_name="ORGANIC", is_organic="0"), {"is_organic": True}, id="organic-any-case"
    ),
    pytest.param(
        raw("install_android", is_organic="true"),
        {"is_organic": True, "campaign.media_source": "organic"},
        id="is-organic-flag",
    ),
    pytest.param(
        raw("install_android", network_name="", tracker_name="", is_organic=""),
        {"is_organic": False, "campaign.media_source": None},
        id="no-network-is-unknown-not-organic",
    ),
    # --- revenue ----------------------------------------------------------------------------
    pytest.param(
        raw("purchase", revenue_float="", revenue="999", revenue_usd=""),
        {"revenue": Revenue(amount=Decimal("9.99"), currency="EUR")},
        id="legacy-revenue-in-cents",
    ),
    pytest.param(
        raw("purchase", revenue="999"),
        {"revenue.amount": Decimal("9.99")},
        id="revenue-float-wins-over-cents",
    ),
    pytest.param(raw("purchase", currency="eur"), {"revenue.currency": "EUR"}, id="currency-upper-cased"),
    pytest.param(
        raw("purchase", revenue_float="0", revenue_usd="0"), {"revenue": None}, id="zero-revenue-is-no-revenue"
    ),
    pytest.param(
        raw("purchase", revenue_float="{revenue_float}", revenue_usd="{revenue_usd}"),
        {"revenue": None},
        id="revenue-macros-no-revenue",
    ),
    pytest.param(raw("install_android", revenue_float="4.99"), {"revenue": None}, id="installs-carry-no-revenue"),
    pytest.param(
        raw("purchase", event_name=""),
        {"event_name": "f8k2n1", "event_properties": {}},
        id="event-token-as-name-without-event-name",
    ),
    # --- times ------------------------------------------------------------------------------
    pytest.param(
        raw("install_ios", created_at=""), {"time_ms": IOS_INSTALL_MS}, id="install-falls-back-to-installed-at"
    ),
    pytest.param(
        raw("reattribution", created_at="{created_at}"),
        {"time_ms": REATTRIBUTION_MS, "install_time_ms": ORIGINAL_INSTALL_MS},
        id="reattribution-falls-back-to-reattributed-at",
    ),
    pytest.param(
        raw("reattribution", created_at="", reattributed_at=""),
        {"time_ms": None},
        id="reattribution-never-uses-old-install-time",
    ),
    pytest.param(
        raw("purchase", created_at="12345", installed_at="yesterday"),
        {"time_ms": None, "install_time_ms": None},
        id="odd-timestamps-are-none",
    ),
    pytest.param(raw("purchase", created_at="1773603667123"), {"time_ms": 1_773_603_667_123}, id="millis-by-magnitude"),
    pytest.param(
        raw("install_ios", created_at="1773480413.25"), {"time_ms": 1_773_480_413_250}, id="fractional-seconds"
    ),
]

# Adjust drops a placeholder without data or leaves it empty: the same postback either way.
MISSING_KEYS_CASES: list[Any] = [pytest.param(load(name), id=name) for name in FIXTURE_NAMES]

# Adjust's own device id is never read (test_adjust.py: nor sent).
UNREAD_KEY_CASES: list[Any] = [
    # Unread placeholders parse alike (on the route they key a new postback: a resend is the same raw one).
    pytest.param(
        load("purchase"), raw("purchase", app_name="Other", ip_address="203.0.113.9"), id="unread-placeholders"
    ),
    pytest.param(
        load("install_android"), raw("install_android", adid="ffffffffffffffffffffffffffffffff"), id="adjust-adid"
    ),
]


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

NOT_FORWARDED = (
    "session",
    "click",
    "impression",
    "rejected_install",
    "rejected_reattribution",
    "uninstall",
    "ad_spend",
    "updated attribution",
    "att_consent_update",
    "gdpr_forget_device",
)

BAD_REQUEST_CASES: list[Any] = [
    *(
        pytest.param(raw("install_ios", activity_kind=kind), repr(kind), "activity_kind", id=f"activity-{kind}")
        for kind in NOT_FORWARDED
    ),
    pytest.param(raw("purchase", revenue_float="9,99"), "revenue_float", "revenue_float", id="revenue-comma"),
    pytest.param(raw("purchase", revenue_float="NaN"), "revenue_float", "revenue_float", id="revenue-nan"),
    pytest.param(raw("purchase", revenue_float="", revenue="abc"), "revenue", "revenue", id="cents-text"),
    pytest.param(raw("purchase", revenue_usd="ten"), "revenue_usd", "revenue_usd", id="usd-text"),
]


UNDELIVERABLE_CASES: list[Any] = [
    pytest.param(raw("install_android", gps_adid="", google_app_set_id=""), id="android-only-adjust-adid"),
    pytest.param(
        raw("install_ios", idfa="{idfa}", idfv="{idfv}", user_id=""),
        id="ios-unreplaced-macros-no-user",
    ),
    pytest.param(
        raw("reattribution", idfv="00000000-0000-0000-0000-000000000000", user_id=""),
        id="ios-zeroed-ids-no-user",
    ),
    pytest.param(raw("install_ios", os_name="windows", user_id=""), id="windows-no-user"),
    pytest.param(
        raw("purchase", gps_adid="", google_app_set_id="", user_id="", android_id="a1b2c3d4e5f60718"),
        id="in-app-event-android-id-only",
    ),
]


# --------------------------------------------------------------------------------------------
# Final Amplitude payloads
# --------------------------------------------------------------------------------------------

IOS_USER_PROPERTIES = {
    "[adjust] network": "Google Ads ACI",
    "[adjust] campaign": "PB_iOS_US_Search_Brand (20611234567)",
    "[adjust] campaign_id": "20611234567",
    "[adjust] adgroup": "Brand Exact (154321098765)",
    "[adjust] adgroup_id": "154321098765",
    "[adjust] creative": "RSA_1 (698765432101)",
    "[adjust] creative_id": "698765432101",
    "[adjust] tracker": "abc123",
    "[adjust] is_organic": False,
    "[adjust] installed_at": IOS_INSTALL_MS,
    "[adjust] engagement_time": IOS_TOUCH_MS,
}

AMPLITUDE_CASES: list[Any] = [
    pytest.param(
        load("install_ios"),
        [
            (
                "attribution",
                {
                    "event_type": "[adjust] install",
                    "platform": "ios",
                    "os_name": "ios",
                    "idfa": IOS_IDFA,
                    "idfv": IOS_IDFV,
                    "time": IOS_INSTALL_MS,
                    "country": "US",
                    "city": "San Francisco",
                    "device_model": "iPhone14,5",
                    "user_properties": IOS_USER_PROPERTIES,
                },
            ),
            (
                "identify",
                {
                    "user_id": "user-100245",
                    "user_properties": {
                        "$setOnce": {
                            "[adjust] initial_network": "Google Ads ACI",
                            "[adjust] initial_installed_at": IOS_INSTALL_MS,
                        },
                        "$set": IOS_USER_PROPERTIES,
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
                {
                    "event_type": "[adjust] install",
                    "platform": "android",
                    "adid": GAID,
                    "android_app_set_id": APP_SET_ID,
                    "time": ANDROID_INSTALL_MS,
                    "country": "DE",
                    "user_properties": {
                        "[adjust] network": "Facebook Installs",
                        "[adjust] tracker": "xyz789",
                        "[adjust] is_organic": False,
                    },
                },
            )
        ],
        id="android-install-attribution-only",
    ),
    pytest.param(
        load("reattribution"),
        [
            (
                "attribution",
                {
                    "event_type": "[adjust] reattribution",
                    "platform": "ios",
                    "idfv": REATTRIBUTION_IDFV,
                    "time": REATTRIBUTION_MS,
                    "user_properties": {
                        "[adjust] network": "Criteo",
                        "[adjust] campaign": "Winback_Lapsed_30d",
                        "[adjust] installed_at": ORIGINAL_INSTALL_MS,
                    },
                },
            ),
            ("identify", {"user_id": "user-055120"}),
        ],
        id="reattribution-idfv-only",
    ),
    pytest.param(
        load("organic_install"),
        [
            (
                "attribution",
                {
                    "event_type": "[adjust] install",
                    "adid": "38400000-8cf0-11bd-b23e-10b96e40000d",
                    "time": ORGANIC_INSTALL_MS,
                    "user_properties": {
                        "[adjust] network": "organic",
                        "[adjust] is_organic": True,
                        "[adjust] tracker": "abc0rg",
                        "[adjust] installed_at": ORGANIC_INSTALL_MS,
                    },
                },
            )
        ],
        id="organic-install",
    ),
    pytest.param(
        raw("install_android", activity_kind="reinstall"),
        [("attribution", {"event_type": "[adjust] reinstall"})],
        id="reinstall-event-type",
    ),
    pytest.param(
        load("purchase"),
        [
            (
                "httpapi",
                {
                    "event_type": "[adjust] purchase",
                    "user_id": "user-100777",
                    "device_id": GAID,
                    "platform": "android",
                    "adid": GAID,
                    "time": PURCHASE_MS,
                    "price": 9.99,
                    "revenue": 9.99,
                    "quantity": 1,
                    "currency": "EUR",
                    "revenueType": "purchase",
                    "event_properties": {
                        "event_token": "f8k2n1",
                        "[adjust] revenue usd": 10.87,
                        "[adjust] network": "Facebook Installs",
                        "[adjust] campaign_id": "23851234567890123",
                    },
                },
            )
        ],
        id="in-app-purchase-httpapi",
    ),
    pytest.param(
        raw("purchase", gps_adid="", user_id=""),
        [("httpapi", {"device_id": APP_SET_ID, "price": 9.99})],
        id="in-app-purchase-app-set-id-as-device",
    ),
    pytest.param(
        raw("install_android", gps_adid="", google_app_set_id="", user_id="user-31337"),
        [("identify", {"user_id": "user-31337"})],
        id="android-no-ids-with-user-identify-only",
    ),
]

EXACT_USER_PROPERTIES_CASES: list[Any] = [pytest.param(load("install_ios"), IOS_USER_PROPERTIES, id="install_ios")]

ZEROED_IDFA_CASES: list[Any] = [pytest.param(load("reattribution"), id="reattribution")]


# --------------------------------------------------------------------------------------------
# Resends: same callback -> same keys; a different callback -> different keys
# --------------------------------------------------------------------------------------------

DIFFERENT_EVENT_CASES: list[Any] = [
    pytest.param(load(name), raw(name, created_at="1775000000"), id=name) for name in FIXTURE_NAMES
]

SAME_EVENT_CASES: list[Any] = [
    # The token is not data: a resend with another one is the same postback.
    pytest.param(load("purchase"), raw("purchase", token="s3cr3t"), id="token"),
]


# --------------------------------------------------------------------------------------------
# Template, convention and adapter wiring
# --------------------------------------------------------------------------------------------

TEMPLATE_CASES: list[Any] = [pytest.param(QUERY_TEMPLATE, "{", "}", id="query-template")]

CONVENTION_NAMES: cases.ConventionNames = [
    ("property_name", ("media_source",), "[adjust] network"),
    ("property_name", ("install_time",), "[adjust] installed_at"),
    ("initial_property_name", ("campaign",), "[adjust] initial_campaign"),
    ("event_type", (Kind.INSTALL, None), "[adjust] install"),
    ("event_type", (Kind.RE_ATTRIBUTION, None), "[adjust] reattribution"),
    ("event_type", (Kind.IN_APP_EVENT, "purchase"), "[adjust] purchase"),
]

WIRING: dict[str, Any] = {
    "name": "adjust",
    "display_name": "Adjust",
    "method": "GET",
    "convention": CONVENTION,
    "parse": parse,
    "query_template": QUERY_TEMPLATE,
    "sample": load("install_ios"),
}


# --------------------------------------------------------------------------------------------
# Money units and ad revenue. Adjust's placeholders (https://help.adjust.com/en/article/ad-revenue-callbacks,
# the same for event callbacks): {revenue} is "in cents", {revenue_float} "in whole currency
# units", {currency} the ISO 4217 code as the SDK sent it (lower case in the example: "usd");
# {reporting_revenue} is in the app's reporting currency ({reporting_currency}).
# --------------------------------------------------------------------------------------------

PARSE_CASES += [
    pytest.param(
        raw("purchase", revenue_float="", revenue="999"),
        {"revenue": Revenue(amount=Decimal("9.99"), currency="EUR", amount_usd=Decimal("10.87"))},
        id="revenue-is-in-cents",
    ),
    pytest.param(
        raw("purchase", revenue_float="9.99", revenue="999"),
        {"revenue.amount": Decimal("9.99")},
        id="revenue-float-wins-over-cents",
    ),
    pytest.param(
        raw("purchase", revenue_usd="", revenue_usd_cents="1087"),
        {"revenue.amount_usd": Decimal("10.87")},
        id="revenue-usd-cents",
    ),
    pytest.param(
        raw("purchase", revenue_float="", currency="", reporting_revenue="10.87", reporting_currency="usd"),
        {"revenue.amount": Decimal("10.87"), "revenue.currency": "USD"},
        id="reporting-revenue-in-reporting-currency-when-nothing-else",
    ),
    pytest.param(
        load("ad_revenue"),
        {
            "kind": Kind.IN_APP_EVENT,
            "event_name": "ad_revenue",
            "revenue": Revenue(
                amount=Decimal("0.0125"), currency="EUR", amount_usd=Decimal("0.0136"), revenue_type="ad_revenue"
            ),
            "event_properties": {
                "ad_network": "Admob",
                "ad_mediation_platform": "applovin_max_sdk",
                "ad_unit": "rewarded_video",
                "ad_placement": "home_screen",
                "ad_impressions": 1,
            },
        },
        id="ad-revenue-callback",
    ),
]

AD_REVENUE_CASES: list[Any] = [
    pytest.param(
        load("ad_revenue"),
        0.0125,
        "EUR",
        {
            "ad_network": "Admob",
            "ad_unit": "rewarded_video",
            "ad_placement": "home_screen",
            "[adjust] revenue usd": 0.0136,
        },
        id="ad-revenue-fixture",
    ),
    pytest.param(
        raw("ad_revenue", revenue_float="", revenue="345", currency="usd"),
        3.45,
        "USD",
        {"ad_impressions": 1},
        id="ad-revenue-in-cents",
    ),
    pytest.param(
        raw("ad_revenue", activity_kind="Ad Revenue"),
        0.0125,
        "EUR",
        {"ad_mediation_platform": "applovin_max_sdk"},
        id="ad-revenue-activity-kind-as-written-in-prose",
    ),
    pytest.param(
        # The impression-level payload ({ad_revenue_payload}, URL-encoded JSON) holds the format.
        raw(
            "ad_revenue",
            ad_revenue_payload='{"currency":"USD","network_name":"custom_native","adunit_format":"Banner",'
            '"publisher_revenue":0.0002,"precision":"publisher_defined","country":"US"}',
        ),
        0.0125,
        "EUR",
        {"ad_format": "Banner"},
        id="ad-format-from-the-ilrd-payload",
    ),
    pytest.param(
        raw("ad_revenue", ad_revenue_payload="%7B%22adunit_format%22%3A%22Interstitial%22%7D"),
        0.0125,
        "EUR",
        {"ad_format": "Interstitial"},
        id="ilrd-payload-still-url-encoded",
    ),
]

# SKAdNetwork activities (https://help.adjust.com/en/article/skad-raw-data-export names them;
# https://help.adjust.com/en/article/skad-activity-install lists sk_install's placeholders).
NOT_FORWARDED_CASES: list[Any] = [
    pytest.param(
        {
            "activity_kind": kind,
            "sk_ts": "1773610000",
            "sk_network_id": "cstr6suwn9.skadnetwork",
            "sk_campaign_id": "12",
            "sk_transaction_id": "6aafb7a5-0170-41b5-bbe4-fe71dedf1e28",
            "sk_version": "4.0",
            "sk_redownload": "0",
            "app_name": "Paper Boat",
        },
        "SKAdNetwork",
        id=f"skan-{kind}",
    )
    for kind in ("sk_install", "sk_install_direct", "sk_event", "sk_cv_update", "sk_qualifier")
]

DIFFERENT_EVENT_CASES += [
    pytest.param(load("ad_revenue"), raw("ad_revenue", created_at="1773610001"), id="next-ad-impression"),
]

# Meta's install referrer (https://help.adjust.com/en/article/facebook-raw-data-reporting-for-android):
# Meta's own campaign for an Android install, often the real source when Adjust's network is
# "Unattributed"; sent as event properties beside Adjust's campaign, never instead of it.
META_REFERRER: dict[str, Any] = {
    "fb_install_referrer_campaign_group_name": "DE_Android_AEO",
    "fb_install_referrer_campaign_name": "DE_Android_AEO_Purchase",
    "fb_install_referrer_adgroup_name": "Lookalike 1% DE",
    "fb_install_referrer_ad_id": "23851234567890789",
    "fb_install_referrer_publisher_platform": "instagram",
}

PARSE_CASES += [
    pytest.param(
        raw("install_android", network_name="Unattributed", tracker_name="Unattributed", **META_REFERRER),
        {
            "campaign.media_source": "Unattributed",
            "event_properties": {f"[adjust] {key}": value for key, value in META_REFERRER.items()},
        },
        id="meta-install-referrer-beside-unattributed",
    ),
    pytest.param(
        raw("install_android", meta_install_referrer_campaign_name="Spring", meta_install_referrer_is_click="1"),
        {
            "event_properties": {
                "[adjust] meta_install_referrer_campaign_name": "Spring",
                "[adjust] meta_install_referrer_is_click": "1",
            }
        },
        id="meta-install-referrer-newer-spelling",
    ),
]

AMPLITUDE_CASES += [
    pytest.param(
        raw("install_android", **META_REFERRER),
        [
            (
                "attribution",
                {"event_properties": {"[adjust] fb_install_referrer_campaign_name": "DE_Android_AEO_Purchase"}},
            ),
        ],
        id="meta-install-referrer-on-the-attribution-event",
    ),
]
