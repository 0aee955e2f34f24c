"""Pass-through: the unmapped keys an operator names reach Amplitude as `<label> <key>` event
properties, for every coded partner and mapping-file network; ids, tokens and IPs never do."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from postback_relay.core import plan
from postback_relay.models.amplitude import AmplitudeCall
from postback_relay.partners import PartnerAdapter
from postback_relay.partners import fields as field_readers
from postback_relay.partners.custom import load_mapping
from postback_relay.partners.custom.schema import MappingError
from postback_relay.partners.pass_through import PassThrough, PassThroughError, is_mapped, never_passed
from postback_relay.partners.registry import coded_partners
from tests.unit.partner_cases import load
from tests.unit.template_document import parameter

IDFA = "A7071198-3848-40A5-B3D0-94578D9B1234"

# One realistic postback per partner (its fixtures), and how it names an app's own key: flat for
# the URL-template partners and AppsFlyer's and Singular's bodies, nested for Branch.
FIXTURES = {
    "adjust": "purchase",
    "appsflyer": "inapp_purchase",
    "branch": "purchase",
    "kochava": "purchase",
    "singular": "purchase",
    "tenjin": "purchase",
}
INSTALLS = {name: "install_ios" for name in FIXTURES}


def with_rules(partner: str, rules: str) -> PartnerAdapter:
    return replace(coded_partners()[partner], pass_through=PassThrough.parse(rules))


def event_properties(call: AmplitudeCall) -> dict[str, Any]:
    return dict(call.payload.get("event_properties") or {})


def add_keys(partner: str, payload: dict[str, Any], **keys: Any) -> dict[str, Any]:
    """`payload` with app keys where the partner sends them (Branch: in its touch data too)."""
    if partner == "branch":
        payload.setdefault("last_attributed_touch_data", {}).update({f"~{key}": value for key, value in keys.items()})
    payload.update(keys)
    return payload


@pytest.mark.parametrize("partner", sorted(FIXTURES))
@pytest.mark.parametrize("fixtures", [FIXTURES, INSTALLS], ids=["in-app", "install"])
def test_allowed_unmapped_keys_reach_amplitude_under_the_partners_label(partner: str, fixtures: dict[str, str]) -> None:
    adapter = with_rules(partner, "level,ad_*,~level")
    payload = add_keys(partner, load(partner, fixtures[partner]), level="7", ad_format="rewarded", other="x")
    calls = plan(adapter, payload).calls
    label = adapter.convention.label
    event = calls[0]  # the Attribution or HTTP V2 event; an Identify has no event properties
    assert event.endpoint in ("attribution", "httpapi")
    properties = event_properties(event)
    assert properties[f"{label} level"] == "7"
    assert properties[f"{label} ad_format"] == "rewarded"
    assert f"{label} other" not in properties  # not allowed
    if partner == "branch":
        assert properties[f"{label} last_attributed_touch_data.~level"] == "7"


@pytest.mark.parametrize("partner", sorted(FIXTURES))
def test_without_rules_nothing_unmapped_is_sent(partner: str) -> None:
    adapter = coded_partners()[partner]
    payload = add_keys(partner, load(partner, FIXTURES[partner]), level="7")
    assert not any(" level" in key for call in plan(adapter, payload).calls for key in event_properties(call))


@pytest.mark.parametrize("partner", sorted(FIXTURES))
def test_star_passes_no_mapped_key_no_id_no_token_no_ip(partner: str) -> None:
    adapter = with_rules(partner, "*")
    payload = add_keys(
        partner,
        load(partner, FIXTURES[partner]),
        level="7",
        my_idfa=IDFA,
        secret_token="s3cr3t-value",
        device_ip="203.0.113.9",
        custom_user_id_2="user-1",
        order_ref=IDFA.lower(),  # a device-id-shaped value under a harmless key
        appsflyer_id="1773480413000-1234567",
        kochava_device_id="KA1234",
        email="someone@example.com",
    )
    properties = event_properties(plan(adapter, payload).calls[0])
    unconfigured = event_properties(plan(coded_partners()[partner], payload).calls[0])
    label = f"{adapter.convention.label} "
    passed = {key.removeprefix(label) for key in properties.keys() - unconfigured.keys()}
    assert "level" in passed
    forbidden = {
        "my_idfa",
        "secret_token",
        "device_ip",
        "custom_user_id_2",
        "order_ref",
        "appsflyer_id",
        "kochava_device_id",
        "email",
    }
    assert not {key.split(".")[-1].lstrip("~") for key in passed} & forbidden
    # What the adapter maps is sent as it maps it, never a second time as a raw key.
    assert not any(is_mapped(key, adapter.mapped_keys) for key in passed)
    values = [str(value) for value in properties.values()]
    assert IDFA not in values
    assert IDFA.lower() not in values
    assert "203.0.113.9" not in values


def test_deny_patterns_win_over_allow_patterns() -> None:
    adapter = with_rules("adjust", "*,!debug_*")
    payload = load("adjust", "purchase") | {"debug_build": "1", "level": "7"}
    properties = event_properties(plan(adapter, payload).calls[0])
    assert "[adjust] level" in properties
    assert "[adjust] debug_build" not in properties


def test_patterns_are_case_insensitive_and_keep_the_partners_spelling() -> None:
    adapter = with_rules("adjust", "LEVEL*")
    payload = load("adjust", "purchase") | {"Level_Name": "forest"}
    assert event_properties(plan(adapter, payload).calls[0])["[adjust] Level_Name"] == "forest"


def test_placeholders_and_empty_values_are_no_value() -> None:
    adapter = with_rules("adjust", "*")
    payload = load("adjust", "purchase") | {"level": "{level}", "stage": "", "world": "null", "kept": "3"}
    properties = event_properties(plan(adapter, payload).calls[0])
    assert "[adjust] kept" in properties
    assert not {"[adjust] level", "[adjust] stage", "[adjust] world"} & set(properties)


def test_pass_through_never_changes_the_postbacks_key() -> None:
    """The key is the raw postback's: rules added or changed between a postback and its resend
    must not make the resend a new postback (nor two postbacks one)."""
    payload = load("adjust", "purchase") | {"level": "7"}
    without = plan(coded_partners()["adjust"], payload)
    with_it = plan(with_rules("adjust", "*"), payload)
    assert with_it.postback_id == without.postback_id
    assert [call.insert_id for call in with_it.calls] == [call.insert_id for call in without.calls]
    other = plan(with_rules("adjust", "*"), payload | {"level": "8"})
    assert other.postback_id != with_it.postback_id


def test_the_cap_on_event_properties_counts_the_adapters_own_first() -> None:
    adapter = with_rules("adjust", "*")
    payload = load("adjust", "purchase") | {f"extra_{number:03}": "v" for number in range(80)}
    postback = plan(adapter, payload).postback
    passed = [key for key in postback.event_properties if key.startswith("[adjust] extra_")]
    assert len(postback.event_properties) == field_readers.MAX_EVENT_PROPERTIES
    assert "event_token" in postback.event_properties  # the adapter's own property is kept
    assert passed == sorted(passed)  # in the postback's order: the first keys are the ones kept


@pytest.mark.parametrize(
    "key",
    [
        "idfa",
        "IDFV",
        "gps_adid",
        "advertising_id",
        "aifa",
        "oaid",
        "android_id",
        "google_app_set_id",
        "developer_device_id",
        "kochava_device_id",
        "appsflyer_id",
        "analytics_installation_id",
        "customer_user_id",
        "userId",
        "developer_identity",
        "ip",
        "ip_address",
        "sourceIp",
        "user_agent",
        "token",
        "tracker_token",
        "api_key",
        "x-signature",
        "auth",
        "email",
        "phone_number",
        "user_data.idfa",
        "userid",
        "deviceid",
        "customerid",
        "advertisingid",
        "custom_user_id_2",
        "uid",
        "player_id",
        "account_id",
        "gclid",
        "fbclid",
        "click_id",
        "pwd",
        "jwt",
        "bearer",
        "credentials",
    ],
)
def test_ids_credentials_and_network_fields_are_never_passed(key: str) -> None:
    assert never_passed(key)
    assert not PassThrough.parse("*").passes(key)


@pytest.mark.parametrize(
    "key", ["level", "ad_format", "fb_install_referrer_ad_id", "af_sub1", "~tags", "zip_code", "keyword", "ad_unit"]
)
def test_campaign_and_app_keys_may_pass(key: str) -> None:
    assert not never_passed(key)


@pytest.mark.parametrize(
    "value",
    [
        IDFA,
        "{" + IDFA + "}",
        "d1e2f3a4b5c6d7e8",  # an Android id
        "a" * 40,  # a SHA-1 of an id
        "0123456789abcdef" * 4,  # a SHA-256
        "203.0.113.9",
        "203.0.113.9:443",
        "203.0.113.9, 198.51.100.7",
        "[2001:db8::1]",
        "2001:db8::1",
        "someone@example.com",
        "+49 151 2345 6789",
        "1710411111222-3334445",  # an AppsFlyer id
        "https://app.example/open?idfa=x&token=y",
    ],
)
def test_identifying_values_are_never_passed(value: str) -> None:
    adapter = with_rules("adjust", "*")
    payload = load("adjust", "purchase") | {"note": value}
    assert "[adjust] note" not in event_properties(plan(adapter, payload).calls[0])


@pytest.mark.parametrize(
    "value", ["level_7", "320x50", "2026-12-01", "9.99", "Summer Sale (123456)", "https://example.com/p"]
)
def test_ordinary_values_pass(value: str) -> None:
    adapter = with_rules("adjust", "*")
    payload = load("adjust", "purchase") | {"note": value}
    assert event_properties(plan(adapter, payload).calls[0])["[adjust] note"] == value


def test_pass_through_never_replaces_what_the_mapping_writes() -> None:
    """Adjust reads `network_name`, not `network`: a raw `network` must not overwrite the
    campaign property "[adjust] network" the mapping writes from it."""
    adapter = with_rules("adjust", "*")
    payload = load("adjust", "purchase") | {"network": "spoofed", "campaign": "spoofed"}
    properties = event_properties(plan(adapter, payload).calls[0])
    assert properties["[adjust] network"] == "Facebook Installs"
    assert properties["[adjust] campaign"] != "spoofed"


@pytest.mark.parametrize(
    ("text", "message_part"),
    [("!debug_*", "allow none"), ("level,!", "names no key"), ("level, ! ", "names no key")],
)
def test_unusable_rules_are_refused_naming_the_rule(text: str, message_part: str) -> None:
    with pytest.raises(PassThroughError, match=message_part):
        PassThrough.parse(text)


def test_empty_rules_pass_nothing() -> None:
    assert not PassThrough.parse("")
    assert not PassThrough.parse(" , ")


@pytest.mark.parametrize("partner", sorted(FIXTURES))
def test_parse_reads_only_the_keys_it_declares_mapped(partner: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every key an adapter reads is in its `mapped_keys`, so pass-through never sends a mapped
    value twice (once mapped, once raw). Checked over every fixture the partner has."""
    adapter = coded_partners()[partner]
    read: set[str] = set()
    original_get = field_readers.Fields.get

    def recording_get(self: field_readers.Fields, key: str) -> Any:
        read.add(f"{self.field_prefix}{key}")
        return original_get(self, key)

    monkeypatch.setattr(field_readers.Fields, "get", recording_get)
    for path in sorted((Path(__file__).parent.parent / "fixtures" / partner).glob("*.json")):
        adapter.parse(load(partner, path.stem))
    assert read
    assert {key for key in read if not is_mapped(key, adapter.mapped_keys)} == set()


