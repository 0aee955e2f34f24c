"""User-property operations as Amplitude's Identify API describes them, applied directly and through /identify."""

from __future__ import annotations

from typing import Any

import pytest

from postback_relay_tools.emulator import EmulatorSettings, MixedOperatorsError, apply_user_properties

from .conftest import Client


@pytest.mark.parametrize(
    ("before", "ops", "after"),
    [
        ({}, {"plan": "paid"}, {"plan": "paid"}),  # a plain dict is $set
        ({"plan": "free"}, {"$set": {"plan": "paid"}}, {"plan": "paid"}),
        ({}, {"$setOnce": {"src": "fb"}}, {"src": "fb"}),
        ({"src": "fb"}, {"$setOnce": {"src": "tt"}}, {"src": "fb"}),
        ({}, {"$add": {"n": 3}}, {"n": 3}),  # unset starts from 0
        ({"n": 2}, {"$add": {"n": -5}}, {"n": -3}),
        ({"n": "x"}, {"$add": {"n": 1}}, {"n": "x"}),  # non-numeric: ignored by default [U]
        ({}, {"$append": {"l": "a"}}, {"l": ["a"]}),
        ({"l": "a"}, {"$append": {"l": ["b", "a"]}}, {"l": ["a", "b", "a"]}),  # scalar → list, no dedup
        ({"l": ["b"]}, {"$prepend": {"l": ["x", "y"]}}, {"l": ["x", "y", "b"]}),
        ({"l": ["b", "c"]}, {"$preInsert": {"l": ["a", "b", "a"]}}, {"l": ["a", "b", "c"]}),
        ({"l": ["b", "c"]}, {"$postInsert": {"l": ["c", "d", "e"]}}, {"l": ["b", "c", "d", "e"]}),
        ({"l": ["b"]}, {"$postInsert": {"l": "b"}}, {"l": ["b"]}),  # already present: nothing inserted
        ({"l": ["a", "b", "a", "c"]}, {"$remove": {"l": "a"}}, {"l": ["b", "c"]}),  # every occurrence
        ({"l": ["a", "b", "c"]}, {"$remove": {"l": ["a", "c"]}}, {"l": ["b"]}),
        ({"a": 1, "b": 2}, {"$unset": {"a": "-"}}, {"b": 2}),
        ({"a": 1, "b": 2}, {"$clearAll": "-"}, {}),
        ({"a": 1}, {"$clearAll": "-", "$set": {"b": 2}}, {"b": 2}),  # clearAll applied first
    ],
)
def test_operation_table(before: dict[str, Any], ops: dict[str, Any], after: dict[str, Any]) -> None:
    assert apply_user_properties(before, ops) == after
    assert before == before.copy()  # the input is not mutated


def test_settings_for_undocumented_cases() -> None:
    replace = EmulatorSettings(add_to_non_numeric="replace")
    assert apply_user_properties({"n": "x"}, {"$add": {"n": 2}}, replace) == {"n": 2}
    ignore = EmulatorSettings(insert_into_scalar="ignore")
    assert apply_user_properties({"l": "a"}, {"$postInsert": {"l": "b"}}, ignore) == {"l": "a"}
    assert apply_user_properties({"l": "a"}, {"$postInsert": {"l": "b"}}) == {"l": ["a", "b"]}


@pytest.mark.parametrize("ops", [{"$set": {"a": 1}, "plan": "paid"}, {"$bogus": {"a": 1}}, {"$set": "x"}])
def test_mixing_operators_and_plain_keys_is_an_error(ops: dict[str, Any]) -> None:
    with pytest.raises(MixedOperatorsError):
        apply_user_properties({}, ops)


def test_identify_applies_operations_in_sequence(client: Client) -> None:
    steps: list[dict[str, Any]] = [
        {"$set": {"plan": "free"}, "$setOnce": {"first_source": "facebook"}, "$add": {"logins": 1}},
        {"$setOnce": {"first_source": "tiktok"}, "$add": {"logins": 2}, "$append": {"tags": "a"}},
        {"$postInsert": {"tags": ["a", "b"]}, "$prepend": {"tags": "z"}, "$unset": {"plan": "-"}},
        {"$remove": {"tags": "a"}},
    ]
    for ops in steps:
        assert client.identify({"user_id": "user-42", "user_properties": ops}).text == "success"
    (user,) = client.emu.store.users()
    assert user.user_id == "user-42"
    assert user.properties == {"first_source": "facebook", "logins": 3, "tags": ["z", "b"]}


def test_identify_mixed_operators_rejected_400(client: Client) -> None:
    response = client.identify({"user_id": "user-42", "user_properties": {"$set": {"a": 1}, "plan": "paid"}})
    assert response.status_code == 400
    assert client.emu.store.users() == []


def test_identify_array_and_coupled_fields(client: Client) -> None:
    first = {"device_id": "device-0001", "platform": "iOS", "os_name": "ios", "country": "France", "city": "Paris"}
    second = {"device_id": "device-0001", "os_name": "android", "country": "Spain"}
    response = client.identify([{**first, "user_properties": {}}, {**second, "user_properties": {}}])
    assert response.status_code == 200
    (user,) = client.emu.store.users()
    # Sending os_name alone nulls the other device fields; country alone nulls city (Identify API).
    assert user.device["os_name"] == "android"
    assert user.device["platform"] is None
    assert (user.device["country"], user.device["city"]) == ("Spain", None)


def test_httpapi_user_properties_operations_and_mixing(client: Client) -> None:
    ok = client.events(
        {"event_type": "open", "device_id": "device-0001", "user_properties": {"$add": {"opens": 1}}},
        {"event_type": "open", "device_id": "device-0001", "user_properties": {"$add": {"opens": 1}}},
    )
    assert ok.status_code == 200
    assert client.emu.store.users()[0].properties == {"opens": 2}
    bad = client.events(
        {"event_type": "open", "device_id": "device-0001"},
        {"event_type": "open", "device_id": "device-0001", "user_properties": {"$add": {"x": 1}, "y": 2}},
    )
    assert bad.status_code == 400
    assert bad.json()["events_with_invalid_fields"] == {"user_properties": [1]}
    assert len(client.emu.store.events()) == 2
