"""Kochava custom postback adapter's tables: GET query dicts (every value a string) in, postbacks
and Amplitude calls out. Fixtures in tests/fixtures/kochava/ follow our QUERY_TEMPLATE.
tests/unit/test_partner_contract.py runs every row; tests/unit/test_kochava.py holds what only
Kochava has."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from postback_relay.models.postback import Campaign, Kind, Revenue
from postback_relay.partners.kochava import ADAPTER, CONVENTION, QUERY_TEMPLATE, parse
from tests.unit import partner_cases as cases
from tests.unit.partner_cases import GAID, IOS_IDFA, IOS_IDFV

CASES = cases.PartnerCases(ADAPTER)
load = CASES.load
raw = CASES.raw

FIXTURE_NAMES = ("install_ios", "install_android", "purchase", "organic_install", "reengagement")

IOS_INSTALL_MS = 1_773_480_413_000  # epoch seconds 1773480413
ANDROID_INSTALL_MS = 1_773_475_501_000
PURCHASE_MS = 1_773_603_667_000
REENGAGEMENT_MS = 1_774_029_662_000
ORGANIC_INSTALL_MS = 1_773_701_109_000  # "2026-03-16 22:45:09" (UTC, no offset)

REENGAGEMENT_IDFV = "3F2504E0-4F89-41D3-9A0C-0305E82C3301"
ZEROED_IDFA = "00000000-0000-0000-0000-000000000000"


PARSE_CASES: list[Any] = [
    pytest.param(
        load("install_ios"),
        {
            "partner": "kochava",
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
                media_source="Google Ads",
                campaign="PB_iOS_US_Search_Brand",
                campaign_id="20611234567",
                site_id="Brand Exact",
                ad_id="RSA_1",
            ),
            "device.country": "US",
            "device.os_version": "17.4.1",
        },
        id="ios-install-idfa-fixture",
    ),
    pytest.param(
        load("install_android"),
        {
            "kind": Kind.INSTALL,
            "platform": "android",
            "ids.adid": GAID,  # Kochava adid = GAID, lower-cased
            "ids.android_id": "d1e2f3a4b5c6d7e8",
            "ids.idfa": None,  # "{idfa}" unreplaced
            "user_id": None,  # "{user_id}" unreplaced
            "time_ms": ANDROID_INSTALL_MS,
            "campaign.media_source": "Unity Ads",
            "revenue": None,
        },
        id="android-install-gaid-unreplaced-macros",
    ),
    pytest.param(
        load("reengagement"),
        {
            "kind": Kind.RE_ENGAGEMENT,  # SessionBegin with a network
            "platform": "ios",
            "ids.idfa": None,  # zeroed
            "ids.idfv": REENGAGEMENT_IDFV,
            "time_ms": REENGAGEMENT_MS,
            "install_time_ms": None,
            "campaign.media_source": "Criteo",
            "campaign.ad_id": "banner_320x50",
            "campaign.site_id": None,
        },
        id="sessionbegin-re-engagement-zeroed-idfa",
    ),
    pytest.param(
        load("organic_install"),
        {
            "kind": Kind.INSTALL,
            "is_organic": True,
            "campaign": Campaign(media_source="organic"),
            "time_ms": ORGANIC_INSTALL_MS,
        },
        id="organic-unattributed-install",
    ),
    pytest.param(
        load("purchase"),
        {
            "kind": Kind.IN_APP_EVENT,
            "event_name": "Purchase",
            "user_id": "user-100777",
            "time_ms": PURCHASE_MS,
            "revenue": Revenue(amount=Decimal("9.99"), currency="EUR"),
            "event_properties": {},
        },
        id="purchase-event-value-is-revenue",
    ),
    pytest.param(raw("install_ios", event_name="install"), {"kind": Kind.INSTALL}, id="install-without-underscore"),
    pytest.param(raw("install_ios", event_name="_Reinstall"), {"kind": Kind.REINSTALL}, id="reinstall"),
    pytest.param(raw("install_ios", event_name="_reengagement"), {"kind": Kind.RE_ENGAGEMENT}, id="reengagement-name"),
    pytest.param(
        raw("purchase", event_name="Level Complete", event_value='{"level": 7, "stars": "3"}', currency=""),
        {"revenue": None, "event_properties": {"level": 7, "stars": "3"}},
        id="json-event-value-is-properties",
    ),
    pytest.param(
        raw("purchase", event_name="Level Complete", event_value='{"level": 7,}', currency=""),
        {"revenue": None, "event_properties": {"event_value": '{"level": 7,}'}},
        id="malformed-json-event-value-is-text-not-a-macro",
    ),
    pytest.param(
        raw("purchase", event_name="Registration", event_value="email", currency=""),
        {"revenue": None, "event_properties": {"event_value": "email"}},
        id="text-event-value-is-a-property",
    ),
    pytest.param(raw("purchase", event_value="0"), {"revenue": None}, id="zero-value-is-no-revenue"),
    pytest.param(raw("purchase", event_value="{event_value}"), {"revenue": None}, id="unreplaced-value"),
    pytest.param(raw("install_ios", event_value="9.99"), {"revenue": None}, id="installs-carry-no-revenue"),
    pytest.param(raw("install_ios", network_name=""), {"is_organic": True}, id="empty-network-is-organic"),
    pytest.param(raw("install_ios", network_name="organic"), {"is_organic": True}, id="organic-network"),
    pytest.param(
        raw("install_ios", platform="{platform}", idfa="", idfv=IOS_IDFV), {"platform": "ios"}, id="platform-inferred"
    ),
    pytest.param(raw("install_ios", event_time="2026-03-14T09:26:53Z"), {"time_ms": IOS_INSTALL_MS}, id="iso-time"),
    pytest.param(raw("install_ios", event_time=str(IOS_INSTALL_MS)), {"time_ms": IOS_INSTALL_MS}, id="epoch-ms-time"),
    pytest.param(raw("install_ios", event_time="{event_time}"), {"time_ms": None}, id="unreplaced-time-is-none"),
    pytest.param(raw("install_ios", event_time="14/03/2026"), {"time_ms": None}, id="odd-time-is-none"),
    pytest.param(
        raw("install_ios", kochava_device_id="KA1234567890abcdef", idfa="", idfv=""),
        {"ids.idfa": None, "ids.idfv": None, "ids.adid": None},
        id="kochava-device-id-is-not-an-amplitude-id",
    ),
]


# Every 400 names the field event_name.
BAD_REQUEST_CASES: list[Any] = [
    pytest.param(
        raw("reengagement", network_name="Unattributed"), "SessionBegin", "event_name", id="unattributed-session"
    ),
    pytest.param(
        raw("install_ios", event_name="{event_name}"), "no event_name", "event_name", id="unreplaced-event-name"
    ),
    pytest.param(raw("install_ios", drop=("event_name",)), "no event_name", "event_name", id="no-event-name"),
]


UNDELIVERABLE_CASES: list[Any] = [
    pytest.param(raw("install_ios", idfa=ZEROED_IDFA, idfv="{idfv}", user_id=""), id="ios-no-usable-ids"),
    pytest.param(raw("install_android", adid="{adid}"), id="android-id-only"),
    pytest.param(raw("purchase", adid="", user_id="{user_id}"), id="purchase-no-ids"),
]


AMPLITUDE_CASES: list[Any] = [
    pytest.param(
        load("install_ios"),
        [
            (
                "attribution",
                {
                    "event_type": "[Kochava] Install",
                    "platform": "ios",
                    "idfa": IOS_IDFA,
                    "idfv": IOS_IDFV,
                    "time": IOS_INSTALL_MS,
                    "country": "US",
                    "user_properties": {
                        "[Kochava] network": "Google Ads",
                        "[Kochava] campaign": "PB_iOS_US_Search_Brand",
                        "[Kochava] campaign id": "20611234567",
                        "[Kochava] site id": "Brand Exact",
                        "[Kochava] creative id": "RSA_1",
                        "[Kochava] is organic": False,
                        "[Kochava] install time": IOS_INSTALL_MS,
                    },
                },
            ),
            ("identify", {"user_id": "user-100245"}),
        ],
        id="ios-install",
    ),
    pytest.param(
        load("install_android"),
        [("attribution", {"event_type": "[Kochava] Install", "platform": "android", "adid": GAID})],
        id="android-install",
    ),
    pytest.param(
        load("reengagement"),
        [
            ("attribution", {"event_type": "[Kochava] Re-engagement", "idfv": REENGAGEMENT_IDFV}),
            ("identify", {"user_id": "user-055120"}),
        ],
        id="re-engagement",
    ),
    pytest.param(
        load("organic_install"),
        [("attribution", {"user_properties": {"[Kochava] network": "organic", "[Kochava] is organic": True}})],
        id="organic-install",
    ),
    pytest.param(
        load("purchase"),
        [
            (
                "httpapi",
                {
                    "event_type": "[Kochava] Purchase",
                    "user_id": "user-100777",
                    "device_id": GAID,
                    "time": PURCHASE_MS,
                    "price": 9.99,
                    "revenue": 9.99,
                    "currency": "EUR",
                    "revenueType": "Purchase",
                },
            )
        ],
        id="purchase",
    ),
]

DIFFERENT_EVENT_CASES: list[Any] = [
    pytest.param(load("purchase"), raw("purchase", event_time=str(PURCHASE_MS // 1000 + 1)), id="another-event-time"),
]

TEMPLATE_CASES: list[Any] = [pytest.param(QUERY_TEMPLATE, "{", "}", id="query-template")]

WIRING: dict[str, Any] = {
    "name": "kochava",
    "display_name": "Kochava",
    "method": "GET",
    "convention": CONVENTION,
    "parse": parse,
    "query_template": QUERY_TEMPLATE,
    "sample": load("install_ios"),
}


# --------------------------------------------------------------------------------------------
# Ad revenue: Kochava's "Ad View" event, one per impression, flagged as revenue by the marketer
# (https://support.kochava.com/campaign-management/create-a-total-ltv-campaign/); its event data
# keys (ad_network_name, ad_mediation_name, placement, ad_type) are its SDKs' [U: the postback's
# {event_value} carrying them as JSON is not documented].
# --------------------------------------------------------------------------------------------

AD_REVENUE_CASES: list[Any] = [
    pytest.param(
        raw("purchase", event_name="Ad View", event_value="0.0125", currency="usd"),
        0.0125,
        "USD",
        {},
        id="ad-view-with-a-value",
    ),
]

PARSE_CASES += [
    pytest.param(
        raw(
            "purchase",
            event_name="Ad View",
            event_value='{"ad_network_name":"AdMob","ad_mediation_name":"AppLovin","placement":"home","ad_type":"banner"}',
        ),
        {
            "revenue": None,  # the value Kochava pulls from the monetization partner is not in the postback
            "event_properties": {
                "ad_network": "AdMob",
                "ad_mediation_platform": "AppLovin",
                "ad_placement": "home",
                "ad_format": "banner",
                "ad_network_name": "AdMob",
                "ad_mediation_name": "AppLovin",
                "placement": "home",
                "ad_type": "banner",
            },
        },
        id="ad-view-event-data",
    ),
]