NETWORK_FILE = """\
name: example-net
display_name: Example Net
method: GET
fields:
  kind: {constant: install}
  platform: {from: os}
  idfa: {from: ifa}
  media_source: {constant: example-net}
  campaign: {from: campaign_name}
pass_through:
  allow: [sub_*, creative_size]
  deny: [sub_debug]
"""


def test_a_mapping_files_pass_through_forwards_its_allowed_keys(tmp_path: Path) -> None:
    path = tmp_path / "example-net.yaml"
    path.write_text(NETWORK_FILE)
    adapter = load_mapping(path)
    payload = {
        "os": "ios",
        "ifa": IDFA,
        "campaign_name": "Spring",
        "sub_placement": "feed",
        "sub_debug": "1",
        "creative_size": "320x50",
        "sub_ifa": IDFA,  # an id under an allowed pattern still never passes
    }
    properties = event_properties(plan(adapter, payload).calls[0])
    assert properties["[Example Net] sub_placement"] == "feed"
    assert properties["[Example Net] creative_size"] == "320x50"
    assert "[Example Net] sub_debug" not in properties
    assert "[Example Net] sub_ifa" not in properties
    assert "[Example Net] campaign_name" not in properties  # mapped, sent as the campaign


def test_a_mapping_file_without_pass_through_forwards_nothing_unmapped(tmp_path: Path) -> None:
    path = tmp_path / "example-net.yaml"
    path.write_text(NETWORK_FILE.split("pass_through:")[0])
    adapter = load_mapping(path)
    payload = {"os": "ios", "ifa": IDFA, "sub_placement": "feed"}
    assert "[Example Net] sub_placement" not in event_properties(plan(adapter, payload).calls[0])


