"""What the partner adapter tests share: fixtures with changes, and the table-driven checks.

Each tests/unit/partner_tables/<partner>.py keeps its own tables (PARSE_CASES, BAD_REQUEST_CASES,
UNDELIVERABLE_CASES, AMPLITUDE_CASES, ...); tests/unit/test_partner_contract.py runs every row of
every partner through the checks here, so one rule ("a 400 names the field", "the final Amplitude
payloads hold these values") is written once. tests/unit/test_<partner>.py keeps what only that
partner has.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from functools import reduce
from typing import Any

import pytest

from postback_relay.core import plan
from postback_relay.errors import BadRequest, NotForwarded, Undeliverable
from postback_relay.mapping import to_amplitude_calls
from postback_relay.models.amplitude import AmplitudeCall
from postback_relay.models.postback import Kind, Postback
from postback_relay.partners import Convention, PartnerAdapter
from tests.conftest import fixture_json

Parse = Callable[[Any], Postback]
ExpectedCalls = list[tuple[str, dict[str, Any]]]

# The same test device in every partner's fixtures.
IOS_IDFA = "A7071198-3848-40A5-B3D0-94578D9B1234"
IOS_IDFV = "868049A3-4B2F-4A11-9B00-CFFC36215678"
GAID = "9c9a82fb-d5de-4cd1-90c3-527441c11828"


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


def load(partner: str, name: str) -> dict[str, Any]:
    """tests/fixtures/<partner>/<name>.json, a fresh copy each time."""
    return fixture_json(partner, f"{name}.json")


def changed(payload: dict[str, Any], drop: tuple[str, ...] = (), **changes: Any) -> dict[str, Any]:
    """`payload` with some keys replaced (`changes`) or removed entirely (`drop`)."""
    payload.update(changes)
    for key in drop:
        payload.pop(key, None)
    return payload


class PartnerCases:
    """One adapter's fixtures (tests/fixtures/<adapter name>/): `load(name)`,
    `raw(name, drop=..., **changes)`, and `calls(payload)`: the final Amplitude calls."""

    def __init__(self, adapter: PartnerAdapter) -> None:
        self.adapter = adapter

    def load(self, name: str) -> dict[str, Any]:
        return load(self.adapter.name, name)

    def raw(self, name: str, /, drop: tuple[str, ...] = (), **changes: Any) -> dict[str, Any]:
        return changed(self.load(name), drop, **changes)

    def calls(self, payload: Mapping[str, Any]) -> list[AmplitudeCall]:
        return calls_for(self.adapter, payload)


# --------------------------------------------------------------------------------------------
# Postbacks and Amplitude calls
# --------------------------------------------------------------------------------------------


def attr(obj: Any, path: str) -> Any:
    """A dotted attribute path: attr(postback, "campaign.media_source")."""
    return reduce(getattr, path.split("."), obj)


def calls_for(adapter: PartnerAdapter, payload: Mapping[str, Any]) -> list[AmplitudeCall]:
    """The final Amplitude calls of one raw postback."""
    return to_amplitude_calls(adapter.parse(payload), adapter.convention)


def payload_by_endpoint(calls: list[AmplitudeCall]) -> dict[str, dict[str, Any]]:
    """endpoint ("attribution", "identify", "httpapi") → the payload sent there."""
    return {call.endpoint: call.payload for call in calls}


def insert_ids(adapter: PartnerAdapter, payload: Mapping[str, Any]) -> list[str]:
    """The insert ids the partner's route gives a raw postback (`core.plan`: keyed as received)."""
    return [call.insert_id for call in plan(adapter, payload).calls]


