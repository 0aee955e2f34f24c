"""Input checks: text that cannot be encoded is a 400 naming the field, device ids are checked for
their format (malformed counts as missing), wrong types are never coerced, and what Amplitude's
models limit is limited on the way in, so mapping never fails on length or type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from postback_relay.errors import BadRequest, RelayError, Unauthorized, Undeliverable
from postback_relay.ids import clean_android_id, clean_gaid, clean_idfa, unencodable
from postback_relay.inbound import authenticate, read_postback
from postback_relay.mapping import to_amplitude_calls
from postback_relay.models.amplitude import MAX_STRING, AmplitudeCall
from postback_relay.models.postback import Kind
from postback_relay.partners import Convention, PartnerAdapter
from postback_relay.partners.custom import MappingError, load_networks, read_mapping
from postback_relay.partners.registry import coded_partners
from postback_relay_tools.cli import main
from postback_relay_tools.local.events import http_api_event
from tests.conftest import FIXTURES
from tests.unit.partner_cases import GAID, IOS_IDFA, IOS_IDFV

pytestmark = pytest.mark.slow  # every field of every fixture, mutated: thousands of inputs: not in make test-quick

ADAPTERS: dict[str, PartnerAdapter] = {**coded_partners(), **load_networks()}
LIMIT = 64 * 1024
ZEROS = "00000000-0000-0000-0000-000000000000"
APP_SET_ID = "5a1d9c3e-7b2f-4e8a-9c1d-2f3e4a5b6c7d"
ANDROID_ID = "d1e2f3a4b5c6d7e8"


def post(body: bytes, query: str = "", content_type: str = "application/json") -> APIGatewayProxyEventV2:
    return APIGatewayProxyEventV2(
        http_api_event(
            "POST", "/v1/postbacks/appsflyer", query=query, body=body, headers={"content-type": content_type}
        )
    )


def get(query: str) -> APIGatewayProxyEventV2:
    return APIGatewayProxyEventV2(http_api_event("GET", "/v1/postbacks/adjust", query=query))


def fixture(partner: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / partner / f"{name}.json").read_text())
    return data


def calls_for(partner: str, raw: dict[str, Any]) -> list[AmplitudeCall]:
    adapter = ADAPTERS[partner]
    return to_amplitude_calls(adapter.parse(raw), adapter.convention)


# --------------------------------------------------------------------------------------------
# Text that cannot be encoded
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (post(b'{"campaign": "PB_\\ud800"}'), "body.campaign"),
        (post(b'{"user_data": {"idfa": "A7071198-3848-40A5-B3D0-94578D9B1234\\udfff"}}'), "body.user_data.idfa"),
        (post(b'{"items": ["ok", "\\ud800"]}'), "body.items[1]"),
        (post(b'{"\\ud800": "value"}'), "body"),  # a field name: its parent is named, not the name
        (post(b"campaign=%ED%A0%80", content_type="application/x-www-form-urlencoded"), "form body.campaign"),
        (get("token=t&idfv=868049A3%ED%A0%80"), "query string.idfv"),
        (get("token=t&campaign=caf%E9"), "query string.campaign"),  # Latin-1, not UTF-8
        (get("token=t&campaign=x\ud800"), "query string.campaign"),  # raw, as a hand-built event holds it
    ],
    ids=["json-value", "nested", "in-list", "json-key", "form", "query-cesu", "query-latin1", "query-raw"],
)
def test_text_that_cannot_be_encoded_is_a_400_naming_the_field_not_its_value(
    event: APIGatewayProxyEventV2, field: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        read_postback(event, LIMIT)
    body = caught.value.body()
    assert body["field"] == field
    assert "not valid Unicode" in body["error"]
    assert "A7071198" not in json.dumps(body)
    assert "868049A3" not in json.dumps(body)


def test_valid_non_ascii_text_and_surrogate_pairs_pass() -> None:
    # A JSON surrogate *pair* is one valid character (U+1F600); only a lone surrogate is refused.
    fields = read_postback(post('{"campaign": "Été \\ud83d\\ude00 北京"}'.encode()), LIMIT)
    assert fields == {"campaign": "Été \U0001f600 北京"}
    assert read_postback(get("token=t&campaign=%C3%89t%C3%A9"), LIMIT) == {"campaign": "Été"}


def test_a_raw_surrogate_in_a_hand_built_events_body_is_a_400() -> None:
    raw = http_api_event("POST", "/v1/postbacks/appsflyer", headers={"content-type": "application/json"})
    raw["body"] = '{"campaign": "x\ud800"}'
    with pytest.raises(BadRequest, match="request body is not valid Unicode"):
        read_postback(APIGatewayProxyEventV2(raw), LIMIT)


def test_a_token_that_cannot_be_encoded_is_a_wrong_token() -> None:
    event = http_api_event("GET", "/v1/postbacks/adjust", headers={"x-relay-token": "\ud800secret"})
    with pytest.raises(Unauthorized, match="invalid relay token"):
        authenticate(APIGatewayProxyEventV2(event), ("secret",))


def test_json_strings_holding_surrogate_escapes_are_refused_naming_the_field() -> None:
    # AppsFlyer's event_value is JSON inside a JSON string: its own escapes are checked too.
    raw = fixture("appsflyer", "inapp_purchase") | {"event_value": '{"af_content_id": "\\ud800"}'}
    with pytest.raises(BadRequest) as caught:
        ADAPTERS["appsflyer"].parse(raw)
    assert caught.value.body()["field"] == "event_value"
    raw = fixture("kochava", "purchase") | {"event_value": '{"sku": "\\udc00"}'}
    with pytest.raises(BadRequest, match="event_value"):
        ADAPTERS["kochava"].parse(raw)


def test_unencodable() -> None:
    assert not unencodable("plain")
    assert not unencodable("Été 😀")
    assert unencodable("\ud800")
    assert unencodable("a\udcff")


# --------------------------------------------------------------------------------------------
# Device id formats
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "A",
        "ABC",
        "not-a-uuid",
        IOS_IDFA.replace("-", ""),  # 32 hex: Adjust's own device id has this shape
        "{" + IOS_IDFA + "}",
        "urn:uuid:" + IOS_IDFA,
        IOS_IDFA + "0",
        IOS_IDFA[:-1] + "G",
        ZEROS,
        "x" * 5000,
        7,
        1.5,
        True,
        [IOS_IDFA],
        {"idfa": IOS_IDFA},
        None,
    ],
)
def test_uuid_ids_in_any_other_form_count_as_missing(value: Any) -> None:
    assert clean_idfa(value) is None
    assert clean_gaid(value) is None


def test_uuid_ids_are_trimmed_and_cased() -> None:
    assert clean_idfa(f" {IOS_IDFA.lower()} ") == IOS_IDFA
    assert clean_gaid(GAID.upper()) == GAID


@pytest.mark.parametrize(
    "value", ["", "d1e2f3a4b5c6d7e", "d1e2f3a4b5c6d7e8a", "g1e2f3a4b5c6d7e8", GAID, 1234567890123456]
)
def test_android_ids_are_16_hex_digits(value: Any) -> None:
    assert clean_android_id(value) is None
    assert clean_android_id("D1E2F3A4B5C6D7E8") == ANDROID_ID


# (partner, fixture, key path, the DeviceIds attribute the key feeds)
ID_FIELDS: list[tuple[str, str, tuple[str, ...], str]] = [
    ("appsflyer", "install_ios", ("idfa",), "idfa"),
    ("appsflyer", "install_ios", ("idfv",), "idfv"),
    ("appsflyer", "install_android", ("advertising_id",), "adid"),
    ("appsflyer", "install_android", ("android_id",), "android_id"),
    ("adjust", "install_ios", ("idfa",), "idfa"),
    ("adjust", "install_ios", ("idfv",), "idfv"),
    ("adjust", "install_android", ("gps_adid",), "adid"),
    ("adjust", "install_android", ("google_app_set_id",), "android_app_set_id"),
    ("branch", "install_ios", ("user_data", "idfa"), "idfa"),
    ("branch", "install_ios", ("user_data", "idfv"), "idfv"),
    ("branch", "install_android", ("user_data", "aaid"), "adid"),
    ("branch", "install_android", ("user_data", "android_id"), "android_id"),
    ("kochava", "install_ios", ("idfa",), "idfa"),
    ("kochava", "install_android", ("adid",), "adid"),
    ("singular", "install_ios", ("idfa",), "idfa"),
    ("singular", "install_ios", ("idfv",), "idfv"),
    ("singular", "install_android", ("aifa",), "adid"),
    ("tenjin", "install_ios", ("advertising_id",), "idfa"),
    ("tenjin", "install_ios", ("developer_device_id",), "idfv"),
    ("tenjin", "install_android", ("advertising_id",), "adid"),
    ("unity-ads", "install_ios", ("ifa",), "idfa"),
    ("liftoff", "install_android", ("device_id",), "adid"),
]
MALFORMED: dict[str, Any] = {
    "short": "A",
    "no-hyphens": IOS_IDFA.replace("-", ""),
    "5000-chars": "a" * 5000,
    "number": 7,
    "list": [IOS_IDFA],
    "object": {"id": GAID},
    "bool": True,
    "all-zero": ZEROS,
}


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


@pytest.mark.parametrize(("partner", "name", "path", "attribute"), ID_FIELDS, ids=lambda v: str(v))
@pytest.mark.parametrize("malformed", sorted(MALFORMED))
def test_a_malformed_id_in_any_partners_field_counts_as_missing(
    partner: str, name: str, path: tuple[str, ...], attribute: str, malformed: str
) -> None:
    raw = fixture(partner, name)
    if path[0] not in raw and len(path) == 1:
        pytest.skip(f"{partner}/{name} has no {path[0]}")
    well_formed = getattr(ADAPTERS[partner].parse(raw).ids, attribute)
    assert well_formed is not None, "the fixture's own id is kept"
    postback = ADAPTERS[partner].parse(_set(raw, path, MALFORMED[malformed]))
    assert getattr(postback.ids, attribute) is None


def test_the_issues_adjust_body_is_undeliverable_not_an_ios_install_for_device_a() -> None:
    with pytest.raises(Undeliverable) as caught:
        calls_for("adjust", {"platform": 7, "idfa": ["a"], "event_time": {"a": 1}})
    assert caught.value.status == 422
    assert caught.value.body()["code"] == "undeliverable"


def test_an_install_whose_only_ids_are_malformed_is_a_422_with_the_usual_answer() -> None:
    raw = fixture("appsflyer", "install_ios") | {"idfa": "ABC", "idfv": "x" * 5000, "customer_user_id": None}
    with pytest.raises(Undeliverable, match="no usable idfa or idfv and no user id"):
        calls_for("appsflyer", raw)


def test_a_malformed_id_next_to_a_good_one_is_dropped_and_the_good_one_sent() -> None:
    raw = fixture("appsflyer", "install_ios") | {"idfv": "868049A3", "android_id": "a" * 5000}
    [attribution, _identify] = calls_for("appsflyer", raw)
    event = json.loads(json.dumps(attribution.payload))
    assert event["idfa"] == IOS_IDFA
    assert "idfv" not in event
    assert "android_id" not in event
    assert IOS_IDFV not in json.dumps(event)


# --------------------------------------------------------------------------------------------
# Every outgoing limit checked on the way in
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("partner", "name", "path", "field"),
    [
        ("appsflyer", "install_ios", ("customer_user_id",), "customer_user_id"),
        ("adjust", "install_ios", ("user_id",), "user_id"),
        ("branch", "install_ios", ("user_data", "developer_identity"), "user_data.developer_identity"),
        ("kochava", "install_ios", ("user_id",), "user_id"),
        ("singular", "install_ios", ("custom_user_id",), "custom_user_id"),
        ("tenjin", "install_ios", ("customer_user_id",), "customer_user_id"),
    ],
)
def test_a_user_id_longer_than_amplitude_takes_is_a_400_naming_the_field(
    partner: str, name: str, path: tuple[str, ...], field: str
) -> None:
    user_id = "hostile-user-" + "9" * 2000
    with pytest.raises(BadRequest) as caught:
        ADAPTERS[partner].parse(_set(fixture(partner, name), path, user_id))
    assert caught.value.body()["field"] == field
    assert user_id[:20] not in json.dumps(caught.value.body())


@pytest.mark.parametrize("amount", ["1e400", "9" * 500, "-1e309"])
def test_revenue_too_large_for_json_is_a_400(amount: str) -> None:
    raw = fixture("appsflyer", "inapp_purchase") | {"event_revenue": amount}
    with pytest.raises(BadRequest, match="event_revenue is not a finite number"):
        ADAPTERS["appsflyer"].parse(raw)


def test_numbers_too_large_for_json_stay_text_where_they_are_free_data() -> None:
    tenjin = ADAPTERS["tenjin"].parse(fixture("tenjin", "custom_event") | {"value": "9" * 400 + ".5"})
    assert tenjin.event_properties["value"] == "9" * 400 + ".5"
    kochava = ADAPTERS["kochava"].parse(fixture("kochava", "purchase") | {"event_value": "1e400"})
    assert (kochava.revenue, kochava.event_properties) == (None, {"event_value": "1e400"})


def test_timestamps_of_thousands_of_digits_are_unreadable_not_a_crash() -> None:
    raw = fixture("adjust", "install_ios") | {"created_at": "1" * 5000, "installed_at": "1" * 5000}
    assert ADAPTERS["adjust"].parse(raw).time_ms is None
    raw = fixture("liftoff", "install_android") | {"event_timestamp": "1" * 5000}
    calls_for("liftoff", raw)


def test_event_types_fit_amplitudes_limit_whatever_the_label() -> None:
    label = "[" + "L" * 100 + "]"
    convention = Convention(label=label, event_types={}, properties={})
    event_type = convention.event_type(Kind.IN_APP_EVENT, "e" * 1000)
    assert len(event_type) == MAX_STRING
    assert event_type.startswith(label + " e")


@pytest.mark.parametrize(
    "extra",
    [
        "properties:\n  campaign: " + "p" * 201 + "\n",
        "event_types:\n  install: " + "i" * 201 + "\n",
        "fields:\n  campaign: {constant: " + "c" * 1025 + "}\n",
        "fields:\n  revenue: {constant: 1e400}\n",
    ],
    ids=["property-name", "event-type", "constant", "money-constant"],
)
def test_mapping_files_cannot_hold_names_or_constants_amplitude_would_refuse(tmp_path: Path, extra: str) -> None:
    if extra.startswith("fields:"):
        text = "name: net\ndisplay_name: Net\n" + extra
    else:
        text = "name: net\ndisplay_name: Net\nfields:\n  idfa: {from: ifa}\n" + extra
    path = tmp_path / "net.yaml"
    path.write_text(text)
    with pytest.raises(MappingError):
        read_mapping(path)


WRONG_TYPES: dict[str, Any] = {
    "int": 987654321,
    "float": -1.5e300,
    "list": ["x"],
    "object": {"a": 1},
    "null": None,
    "bool": True,
    "long": "y" * 5000,
}


def _leaves(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for key, value in data.items():
        if isinstance(value, dict) and value:
            found.extend(_leaves(value, (*prefix, key)))
        else:
            found.append((*prefix, key))
    return found


def _fits(payload: Any) -> bool:
    """Every string in an Amplitude payload within 1024 characters, every id in its format."""
    if isinstance(payload, dict):
        return all(isinstance(key, str) and len(key) <= MAX_STRING and _fits(item) for key, item in payload.items())
    if isinstance(payload, list):
        return all(_fits(item) for item in payload)
    return not isinstance(payload, str) or len(payload) <= MAX_STRING


@pytest.mark.parametrize("partner", sorted(ADAPTERS))
def test_wrong_types_in_every_field_are_refused_or_count_as_missing_never_a_crash(partner: str) -> None:
    checked = 0
    for path in sorted((FIXTURES / partner).glob("*.json")):
        base = json.loads(path.read_text())
        for leaf in _leaves(base):
            for value in WRONG_TYPES.values():
                raw = _set(json.loads(path.read_text()), leaf, value)
                try:
                    calls = calls_for(partner, raw)
                except RelayError as error:
                    refused = error.status
                    assert 400 <= refused < 500
                    continue
                checked += 1
                for call in calls:
                    assert _fits(call.payload), (leaf, value)
                    for name, check in (("idfa", clean_idfa), ("idfv", clean_idfa), ("adid", clean_gaid)):
                        sent = call.payload.get(name) or call.payload.get("event", {}).get(name)
                        assert sent is None or check(sent) == sent
    assert checked


def test_try_prints_the_partners_400_for_text_that_cannot_be_encoded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "postback.json"
    file.write_text(json.dumps(fixture("appsflyer", "install_ios")).replace("PB_iOS_US_Search_Brand", "PB\\ud800"))
    assert main(["try", "appsflyer", str(file)]) == 1
    out, err = capsys.readouterr()
    answer = json.loads(out)
    assert (answer["status"], answer["code"], answer["field"]) == (400, "bad_request", "body.campaign")
    assert err == ""


def test_try_prints_the_partners_400_for_a_body_that_is_not_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "postback.json"
    file.write_text("[1, 2]")
    assert main(["try", "appsflyer", str(file)]) == 1
    assert json.loads(capsys.readouterr().out)["error"] == "JSON body must be an object, not list"


def test_try_prints_the_500_the_partner_would_get_with_no_traceback_and_no_value(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import postback_relay.mapping as mapping

    def explode(postback: Any, *_args: Any) -> Any:
        raise ValueError(f"cannot map user {postback.user_id}")

    monkeypatch.setattr(mapping, "_attribution_event", explode)
    assert main(["try", "appsflyer", str(FIXTURES / "appsflyer" / "install_ios.json")]) == 1
    out, err = capsys.readouterr()
    answer = json.loads(out)
    assert (answer["status"], answer["code"]) == (500, "internal_error")
    assert "user-100245" not in out + err
    assert "Traceback" not in out + err


def test_try_of_a_callback_url_keeps_the_first_of_a_repeated_key_as_the_route_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = (
        "https://relay.example/v1/postbacks/appsflyer?event_type=install&platform=android"
        f"&advertising_id={GAID}&advertising_id=38400000-8cf0-11bd-b23e-10b96e40000d&media_source=x"
    )
    assert main(["try", "appsflyer", url]) == 0
    [request] = json.loads(capsys.readouterr().out)
    assert request["form"]["event"]["adid"] == GAID
