"""AppsFlyer Push API adapter's tables: realistic payloads in, normalised postbacks and Amplitude
calls out. tests/unit/test_partner_contract.py runs every row; tests/unit/test_appsflyer.py holds
what only AppsFlyer has.

Fixtures in tests/fixtures/appsflyer/ are full Push API V2.0 messages (every key present, most
null, `event_value` a JSON string), as AppsFlyer POSTs them.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from postback_relay.models.postback import Campaign, Kind, Revenue
from postback_relay.partners.appsflyer import ADAPTER, CONVENTION, parse
from tests.unit import partner_cases as cases
from tests.unit.partner_cases import GAID, IOS_IDFA, IOS_IDFV

CASES = cases.PartnerCases(ADAPTER)
load = CASES.load
raw = CASES.raw
calls_for = CASES.calls

FIXTURE_NAMES = ("install_ios", "install_android", "inapp_purchase", "reengagement", "organic_install", "ad_revenue")

# Epoch ms of the fixture timestamps (UTC), computed independently of the adapter.
IOS_INSTALL_MS = 1_773_480_413_589  # 2026-03-14 09:26:53.589
IOS_TOUCH_MS = 1_773_480_011_000  # 2026-03-14 09:20:11.000
ANDROID_INSTALL_MS = 1_773_475_501_120  # 2026-03-14 08:05:01.120
ANDROID_TOUCH_MS = 1_773_475_364_000  # 2026-03-14 08:02:44.000
PURCHASE_MS = 1_773_603_667_305  # 2026-03-15 19:41:07.305
REENGAGEMENT_MS = 1_774_029_662_250  # 2026-03-20 18:01:02.250
REENGAGEMENT_TOUCH_MS = 1_774_029_510_000  # 2026-03-20 17:58:30.000
ORIGINAL_INSTALL_MS = 1_753_179_072_000  # 2025-07-22 10:11:12.000
ORGANIC_INSTALL_MS = 1_773_701_109_014  # 2026-03-16 22:45:09.014


# --------------------------------------------------------------------------------------------
# parse(): one row per mapping rule. Each expectation is "dotted attribute path" -> value.
# --------------------------------------------------------------------------------------------

PARSE_CASES: list[Any] = [
    # --- the fixtures, end to end -----------------------------------------------------------
    pytest.param(
        load("install_ios"),
        {
            "partner": "appsflyer",
            "kind": Kind.INSTALL,
            "event_name": None,
            "platform": "ios",
            "ids.idfa": IOS_IDFA,
            "ids.idfv": IOS_IDFV,
            "ids.adid": None,
            "ids.android_id": None,
            "user_id": "user-100245",
            "time_ms": IOS_INSTALL_MS,
            "install_time_ms": IOS_INSTALL_MS,
            "is_organic": False,
            "campaign": Campaign(
                media_source="googleadwords_int",
                channel="ACI_Search",
                campaign="PB_iOS_US_Search_Brand",
                campaign_id="20611234567",
                adset="Brand Exact",
                adset_id="154321098765",
                ad="RSA_1",
                ad_id="698765432101",
                site_id="google_search",
                keywords="paper boat app",
                agency="acme_agency",
                touch_type="click",
                touch_time_ms=IOS_TOUCH_MS,
            ),
            "revenue": None,
            "event_properties": {},
            "device.os_version": "17.4.1",
            "device.model": "iPhone14,5",
            "device.carrier": "T-Mobile",
            "device.country": "US",
            "device.region": "CA",
            "device.city": "San Francisco",
            "device.language": "en-US",
            "device.app_version": "4.12.0",
            "partner_event_id": None,
        },
        id="ios-install-fixture",
    ),
    pytest.param(
        load("install_android"),
        {
            "kind": Kind.INSTALL,
            "platform": "android",
            "ids.adid": GAID,  # sent upper case, Android reports it lower case
            "ids.android_id": "d1e2f3a4b5c6d7e8",
            "ids.idfa": None,
            "user_id": None,
            "time_ms": ANDROID_INSTALL_MS,
            "campaign.media_source": "Facebook Ads",
            "campaign.channel": "Instagram",
            "campaign.touch_type": "impression",
            "campaign.touch_time_ms": ANDROID_TOUCH_MS,
            "campaign.site_id": None,
            "is_organic": False,
            "device.country": "DE",  # "de" upper-cased
            "device.region": "BE",  # from `state`; AppsFlyer's `region` is the continent ("EU")
            "device.model": "Pixel 7",
            "device.carrier": "Telekom.de",
        },
        id="android-install-fixture-gaid",
    ),
    pytest.param(
        load("reengagement"),
        {
            "kind": Kind.RE_ENGAGEMENT,
            "platform": "ios",
            "ids.idfa": None,  # zeroed (ATT denied): never an id
            "ids.idfv": "3F2504E0-4F89-41D3-9A0C-0305E82C3301",
            "time_ms": REENGAGEMENT_MS,
            "install_time_ms": ORIGINAL_INSTALL_MS,
            "campaign.touch_time_ms": REENGAGEMENT_TOUCH_MS,
            "campaign.media_source": "criteo_int",
            "campaign.channel": None,
        },
        id="ios-reengagement-zeroed-idfa-keeps-idfv",
    ),
    pytest.param(
        load("organic_install"),
        {
            "kind": Kind.INSTALL,
            "is_organic": True,
            "campaign.media_source": "organic",
            "campaign.campaign": None,
            "campaign.touch_time_ms": None,
            "time_ms": ORGANIC_INSTALL_MS,
            "device.region": "BE",
        },
        id="organic-install-fixture",
    ),
    pytest.param(
        load("inapp_purchase"),
        {
            "kind": Kind.IN_APP_EVENT,
            "event_name": "af_purchase",
            "platform": "android",
            "ids.adid": GAID,
            "user_id": "user-100777",
            "time_ms": PURCHASE_MS,
            "install_time_ms": ANDROID_INSTALL_MS,
            "revenue": Revenue(amount=Decimal("9.99"), currency="EUR", amount_usd=Decimal("10.8741")),
            # scalars only: the af_content_list array and the null af_receipt are left out
            "event_properties": {
                "af_revenue": "9.99",
                "af_currency": "EUR",
                "af_content_id": "sku_gold_100",
                "af_content_type": "coins",
                "af_quantity": 1,
                "af_order_id": "GPA.3345-1122-9988-77665",
            },
        },
        id="inapp-purchase-fixture-revenue-and-event-value",
    ),
    # --- ids and platform -------------------------------------------------------------------
    pytest.param(
        raw("install_ios", idfa=IOS_IDFA.lower(), idfv=IOS_IDFV.lower()),
        {"ids.idfa": IOS_IDFA, "ids.idfv": IOS_IDFV},
        id="ios-ids-upper-cased",
    ),
    pytest.param(
        raw("install_android", advertising_id=None),
        {"platform": "android", "ids.adid": None, "ids.android_id": "d1e2f3a4b5c6d7e8"},
        id="android-id-only-is-never-adid",
    ),
    pytest.param(
        raw(
            "install_android",
            advertising_id=None,
            android_id=None,
            amazon_aid="B1C2D3E4-F5A6-4B7C-8D9E-0F1A2B3C4D5E",
            device_model="KFTRWI",
            device_type="Fire HD 8",
        ),
        {"platform": "android", "ids.adid": "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e", "device.model": "KFTRWI"},
        id="amazon-fire-aid-is-adid",
    ),
    pytest.param(
        raw("install_android", amazon_aid="b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"),
        {"ids.adid": GAID},
        id="gaid-wins-over-amazon-aid",
    ),
    pytest.param(
        raw("install_android", app_set_id="A1B2C3D4-0000-4000-8000-ABCDEF012345"),
        {"ids.android_app_set_id": "a1b2c3d4-0000-4000-8000-abcdef012345"},
        id="app-set-id-when-sent",
    ),
    pytest.param(
        raw("install_ios", drop=("platform",), idfa=None),
        {"platform": "ios"},
        id="platform-inferred-ios-from-idfv",
    ),
    pytest.param(
        raw("install_android", platform=None),
        {"platform": "android"},
        id="platform-inferred-android-from-gaid",
    ),
    pytest.param(
        raw("install_android", platform="null", advertising_id=None),
        {"platform": "android", "ids.adid": None},
        id="platform-inferred-android-from-android-id",
    ),
    pytest.param(raw("install_ios", platform="iOS"), {"platform": "ios"}, id="platform-case-insensitive"),
    # Apple's other platforms, as AppsFlyer names them in published Push API messages ("ipados",
    # "tvos") and as Apple names the rest: each carries the IDFA/IDFV and is Amplitude's "ios"
    # (https://developer.apple.com/documentation/adsupport/asidentifiermanager).
    *[
        pytest.param(
            raw("install_ios", platform=apple),
            {"platform": "ios", "ids.idfa": IOS_IDFA, "ids.idfv": IOS_IDFV},
            id=f"platform-{apple}-is-ios",
        )
        for apple in ("ipados", "tvOS", "macos", "visionos", "watchos")
    ],
    pytest.param(
        raw("install_ios", platform="windowsphone"),
        {"platform": None, "ids.idfa": IOS_IDFA},
        id="platform-windowsphone-is-none",
    ),
    pytest.param(
        raw("install_ios", drop=("platform",), advertising_id=GAID),
        {"platform": None},
        id="platform-ambiguous-ids-is-none",
    ),
    pytest.param(
        raw("install_ios", customer_user_id="  user-100245  "),
        {"user_id": "user-100245"},
        id="customer-user-id-trimmed",
    ),
    pytest.param(raw("install_ios", customer_user_id="0"), {"user_id": None}, id="customer-user-id-zero-dropped"),
    pytest.param(
        raw("install_ios", appsflyer_id="1710408413589-4567891", idfa=None, idfv=None),
        {"ids.idfa": None, "ids.idfv": None, "ids.adid": None, "ids.android_id": None},
        id="appsflyer-id-is-not-an-amplitude-id",
    ),
    # --- kind -------------------------------------------------------------------------------
    pytest.param(raw("install_ios", event_type="re-attribution"), {"kind": Kind.RE_ATTRIBUTION}, id="re-attribution"),
    pytest.param(raw("install_ios", event_type="reinstall"), {"kind": Kind.REINSTALL}, id="reinstall"),
    pytest.param(
        raw("install_ios", event_type="Organic_Reinstall"), {"kind": Kind.REINSTALL}, id="organic-reinstall-any-case"
    ),
    pytest.param(raw("install_ios", event_type="organic-install"), {"kind": Kind.INSTALL}, id="organic-install"),
    pytest.param(
        raw("install_ios", event_type="RE_ENGAGEMENT"), {"kind": Kind.RE_ENGAGEMENT}, id="re-engagement-upper"
    ),
    pytest.param(
        raw("inapp_purchase", event_type="in-app-event"), {"kind": Kind.IN_APP_EVENT}, id="in-app-event-plain"
    ),
    pytest.param(
        raw("inapp_purchase", event_type="re-engagement-in-app-event", is_retargeting=True),
        {"kind": Kind.IN_APP_EVENT, "event_name": "af_purchase"},
        id="retargeting-in-app-event-stays-event",
    ),
    pytest.param(
        raw("inapp_purchase", event_type="organic_install_in_app_event"),
        {"kind": Kind.IN_APP_EVENT},
        id="organic-install-in-app-event-underscores",
    ),
    pytest.param(
        raw("install_ios", drop=("event_type",), is_retargeting=True),
        {"kind": Kind.RE_ENGAGEMENT},
        id="is-retargeting-defaults-to-re-engagement",
    ),
    pytest.param(
        raw("install_ios", drop=("event_type",), is_retargeting="True", retargeting_conversion_type="re-attribution"),
        {"kind": Kind.RE_ATTRIBUTION},
        id="is-retargeting-re-attribution",
    ),
    pytest.param(
        raw("install_ios", is_retargeting=1, retargeting_conversion_type="re-engagement"),
        {"kind": Kind.RE_ENGAGEMENT},
        id="install-with-is-retargeting-1-is-re-engagement",
    ),
    pytest.param(
        raw("install_ios", is_retargeting="false", retargeting_conversion_type="re-attribution"),
        {"kind": Kind.INSTALL},
        id="is-retargeting-false-stays-install",
    ),
    pytest.param(
        raw("install_ios", drop=("event_type",), event_name="install"),
        {"kind": Kind.INSTALL, "event_name": None},
        id="no-event-type-event-name-install",
    ),
    pytest.param(
        raw("install_ios", drop=("event_type",), event_name="af_login"),
        {"kind": Kind.IN_APP_EVENT, "event_name": "af_login"},
        id="no-event-type-other-event-name-is-in-app",
    ),
    # --- organic ----------------------------------------------------------------------------
    pytest.param(
        raw("install_ios", media_source="Organic"),
        {"is_organic": True, "campaign.media_source": "organic"},
        id="organic-any-case",
    ),
    pytest.param(
        raw("install_ios", drop=("media_source",)),
        {"is_organic": True, "campaign.media_source": "organic", "campaign.campaign": "PB_iOS_US_Search_Brand"},
        id="organic-when-media-source-missing",
    ),
    pytest.param(
        raw("install_ios", media_source=""),
        {"is_organic": True, "campaign.media_source": "organic"},
        id="organic-when-media-source-empty",
    ),
    # --- revenue ----------------------------------------------------------------------------
    pytest.param(
        raw("inapp_purchase", event_name="level_up", event_revenue=None, event_revenue_usd=None, event_value="{}"),
        {"kind": Kind.IN_APP_EVENT, "event_name": "level_up", "revenue": None, "event_properties": {}},
        id="in-app-event-without-revenue",
    ),
    pytest.param(
        raw("inapp_purchase", event_revenue="0", event_revenue_usd="0"),
        {"revenue": None},
        id="zero-revenue-is-no-revenue",
    ),
    pytest.param(
        raw("inapp_purchase", event_revenue=4.99, event_revenue_currency="usd", event_revenue_usd=4.99),
        {"revenue": Revenue(amount=Decimal("4.99"), currency="USD", amount_usd=Decimal("4.99"))},
        id="numeric-revenue-and-lower-case-currency",
    ),
    pytest.param(
        raw("inapp_purchase", event_revenue="-9.99", event_revenue_usd="-10.8741"),
        {"revenue": Revenue(amount=Decimal("-9.99"), currency="EUR", amount_usd=Decimal("-10.8741"))},
        id="negative-revenue-refund-kept",
    ),
    pytest.param(
        raw("inapp_purchase", event_revenue=None, event_revenue_usd="10.8741"),
        {"revenue": Revenue(amount=Decimal("10.8741"), currency="USD", amount_usd=Decimal("10.8741"))},
        id="usd-only-revenue",
    ),
    pytest.param(
        raw("install_ios", event_revenue="5.00", event_value='{"af_revenue":"5.00"}'),
        {"revenue": None, "event_properties": {}},
        id="installs-carry-no-revenue-or-event-value",
    ),
    # --- event_value ------------------------------------------------------------------------
    pytest.param(
        raw("inapp_purchase", event_value={"af_level": 7, "af_success": True, "af_score": 12.5, "nested": {"a": 1}}),
        {"event_properties": {"af_level": 7, "af_success": True, "af_score": 12.5}},
        id="event-value-already-object",
    ),
    pytest.param(
        raw("inapp_purchase", event_value='{"af_revenue": "9.99",'),
        {"event_properties": {}, "revenue.amount": Decimal("9.99")},
        id="event-value-bad-json-ignored",
    ),
    pytest.param(raw("inapp_purchase", event_value='["a", "b"]'), {"event_properties": {}}, id="event-value-array"),
    pytest.param(
        raw("inapp_purchase", event_value='{"ok": 1, "bad": NaN, "worse": Infinity}'),
        {"event_properties": {"ok": 1}},
        id="event-value-non-finite-floats-dropped",
    ),
    pytest.param(
        raw("inapp_purchase", event_value=json.dumps({"k" * 150: "v" * 2000})),
        {"event_properties": {"k" * 100: "v" * 1024}},
        id="event-value-key-and-value-truncated",
    ),
    pytest.param(
        raw("inapp_purchase", event_value=json.dumps({f"p{i:02d}": i for i in range(80)})),
        {"event_properties": {f"p{i:02d}": i for i in range(50)}},
        id="event-value-at-most-50-properties",
    ),
    # --- macros and "null" strings ----------------------------------------------------------
    pytest.param(
        raw(
            "install_ios",
            idfa="{idfa}",
            idfv="${(idfv)!}",
            customer_user_id="null",
            campaign="{campaign}",
            af_adset="%7Baf_adset%7D",
            af_channel="null",
            os_version="{{os_version}}",
        ),
        {
            "ids.idfa": None,
            "ids.idfv": None,
            "user_id": None,
            "campaign.campaign": None,
            "campaign.adset": None,
            "campaign.channel": None,
            "device.os_version": None,
        },
        id="ios-macros-and-null-strings-dropped",
    ),
    pytest.param(
        raw("install_android", advertising_id="{{advertising_id}}", android_id="null", amazon_aid=""),
        {"ids.adid": None, "ids.android_id": None},
        id="android-macros-dropped",
    ),
    # --- device fallbacks -------------------------------------------------------------------
    pytest.param(
        raw("install_android", device_model=None, carrier="", state=None, dma="None"),
        {"device.model": "Pixel 7", "device.carrier": "Telekom.de", "device.region": None},
        id="device-type-operator-fallbacks-region-is-not-state",
    ),
    pytest.param(raw("install_android", city="x" * 2000), {"device.city": "x" * 1024}, id="long-text-capped-at-1024"),
    # --- times ------------------------------------------------------------------------------
    pytest.param(
        raw("install_ios", drop=("event_time",), event_time_selected_timezone="2026-03-14 14:56:53.589+0530"),
        {"time_ms": IOS_INSTALL_MS},
        id="selected-timezone-offset-fallback",
    ),
    pytest.param(
        raw("install_ios", event_time=None, install_time="2026-03-14 09:26:53.589"),
        {"time_ms": IOS_INSTALL_MS},
        id="install-falls-back-to-install-time",
    ),
    pytest.param(
        raw("inapp_purchase", event_time="not-a-date", event_time_selected_timezone=None),
        {"time_ms": None, "install_time_ms": ANDROID_INSTALL_MS},
        id="unreadable-event-time-is-none",
    ),
    pytest.param(
        raw(
            "install_ios",
            event_time="not-a-date",
            event_time_selected_timezone=None,
            install_time=None,
            install_time_selected_timezone=None,
        ),
        {"time_ms": None, "install_time_ms": None},
        id="install-without-any-readable-time",
    ),
    pytest.param(
        raw("reengagement", event_time=None, event_time_selected_timezone=None),
        {"time_ms": None, "install_time_ms": ORIGINAL_INSTALL_MS},
        id="re-engagement-never-uses-old-install-time",
    ),
    pytest.param(
        raw("install_ios", event_time="1773480413"), {"time_ms": 1_773_480_413_000}, id="epoch-seconds-string"
    ),
    # --- misc -------------------------------------------------------------------------------
    pytest.param(raw("install_ios", event_id="evt-42"), {"partner_event_id": "evt-42"}, id="event-id-when-sent"),
    pytest.param(raw("install_ios", af_event_id="{event_id}"), {"partner_event_id": None}, id="event-id-macro-dropped"),
]


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

BAD_REQUEST_CASES: list[Any] = [
    pytest.param(raw("install_ios", event_type="uninstall"), "'uninstall'", "event_type", id="unknown-event-type"),
    pytest.param(raw("install_ios", event_type="re-download"), "'re-download'", "event_type", id="skan-event-type"),
    # Nothing says what happened: refused, not guessed to be an install. Push API messages carry
    # event_name ("install" for installs): https://support.appsflyer.com/hc/en-us/articles/207034356
    pytest.param(
        raw("install_ios", drop=("event_type", "event_name")),
        "neither event_type nor event_name",
        "event_type",
        id="no-event-type-no-name",
    ),
    pytest.param(raw("inapp_purchase", event_revenue="9,99"), "event_revenue", "event_revenue", id="revenue-comma"),
    pytest.param(raw("inapp_purchase", event_revenue="abc"), "event_revenue", "event_revenue", id="revenue-text"),
    pytest.param(raw("inapp_purchase", event_revenue="NaN"), "event_revenue", "event_revenue", id="revenue-nan"),
    pytest.param(raw("inapp_purchase", event_revenue=True), "event_revenue", "event_revenue", id="revenue-bool"),
    pytest.param(
        raw("inapp_purchase", event_revenue_usd="ten"), "event_revenue_usd", "event_revenue_usd", id="usd-text"
    ),
]


UNDELIVERABLE_CASES: list[Any] = [
    pytest.param(raw("install_android", advertising_id=None), id="android-id-only-without-user"),
    pytest.param(raw("install_ios", idfa=None, idfv=None, customer_user_id=None), id="ios-no-ids-no-user"),
    pytest.param(
        raw("install_ios", idfa="00000000-0000-0000-0000-000000000000", idfv="{idfv}", customer_user_id="null"),
        id="ios-zeroed-and-macro-ids-no-user",
    ),
    pytest.param(raw("install_ios", platform="windowsphone", customer_user_id=None), id="windowsphone-no-user"),
    pytest.param(
        raw("inapp_purchase", advertising_id=None, android_id="d1e2f3a4b5c6d7e8", customer_user_id=None),
        id="in-app-event-no-device-no-user",
    ),
]


# --------------------------------------------------------------------------------------------
# Final Amplitude payloads
# --------------------------------------------------------------------------------------------

AMPLITUDE_CASES: list[Any] = [
    # An iPadOS install without a user id: the Attribution call with its Apple ids (it was an
    # Identify alone, and without the user id a 422 although both ids were there).
    pytest.param(
        raw("install_ios", platform="ipados", customer_user_id=None),
        [("attribution", {"event_type": "[AppsFlyer] Install", "platform": "ios", "idfa": IOS_IDFA, "idfv": IOS_IDFV})],
        id="ipados-install-attributed",
    ),
    pytest.param(
        load("install_ios"),
        [
            (
                "attribution",
                {
                    "event_type": "[AppsFlyer] Install",
                    "platform": "ios",
                    "os_name": "ios",
                    "idfa": IOS_IDFA,
                    "idfv": IOS_IDFV,
                    "time": IOS_INSTALL_MS,
                    "country": "US",
                    "device_model": "iPhone14,5",
                    "user_properties": {
                        "[AppsFlyer] media source": "googleadwords_int",
                        "[AppsFlyer] channel": "ACI_Search",
                        "[AppsFlyer] campaign": "PB_iOS_US_Search_Brand",
                        "[AppsFlyer] campaign id": "20611234567",
                        "[AppsFlyer] adset": "Brand Exact",
                        "[AppsFlyer] adset id": "154321098765",
                        "[AppsFlyer] ad": "RSA_1",
                        "[AppsFlyer] ad id": "698765432101",
                        "[AppsFlyer] site id": "google_search",
                        "[AppsFlyer] keywords": "paper boat app",
                        "[AppsFlyer] agency": "acme_agency",
                        "[AppsFlyer] touch type": "click",
                        "[AppsFlyer] is organic": False,
                        "[AppsFlyer] attributed touch time": IOS_TOUCH_MS,
                        "[AppsFlyer] install time": IOS_INSTALL_MS,
                    },
                },
            ),
            (
                "identify",
                {
                    "user_id": "user-100245",
                    "user_properties": {
                        "$setOnce": {
                            "[AppsFlyer] initial media source": "googleadwords_int",
                            "[AppsFlyer] initial channel": "ACI_Search",
                            "[AppsFlyer] initial campaign": "PB_iOS_US_Search_Brand",
                            "[AppsFlyer] initial campaign id": "20611234567",
                            "[AppsFlyer] initial adset": "Brand Exact",
                            "[AppsFlyer] initial adset id": "154321098765",
                            "[AppsFlyer] initial ad": "RSA_1",
                            "[AppsFlyer] initial ad id": "698765432101",
                            "[AppsFlyer] initial site id": "google_search",
                            "[AppsFlyer] initial keywords": "paper boat app",
                            "[AppsFlyer] initial agency": "acme_agency",
                            "[AppsFlyer] initial touch type": "click",
                            "[AppsFlyer] initial is organic": False,
                            "[AppsFlyer] initial attributed touch time": IOS_TOUCH_MS,
                            "[AppsFlyer] initial install time": IOS_INSTALL_MS,
                        },
                        "$set": {
                            "[AppsFlyer] media source": "googleadwords_int",
                            "[AppsFlyer] channel": "ACI_Search",
                            "[AppsFlyer] campaign": "PB_iOS_US_Search_Brand",
                            "[AppsFlyer] campaign id": "20611234567",
                            "[AppsFlyer] adset": "Brand Exact",
                            "[AppsFlyer] adset id": "154321098765",
                            "[AppsFlyer] ad": "RSA_1",
                            "[AppsFlyer] ad id": "698765432101",
                            "[AppsFlyer] site id": "google_search",
                            "[AppsFlyer] keywords": "paper boat app",
                            "[AppsFlyer] agency": "acme_agency",
                            "[AppsFlyer] touch type": "click",
                            "[AppsFlyer] is organic": False,
                            "[AppsFlyer] attributed touch time": IOS_TOUCH_MS,
                            "[AppsFlyer] install time": IOS_INSTALL_MS,
                        },
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
                    "event_type": "[AppsFlyer] Install",
                    "platform": "android",
                    "adid": GAID,
                    "android_id": "d1e2f3a4b5c6d7e8",
                    "time": ANDROID_INSTALL_MS,
                    "country": "DE",
                    "region": "BE",
                    "carrier": "Telekom.de",
                },
            )
        ],
        id="android-install-attribution-only",
    ),
    pytest.param(
        load("organic_install"),
        [
            (
                "attribution",
                {
                    "event_type": "[AppsFlyer] Install",
                    "adid": "38400000-8cf0-11bd-b23e-10b96e40000d",
                    "user_properties": {
                        "[AppsFlyer] media source": "organic",
                        "[AppsFlyer] is organic": True,
                        "[AppsFlyer] install time": ORGANIC_INSTALL_MS,
                    },
                },
            )
        ],
        id="organic-install",
    ),
    pytest.param(
        load("reengagement"),
        [
            (
                "attribution",
                {
                    "event_type": "[AppsFlyer] Re-engagement",
                    "platform": "ios",
                    "idfv": "3F2504E0-4F89-41D3-9A0C-0305E82C3301",
                    "time": REENGAGEMENT_MS,
                },
            ),
            ("identify", {"user_id": "user-055120"}),
        ],
        id="re-engagement-idfv-only",
    ),
    pytest.param(
        raw("install_android", event_type="re-attribution"),
        [("attribution", {"event_type": "[AppsFlyer] Re-attribution"})],
        id="re-attribution-event-type",
    ),
    pytest.param(
        raw("install_android", event_type="reinstall"),
        [("attribution", {"event_type": "[AppsFlyer] Reinstall"})],
        id="reinstall-event-type",
    ),
    pytest.param(
        load("inapp_purchase"),
        [
            (
                "httpapi",
                {
                    "event_type": "[AppsFlyer] af_purchase",
                    "user_id": "user-100777",
                    "device_id": GAID,
                    "platform": "android",
                    "adid": GAID,
                    "time": PURCHASE_MS,
                    "price": 9.99,
                    "revenue": 9.99,
                    "quantity": 1,
                    "currency": "EUR",
                    "revenueType": "af_purchase",
                    "app_version": "4.12.0",
                },
            )
        ],
        id="in-app-purchase-httpapi-revenue",
    ),
    pytest.param(
        raw("install_ios", idfa=None, idfv=None),
        [
            (
                "identify",
                {
                    "user_id": "user-100245",
                    "user_properties": {
                        "$setOnce": {
                            "[AppsFlyer] initial media source": "googleadwords_int",
                            "[AppsFlyer] initial campaign": "PB_iOS_US_Search_Brand",
                        },
                        "$set": {
                            "[AppsFlyer] media source": "googleadwords_int",
                            "[AppsFlyer] campaign": "PB_iOS_US_Search_Brand",
                        },
                    },
                },
            )
        ],
        id="user-id-without-device-id-identify-only",
    ),
    pytest.param(
        raw("install_android", advertising_id=None, customer_user_id="user-31337"),
        [("identify", {"user_id": "user-31337"})],
        id="android-id-only-with-user-identify-only",
    ),
]

ZEROED_IDFA_CASES: list[Any] = [pytest.param(load("reengagement"), id="reengagement")]

NO_REVENUE_CASES: list[Any] = [
    pytest.param(
        raw(
            "inapp_purchase",
            event_name="tutorial_complete",
            event_revenue=None,
            event_revenue_usd=None,
            event_value="{}",
        ),
        "[AppsFlyer] tutorial_complete",
        id="tutorial-complete",
    ),
]

UNREAD_KEY_CASES: list[Any] = [
    pytest.param(load("install_ios"), raw("install_ios", token="s3cr3t-token"), id="auth-token"),
]


# --------------------------------------------------------------------------------------------
# Resends: same message → same keys; a different message → different keys
# --------------------------------------------------------------------------------------------

DIFFERENT_EVENT_CASES: list[Any] = [
    pytest.param(
        load(name), raw(name, event_time="2026-04-01 00:00:00.001", event_time_selected_timezone=None), id=name
    )
    for name in FIXTURE_NAMES
]

SAME_EVENT_CASES: list[Any] = [
    pytest.param(load("install_ios"), raw("install_ios", token="abc"), id="token"),
    # AppsFlyer's event_id keys the resend, even one stamped with a new event time.
    pytest.param(
        raw("inapp_purchase", event_id="evt-9"),
        raw("inapp_purchase", event_id="evt-9", event_time="2026-03-15 19:41:08.000"),
        id="partner-event-id-retimed",
    ),
]


# --------------------------------------------------------------------------------------------
# Convention and adapter wiring
# --------------------------------------------------------------------------------------------

CONVENTION_NAMES: cases.ConventionNames = [
    ("property_name", ("media_source",), "[AppsFlyer] media source"),
    ("property_name", ("touch_time",), "[AppsFlyer] attributed touch time"),
    ("event_type", (Kind.INSTALL, None), "[AppsFlyer] Install"),
    ("event_type", (Kind.RE_ENGAGEMENT, None), "[AppsFlyer] Re-engagement"),
]

WIRING: dict[str, Any] = {
    "name": "appsflyer",
    "display_name": "AppsFlyer",
    "method": "POST",
    "convention": CONVENTION,
    "parse": parse,
    "query_template": None,
    "sample": load("install_ios"),
}


# --------------------------------------------------------------------------------------------
# Money units and ad revenue. The Push API's fields (https://support.appsflyer.com/hc/en-us/articles/207034356):
# `event_revenue` in whole units of `event_revenue_currency`, `event_revenue_usd` in whole US
# dollars; text in a GET, text or a JSON number in a POST. Ad revenue is the event
# `af_ad_revenue` (https://support.appsflyer.com/hc/en-us/articles/4416353506833), its ad in
# AppsFlyer's AdRevenueScheme keys (https://dev.appsflyer.com/hc/docs/ad-revenue-2).
# --------------------------------------------------------------------------------------------

PARSE_CASES += [
    pytest.param(
        raw("inapp_purchase", event_revenue=9.99, event_revenue_usd=10.8741),
        {"revenue": Revenue(amount=Decimal("9.99"), currency="EUR", amount_usd=Decimal("10.8741"))},
        id="revenue-as-json-numbers-in-whole-units",
    ),
    pytest.param(
        raw("ad_revenue"),
        {
            "event_name": "af_ad_revenue",
            "revenue": Revenue(
                amount=Decimal("0.0125"), currency="USD", amount_usd=Decimal("0.0125"), revenue_type="ad_revenue"
            ),
            "event_properties": {
                "ad_network": "googleadmob",
                "ad_mediation_platform": "applovinmax",
                "ad_unit": "89b8c0159a50ebd1",
                "ad_placement": "level_complete",
                "ad_format": "Rewarded",
                "monetization_network": "googleadmob",
                "mediation_network": "applovinmax",
                "placement": "level_complete",
                "ad_type": "Rewarded",
                "country": "DE",
            },
        },
        id="ad-revenue-event",
    ),
]

AD_REVENUE_CASES: list[Any] = [
    pytest.param(
        load("ad_revenue"),
        0.0125,
        "USD",
        {"ad_network": "googleadmob", "ad_mediation_platform": "applovinmax", "ad_format": "Rewarded"},
        id="ad-revenue-fixture",
    ),
    pytest.param(
        # Raw-data columns at the top level of the message win over event_value's keys.
        raw("ad_revenue", monetization_network="ironsource", impressions="3", event_revenue_currency="eur"),
        0.0125,
        "EUR",
        {"ad_network": "ironsource", "ad_impressions": 3},
        id="ad-revenue-top-level-columns",
    ),
    pytest.param(
        raw("ad_revenue", event_value="{}", event_revenue=0.5),
        0.5,
        "USD",
        {},
        id="ad-revenue-without-ad-details",
    ),
]

# SKAdNetwork messages (Push API topics skad_installs, skad_redownloads, skad_inapps:
# https://support.appsflyer.com/hc/en-us/articles/11135475316113): no device or user id.
SKAN_INSTALL: dict[str, Any] = {
    "event_name": "af_skad_install",
    "event_type": "install",
    "media_source": "googleadwords_int",
    "skad_version": "4.0",
    "skad_ad_network_id": "cstr6suwn9.skadnetwork",
    "skad_source_identifier": "1234",
    "skad_conversion_value": None,
    "skad_coarse_conversion_value": "low",
    "skad_postback_sequence_index": 0,
    "skad_redownload": False,
    "skad_transaction_id": "6aafb7a5-0170-41b5-bbe4-fe71dedf1e28",
    "app_id": "id1234567890",
    "install_date": "2026-03-14",
    "timestamp": "2026-03-15 02:00:00",
}

NOT_FORWARDED_CASES: list[Any] = [
    pytest.param(SKAN_INSTALL, "SKAdNetwork", id="skan-install"),
    pytest.param(
        {**SKAN_INSTALL, "event_name": "af_purchase", "event_type": "in-app-event", "skad_conversion_value": 12},
        "SKAdNetwork",
        id="skan-in-app-event-decoded-from-a-conversion-value",
    ),
    pytest.param(
        {**SKAN_INSTALL, "event_name": "af_skad_redownload", "skad_version": None}, "SKAdNetwork", id="skan-redownload"
    ),
]

DIFFERENT_EVENT_CASES += [
    pytest.param(
        load("ad_revenue"),
        raw("ad_revenue", event_time="2026-03-15 21:06:41.000", event_time_selected_timezone=None),
        id="next-ad-impression",
    ),
]

# A message with a device's or a user's ids is mapped as a postback, whatever skad_* keys it carries.
PARSE_CASES += [
    pytest.param(
        raw("install_ios", skad_version="4.0", skad_conversion_value=3),
        {"kind": Kind.INSTALL, "ids.idfa": IOS_IDFA},
        id="skad-keys-beside-a-device-id-are-not-skan",
    ),
]