def assert_subset(actual: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    for key, value in expected.items():
        assert key in actual, f"{key!r} missing from {sorted(actual)}"
        assert actual[key] == value, f"{key!r}: {actual[key]!r} != {value!r}"


def assert_nested_subset(actual: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    """Like assert_subset, but dict values are compared as subsets too (user_properties etc.)."""
    for key, value in expected.items():
        assert key in actual, f"{key!r} missing from {sorted(actual)}"
        if isinstance(value, dict):
            assert_nested_subset(actual[key], value)
        else:
            assert actual[key] == value, f"{key!r}: {actual[key]!r} != {value!r}"


# --------------------------------------------------------------------------------------------
# The table-driven checks
# --------------------------------------------------------------------------------------------


def check_parse(parse: Parse, payload: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    """A PARSE_CASES row: each "dotted attribute path" of the postback has the expected value."""
    postback = parse(payload)
    for path, value in expected.items():
        assert attr(postback, path) == value, path


def check_bad_request(parse: Parse, payload: Mapping[str, Any], message_part: str, field: str) -> None:
    """A BAD_REQUEST_CASES row: a 400 whose message says what is wrong and names the field."""
    with pytest.raises(BadRequest) as caught:
        parse(payload)
    assert message_part in caught.value.message
    assert caught.value.details["field"] == field
    assert caught.value.status == 400


def check_undeliverable(adapter: PartnerAdapter, payload: Mapping[str, Any]) -> None:
    """An UNDELIVERABLE_CASES row: nothing Amplitude could match on, so nothing is sent."""
    with pytest.raises(Undeliverable):
        calls_for(adapter, payload)


def check_amplitude_calls(adapter: PartnerAdapter, payload: Mapping[str, Any], expected_calls: ExpectedCalls) -> None:
    """An AMPLITUDE_CASES row: exactly these endpoints, in order, each payload holding these values."""
    calls = calls_for(adapter, payload)
    assert [call.endpoint for call in calls] == [endpoint for endpoint, _ in expected_calls]
    for call, (_, expected_payload) in zip(calls, expected_calls, strict=True):
        assert_nested_subset(call.payload, expected_payload)


def check_ad_revenue(
    adapter: PartnerAdapter, payload: Mapping[str, Any], amount: float, currency: str, ad: Mapping[str, Any]
) -> None:
    """An AD_REVENUE_CASES row: one HTTP V2 event whose revenue is `amount` in `currency`, typed
    "ad_revenue" (one Amplitude revenue chart across partners), with the ad's properties."""
    [call] = calls_for(adapter, payload)
    assert call.endpoint == "httpapi"
    event = call.payload
    assert (event["revenue"], event["price"], event["quantity"]) == (amount, amount, 1)
    assert (event["currency"], event["revenueType"]) == (currency, "ad_revenue")
    assert_nested_subset(event["event_properties"], dict(ad))


def check_not_forwarded(adapter: PartnerAdapter, payload: Mapping[str, Any], message_part: str) -> None:
    """A NOT_FORWARDED_CASES row: a postback Amplitude can do nothing with (SKAdNetwork) is named
    as such, never taken for a broken install (a 400) or an undeliverable one (a 422)."""
    with pytest.raises(NotForwarded) as raised:
        plan(adapter, payload)
    assert message_part in raised.value.message


def check_resend(adapter: PartnerAdapter, payload: Mapping[str, Any]) -> None:
    """The same postback sent again: the same dedup key and the same Amplitude insert ids."""
    resend = copy.deepcopy(payload)
    assert plan(adapter, resend).postback_id == plan(adapter, payload).postback_id
    assert insert_ids(adapter, resend) == insert_ids(adapter, payload)


def check_different_keys(
    adapter: PartnerAdapter, original: Mapping[str, Any], changed_payload: Mapping[str, Any]
) -> None:
    """A different postback (e.g. another event time): a different dedup key, and no insert id
    in common (Amplitude would drop the second as a duplicate)."""
    assert plan(adapter, changed_payload).postback_id != plan(adapter, original).postback_id
    assert set(insert_ids(adapter, original)).isdisjoint(insert_ids(adapter, changed_payload))


def check_same_keys(adapter: PartnerAdapter, first: Mapping[str, Any], resend: Mapping[str, Any]) -> None:
    """The same postback sent again, changed only where the partner's id says it is the same event
    or in its credential (the token): the same dedup key on the partner's route."""
    assert plan(adapter, resend).postback_id == plan(adapter, first).postback_id


def check_unread_keys(parse: Parse, original: Mapping[str, Any], with_unread_keys: Mapping[str, Any]) -> None:
    """Keys the adapter never reads (the token, the partner's own device id): the same postback."""
    assert parse(with_unread_keys) == parse(original)


def check_zeroed_idfa_never_sent(adapter: PartnerAdapter, payload: Mapping[str, Any]) -> None:
    """An all-zero IDFA (ATT denied) would merge every opted-out user: it never reaches Amplitude."""
    assert "idfa" not in payload_by_endpoint(calls_for(adapter, payload))["attribution"]


def check_no_revenue_fields(call: AmplitudeCall) -> None:
    for field in ("price", "revenue", "quantity", "currency", "revenueType"):
        assert field not in call.payload


def check_event_without_revenue(adapter: PartnerAdapter, payload: Mapping[str, Any], event_type: str) -> None:
    """An in-app event without revenue: one HTTP API event of its own name, no revenue fields."""
    [call] = calls_for(adapter, payload)
    assert call.payload["event_type"] == event_type
    check_no_revenue_fields(call)


def check_user_properties_exact(
    adapter: PartnerAdapter, payload: Mapping[str, Any], expected: Mapping[str, Any]
) -> None:
    """No stray properties: the attribution event carries exactly these user properties."""
    assert payload_by_endpoint(calls_for(adapter, payload))["attribution"]["user_properties"] == expected


def check_missing_keys_parse_like_empty(parse: Parse, payload: Mapping[str, Any]) -> None:
    """A macro without data is dropped or left empty by the partner: the same postback either way."""
    trimmed = {key: value for key, value in payload.items() if value != ""}
    assert parse(trimmed) == parse(payload)


def check_get_query_fixture(payload: Mapping[str, Any], template_keys: set[str]) -> None:
    """A realistic GET callback: flat, every value a string, at least every template key."""
    assert all(isinstance(value, str) for value in payload.values())
    assert template_keys <= set(payload)


def check_template_keys_are_macro_names(template: Mapping[str, str], open_: str, close: str) -> None:
    """Each query key of a recommended template is its macro's own name (`idfa={idfa}`)."""
    for key, macro in template.items():
        assert macro == f"{open_}{key}{close}", key


# (Convention method, its arguments, the name it gives): ("property_name", ("media_source",), "[adjust] network").
ConventionNames = list[tuple[str, tuple[Any, ...], str]]


def check_convention_names(convention: Convention, names: ConventionNames) -> None:
    """The Amplitude names the convention gives, and an event type for every attribution kind."""
    for method, args, expected in names:
        assert getattr(convention, method)(*args) == expected, (method, args)
    assert set(convention.event_types) == {kind for kind in Kind if kind.is_attribution}


def check_adapter_wiring(
    adapter: PartnerAdapter,
    *,
    name: str,
    display_name: str,
    method: str,
    convention: Convention,
    parse: Parse,
    query_template: Mapping[str, str] | None,
    sample: Mapping[str, Any],
) -> None:
    assert adapter.name == name
    assert adapter.display_name == display_name
    assert adapter.method == method
    assert adapter.query_template is query_template
    assert adapter.convention is convention
    assert adapter.parse is parse
    assert adapter.route == f"/v1/postbacks/{name}"
    assert isinstance(adapter.parse(sample), Postback)