def test_a_mapping_files_pass_through_needs_an_allow_list(tmp_path: Path) -> None:
    path = tmp_path / "example-net.yaml"
    path.write_text(NETWORK_FILE.replace("  allow: [sub_*, creative_size]\n", ""))
    with pytest.raises(MappingError, match=r"pass_through\.allow"):
        load_mapping(path)


@pytest.mark.parametrize("partner", ["AppsFlyer", "Adjust", "Branch", "Kochava", "Singular", "Tenjin"])
def test_the_template_refuses_at_deploy_what_would_fail_the_cold_start(partner: str) -> None:
    """<Partner>PassThrough's AllowedPattern: a deploy with rules the function could not use is
    refused by CloudFormation, rather than every postback answered 5xx after it."""
    pattern = re.compile(parameter(f"{partner}PassThrough")["AllowedPattern"])
    for usable in ("", "level", "*", "level,ad_*,!debug_*", "level, !debug_*", "~tags,last_attributed_touch_data.*"):
        PassThrough.parse(usable)
        assert pattern.fullmatch(usable), usable
    for unusable in ("!debug_*", "level,!", "level, ! ", "!"):
        with pytest.raises(PassThroughError):
            PassThrough.parse(unusable)
        assert not pattern.fullmatch(unusable), unusable
