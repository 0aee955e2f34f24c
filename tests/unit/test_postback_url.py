"""`postback-relay postback-url`: the URL each partner's dashboard needs, checked against the adapter
that reads it, so the printed URL, docs/partners.md and the adapters cannot drift apart.

For every URL-template partner, the printed URL is filled in as the partner would fill it (realistic
values per macro, a few scenarios each) and read by `postback-relay try`, the route's own reading.
Every key the URL carries must change what Amplitude gets in at least one scenario: a key the
adapter does not read (a renamed macro, a typo) fails here, not in a partner's dashboard.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from postback_relay.models.postback import Kind
from postback_relay.partners.registry import coded_partners, custom_networks, find_partner
from postback_relay.partners.tenjin import EVENT_TYPES as TENJIN_EVENT_TYPES
from postback_relay_tools.cli import POSTBACK_URL_VARIANTS, main
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # a local stack, servers or many moto calls: not in make test-quick

BASE = "https://postbacks.example.com"
TOKEN = "3f1c9a7be2d44b0e8a61c5d7f09b2e4a"
IDFA = "6D92078A-8246-4BA4-AE5B-76104861E7DC"
IDFV = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
GAID = "38400000-8cf0-11bd-b23e-10b96e40000d"
APP_SET_ID = "5a2f0c1e-7b3d-4e8f-9a6b-1c2d3e4f5a6b"
ANDROID_ID = "9774d56d682e549c"

# What each partner fills each macro with, by scenario (key = the macro's own name, as printed).
# Macros a scenario leaves out stay literal in the URL, as a partner sends a macro it cannot fill.
SCENARIOS: dict[str, dict[str, dict[str, str]]] = {
    "adjust": {
        "ios install": {
            "activity_kind": "install",
            "created_at": "1764000000",
            "installed_at": "1764000000",
            "engagement_time": "1763999000",
            "idfa": IDFA,
            "idfv": IDFV,
            "os_name": "ios",
            "os_version": "18.1",
            "device_name": "iPhone16,2",
            "country": "us",
            "city": "Austin",
            "language": "en",
            "app_version": "4.2.0",
            "network_name": "Unity Ads",
            "campaign_name": "black-friday (123456)",
            "adgroup_name": "us-ios (234567)",
            "creative_name": "video-15s (345678)",
            "tracker": "abc123",
            "is_organic": "0",
        },
        "android reattribution, names from the tracker": {
            "activity_kind": "reattribution",
            "reattributed_at": "1764086400",
            "gps_adid": GAID,
            "google_app_set_id": APP_SET_ID,
            "android_id": ANDROID_ID,
            "os_name": "android",
            "tracker_name": "Liftoff::winback::lapsed-30d::banner",
        },
        "android install without an advertising id": {
            "activity_kind": "install",
            "created_at": "1764000000",
            "google_app_set_id": APP_SET_ID,
            "android_id": ANDROID_ID,
            "os_name": "android",
            "is_organic": "1",
        },
        "ios purchase": {
            "activity_kind": "event",
            "created_at": "1764003600",
            "idfv": IDFV,
            "os_name": "ios",
            "event_name": "purchase",
            "event": "f0ob4r",
            "revenue_float": "4.49",
            "revenue_usd": "4.99",
            "currency": "EUR",
            "app_version": "4.2.0",
        },
        "android ad revenue": {
            "activity_kind": "ad_revenue",
            "created_at": "1764007200",
            "gps_adid": GAID,
            "os_name": "android",
            "revenue_float": "0.0125",
            "currency": "usd",
            "ad_revenue_network": "Admob",
            "ad_revenue_unit": "rewarded_video",
            "ad_revenue_placement": "home_screen",
            "ad_mediation_platform": "applovin_max_sdk",
            "ad_impressions_count": "1",
        },
        "android install, Meta's referrer beside Unattributed": {
            "activity_kind": "install",
            "created_at": "1764000000",
            "gps_adid": GAID,
            "os_name": "android",
            "network_name": "Unattributed",
            "fb_install_referrer_campaign_group_name": "black-friday",
            "fb_install_referrer_campaign_name": "black-friday-aeo",
            "fb_install_referrer_adgroup_name": "lookalike-1",
            "fb_install_referrer_ad_id": "23851234567890789",
            "fb_install_referrer_publisher_platform": "instagram",
        },
    },
    "kochava": {
        "ios install": {
            "event_name": "_install",
            "event_time": "1764000000",
            "idfa": IDFA,
            "idfv": IDFV,
            "user_id": "user-42",
            "platform": "ios",
            "network_name": "Unity Ads",
            "campaign_name": "black-friday",
            "campaign_id": "123456",
            "site_id": "game-7",
            "creative_id": "video-15s",
            "country": "us",
            "os_version": "18.1",
        },
        "android install": {
            "event_name": "_install",
            "event_time": "1764000000",
            "adid": GAID,
            "android_id": ANDROID_ID,
            "platform": "android",
            "network_name": "Unattributed",
        },
        "android install with the Android ID alone": {
            "event_name": "_install",
            "android_id": ANDROID_ID,
            "user_id": "user-42",
            "platform": "android",
        },
        "ios purchase": {
            "event_name": "Purchase",
            "event_time": "1764003600",
            "event_value": "4.99",
            "currency": "USD",
            "idfv": IDFV,
            "platform": "ios",
        },
    },
    "tenjin": {
        "ios install": {
            "platform": "ios",
            "advertising_id": IDFA,
            "developer_device_id": IDFV,
            "ad_network": "unityads",
            "campaign_name": "black-friday",
            "site_id": "game-7",
            "creative_name": "video-15s",
            "country": "us",
            "os_version": "18.1",
            "device": "iPhone16,2",
            "acquired_at_ms": "1764000000000",
            "time_in_ms": "1764000000000",
            "engaged_at_ms": "1763999000000",
        },
        "android install": {"platform": "android", "advertising_id": GAID, "time_in_ms": "1764000000000"},
        "ios purchase": {
            "platform": "ios",
            "developer_device_id": IDFV,
            "time_in_ms": "1764003600000",
            "value": "gem_pack",
            "revenue_usd_gross": "4.99",
            "revenue_usd_net": "3.49",
        },
    },
    "custom/liftoff": {
        "ios install": {
            "platform": "ios",
            "event_name": "install",
            "event_timestamp": "1764000000000",
            "device_id": IDFA,
            "idfv": IDFV,
            "user_id": "user-42",
            "language": "en",
            "device_model": "iPhone16,2",
            "os_version": "18.1",
            "app_version": "4.2.0",
            "is_attributed": "1",
        },
        "android purchase": {
            "platform": "android",
            "event_name": "purchase",
            "event_timestamp": "1764003600000",
            "device_id": GAID,
            "revenue": "4.99",
            "currency": "eur",
            "app_version": "4.2.0",
        },
        "organic ios install": {"platform": "ios", "event_name": "install", "idfv": IDFV, "is_attributed": "0"},
    },
    "custom/unity-ads": {
        "ios install": {
            "platform": "ios",
            "ifa": IDFA,
            "ts": "1764000000",
            "install_ts": "1764000000",
            "campaign_id": "123456",
            "campaign_name": "black-friday",
            "game_id": "1234567",
            "tracking_enabled": "1",
            "was_conversion_attributed": "1",
        },
        "android purchase": {
            "platform": "android",
            "aid": GAID,
            "ts": "1764003600000",
            "event": "purchase",
            "revenue": "4.99",
            "currency": "eur",
            "was_conversion_attributed": "0",
        },
    },
}

# The variant each scenario's callback is configured with (Tenjin: one callback per event type).
SCENARIO_VARIANT = {("tenjin", "ios purchase"): "purchase"}
INFERRED = "read, but without it the platform is inferred from the ids: the same answer"
# Keys of a printed URL no scenario can show to matter, each with why (never silently). Those no
# mapping rule reads still reach the raw archive, for a later `replay` with a richer mapping file.
NOT_SHOWN: dict[str, dict[str, str]] = {
    "adjust": {"os_name": INFERRED},
    "kochava": {"platform": INFERRED},
    "custom/unity-ads": {
        "platform": INFERRED,
        "game_id": "Unity's id of the app; unity-ads.yaml maps no field from it",
        "tracking_enabled": "unity-ads.yaml maps no field from it",
    },
}
TEMPLATE_PARTNERS = sorted(SCENARIOS)


def postback_url(capsys: pytest.CaptureFixture[str], partner: str, *options: str) -> tuple[str, str]:
    assert main(["postback-url", partner, "--base", BASE, "--token", TOKEN, *options]) == 0
    out, err = capsys.readouterr()
    return out.strip(), err


def fill(url: str, values: dict[str, str], *, without: str = "") -> str:
    """The URL as the partner calls it: its macros replaced where it has the value."""
    parts = urlsplit(url)
    query = [(key, values.get(key, value)) for key, value in parse_qsl(parts.query) if key != without]
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"


def amplitude_requests(capsys: pytest.CaptureFixture[str], partner: str, url: str) -> Any:
    """What `try` says Amplitude would get, without the ids derived from the whole postback (they
    change with any key, read or not)."""
    main(["try", partner, url])
    text = capsys.readouterr().out
    text = re.sub(r'"(insert_id|postback_id)": "[^"]*"', r'"\1": "-"', text)
    return json.loads(text)


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


@pytest.mark.parametrize("partner", [*coded_partners(), *(f"custom/{name}" for name in custom_networks())])
def test_every_partner_gets_its_route_its_token_and_its_macros(
    capsys: pytest.CaptureFixture[str], partner: str
) -> None:
    adapter = find_partner(partner)
    for variant in POSTBACK_URL_VARIANTS.get(adapter.name) or {"": {}}:
        url, notes = postback_url(capsys, partner, *(["--variant", variant] if variant else []))
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == BASE + adapter.route
        keys = query(url)
        assert keys.pop("token") == TOKEN
        for key, macro in (adapter.query_template or {}).items():
            assert key in keys, f"{partner}: {key} missing"
            literal = POSTBACK_URL_VARIANTS.get(adapter.name, {}).get(variant, {}).get(key)
            assert keys.pop(key) == (literal or macro)
        # Nothing else but the literals of the variant.
        assert keys == {
            k: v
            for k, v in POSTBACK_URL_VARIANTS.get(adapter.name, {}).get(variant, {}).items()
            if k not in (adapter.query_template or {})
        }
        assert f"method {adapter.method}" in notes


@pytest.mark.parametrize("partner", TEMPLATE_PARTNERS)
def test_every_key_of_the_printed_url_is_read_by_the_adapter(capsys: pytest.CaptureFixture[str], partner: str) -> None:
    shown: set[str] = set()
    for name, values in SCENARIOS[partner].items():
        variant = SCENARIO_VARIANT.get((partner.removeprefix("custom/"), name))
        url, _ = postback_url(capsys, partner, *(["--variant", variant] if variant else []))
        whole = amplitude_requests(capsys, partner, fill(url, values))
        assert isinstance(whole, list), f"{partner}, {name}: refused: {whole}"
        for key in values:
            if amplitude_requests(capsys, partner, fill(url, values, without=key)) != whole:
                shown.add(key)
    template = set(find_partner(partner).query_template or {})
    assert template - shown - set(NOT_SHOWN.get(partner, {})) == set(), "keys in the URL the adapter never reads"


@pytest.mark.parametrize(
    ("variant", "endpoint", "event_type"),
    [
        ("install", "/attribution", "[Tenjin] Install"),
        ("event", "/2/httpapi", "[Tenjin] level_up"),
        ("purchase", "/2/httpapi", "[Tenjin] level_up"),
    ],
)
def test_tenjin_gets_the_event_type_it_has_no_macro_for(
    capsys: pytest.CaptureFixture[str], variant: str, endpoint: str, event_type: str
) -> None:
    url, notes = postback_url(capsys, "tenjin", *(["--variant", variant] if variant != "install" else []))
    assert query(url)["event_type"] == variant
    assert variant in TENJIN_EVENT_TYPES
    assert (TENJIN_EVENT_TYPES[variant] is Kind.INSTALL) == (variant == "install")
    assert f"this is the '{variant}' variant" in notes
    # A callback of that type, as Tenjin fills it: the type decides, not a guess from the values.
    values = {"platform": "ios", "developer_device_id": IDFV, "time_in_ms": "1764003600000", "value": "level_up"}
    [request, *_] = amplitude_requests(capsys, "tenjin", fill(url, values))
    assert request["url"].endswith(endpoint)
    event = request["form"]["event"] if "form" in request else request["json"]["events"][0]
    assert event["event_type"] == event_type


def test_kochava_can_have_its_platform_typed_in(capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = postback_url(capsys, "kochava", "--variant", "android")
    assert query(url)["platform"] == "android"
    [request] = amplitude_requests(capsys, "kochava", fill(url, {"event_name": "_install", "adid": GAID}))
    assert request["form"]["event"]["platform"] == "android"
    assert request["form"]["event"]["adid"] == GAID


def test_appsflyer_header_token_leaves_the_url_and_goes_to_appsflyers_api(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, notes = postback_url(capsys, "appsflyer", "--header")
    assert url == BASE + "/v1/postbacks/appsflyer"
    assert "https://hq1.appsflyer.com/api/pushapi/v1.0/tokens/app/" in notes
    assert json.dumps({"token_name": "X-Relay-Token", "token": TOKEN}) in notes
    assert "Send Test" in notes  # its test message carries no header: say so where it matters


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["singular", "--variant", "ios"], "Singular has no variant 'ios'"),
        (["tenjin", "--variant", "open"], "one of install, event, purchase"),
        (["adjust", "--header"], "Adjust sends no header token"),
    ],
)
def test_a_wrong_option_is_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    assert main(["postback-url", *arguments[:1], "--base", BASE, *arguments[1:]]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("partner", ["adjust", "kochava", "tenjin"])
def test_the_urls_in_docs_partners_are_the_printed_ones(capsys: pytest.CaptureFixture[str], partner: str) -> None:
    docs = (ROOT / "docs" / "partners.md").read_text()
    blocks = re.findall(rf"```\n(https://<api>/v1/postbacks/{partner}\?.*?)```", docs, re.DOTALL)
    assert blocks, f"docs/partners.md shows no {partner} URL"
    for block in blocks:
        shown = "".join(line.strip() for line in block.splitlines())
        literals = query(shown)
        variant = literals.get("event_type", "") if partner == "tenjin" else ""
        main(
            [
                "postback-url",
                partner,
                "--base",
                "https://<api>",
                "--token",
                f"<{partner} token>",
                *(["--variant", variant] if variant else []),
            ]
        )
        assert shown == capsys.readouterr().out.strip()
