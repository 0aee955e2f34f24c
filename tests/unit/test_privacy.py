"""Keyed hashes of IP and user agent in the archive, and how a person is recognised in a record."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from postback_relay.config import reset_settings
from postback_relay.privacy import (
    HASHED_PREFIX,
    REMOVED,
    Person,
    archive_hash_key,
    carried_hashes,
    keyed_hash,
    network_field,
    person_hash,
    pseudonymise,
)
from postback_relay.tracker.service import Tracker, TrackerSettings
from postback_relay_tools.forget import idempotency_keys, message_matches

KEY = "test-hash-key"
IDFA = "A7071198-3848-40A5-B3D0-94578D9B1234"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ip", "ip"),
        ("IP", "ip"),
        ("ip_address", "ip"),
        ("ipAddress", "ip"),
        ("sourceIp", "ip"),
        ("device_ip", "ip"),
        ("ipv6", "ip"),
        ("x_forwarded_for", "ip"),
        ("user_agent", "user_agent"),
        ("userAgent", "user_agent"),
        ("HTTP_USER_AGENT", "user_agent"),
        ("device_ua", "user_agent"),
        ("ua", "user_agent"),
        ("zip", None),
        ("ship_date", None),
        ("ipad_model", None),
        ("tip", None),
        ("campaign_type", None),
        ("customer_user_id", None),
        ("idfa", None),
    ],
)
def test_fields_holding_an_ip_or_a_user_agent_are_found_by_their_name(name: str, kind: str | None) -> None:
    assert network_field(name) == kind


def test_ip_and_user_agent_are_replaced_by_keyed_hashes_at_any_depth_and_nothing_else_changes() -> None:
    raw = {
        "ip": "203.0.113.42",
        "user_agent": "PaperBoat/4.12.0 CFNetwork/1494.0.7 Darwin/23.4.0",
        "user_data": {"ip": "198.51.100.7", "os": "iOS", "x_forwarded_for": ["198.51.100.7", "10.0.0.1"]},
        "campaign_type": "ua",
        "idfa": IDFA,
        "customer_user_id": "user-100245",
        "device_ip": "",
        "ua": None,
    }
    kept, paths = pseudonymise(raw, KEY)
    assert paths == ["ip", "user_agent", "user_data.ip", "user_data.x_forwarded_for"]
    assert kept["ip"] == HASHED_PREFIX + keyed_hash(KEY, "ip|203.0.113.42")
    assert kept["user_agent"].startswith(HASHED_PREFIX)
    assert kept["user_data"]["x_forwarded_for"][0] == kept["user_data"]["ip"]  # the same address, the same hash
    # Everything else as received: the ids replay needs, the values that only look like one.
    assert {k: kept[k] for k in ("campaign_type", "idfa", "customer_user_id", "device_ip", "ua")} == {
        "campaign_type": "ua",
        "idfa": IDFA,
        "customer_user_id": "user-100245",
        "device_ip": "",
        "ua": None,
    }
    assert kept["user_data"]["os"] == "iOS"
    text = json.dumps(kept)
    for value in ("203.0.113.42", "198.51.100.7", "10.0.0.1", "CFNetwork"):
        assert value not in text
    assert raw["ip"] == "203.0.113.42"  # a copy: the postback itself is not changed


def test_the_hash_depends_on_the_key() -> None:
    assert pseudonymise({"ip": "203.0.113.42"}, "one")[0] != pseudonymise({"ip": "203.0.113.42"}, "two")[0]


def test_without_a_key_the_values_are_removed() -> None:
    assert pseudonymise({"ip": "203.0.113.42", "ua": "x"}, None) == ({"ip": REMOVED, "ua": REMOVED}, ["ip", "ua"])


def test_in_lambda_without_a_configured_key_nothing_is_hashed_under_the_public_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RELAY_HASH_SALT", raising=False)
    reset_settings()
    assert archive_hash_key() == "postback-relay-local"  # locally: the default is fine
    # Settings are read once per container (its cold start): a changed environment is a new one.
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "stack-AppsFlyerFunction-abc")
    reset_settings()
    assert archive_hash_key() is None
    monkeypatch.setenv("RELAY_HASH_SALT", "secret")
    reset_settings()
    assert archive_hash_key() == "secret"
    reset_settings()


def test_a_device_hashes_as_the_trackers_device_hash() -> None:
    tracker = Tracker(cast(Any, None), cast(Any, None), TrackerSettings("https://example.com", KEY, True))
    assert person_hash(KEY, "device", IDFA) == tracker.device_hash(IDFA)
    assert person_hash(KEY, "device", IDFA.lower()) == tracker.device_hash(IDFA)


def test_a_person_never_shows_their_id() -> None:
    person = Person("user", "user-100245", KEY)
    assert "user-100245" not in repr(person)
    assert "user-100245" not in str(person)
    assert person.hash in repr(person)


DOCUMENTS: list[Any] = [
    {"customer_user_id": "user-100245"},
    {"customer_user_id": " user-100245 "},
    {"customer_user_id": "USER-100245"},
    {"call": {"payload": {"events": [{"idfa": IDFA.lower()}]}}},
    {"nested": [{"deep": {"android_id": "abcdef0123456789"}}]},
    {"number": 100245},
    {"device_hash": person_hash(KEY, "device", IDFA)},
    {"campaign": "user-1002456"},
    {},
]


@pytest.mark.parametrize("document", DOCUMENTS)
@pytest.mark.parametrize(
    "person",
    [
        Person("user", "user-100245", KEY),
        Person("device", IDFA, KEY),
        Person("device", "ABCDEF0123456789", KEY),
        Person("user", "100245", KEY),
    ],
    ids=repr,
)
def test_matching_a_person_and_finding_their_hash_agree(person: Person, document: Any) -> None:
    """forget matches by the id, replay by its hash: the same records either way."""
    assert person.matches(document) == (person.hash in carried_hashes(KEY, document))


def test_a_user_id_matches_exactly_a_device_id_whatever_its_case() -> None:
    assert Person("user", "user-100245", KEY).matches({"a": " user-100245"})
    assert not Person("user", "user-100245", KEY).matches({"a": "USER-100245"})
    assert not Person("user", "user-100245", KEY).matches({"a": "user-1002450"})
    assert Person("device", IDFA.lower(), KEY).matches({"idfa": IDFA})


def test_the_ids_an_adapter_reads_count_too() -> None:
    person = Person("user", "user-100245", KEY)
    assert person.matches({}, [("user", "user-100245")])
    assert not person.matches({}, [("device", "user-100245")])
    assert person.hash in carried_hashes(KEY, {}, [("user", "user-100245")])


def test_queue_messages_match_through_an_unreadable_body_too() -> None:
    person = Person("device", IDFA, KEY)
    letter = {"reason": "unreadable_message", "raw_body": json.dumps({"call": {"payload": {"idfa": IDFA}}})}
    assert message_matches(person, json.dumps(letter))
    truncated = {"reason": "unreadable_message", "raw_body": '{"call": {"payload": {"idfa": "' + IDFA}
    assert message_matches(person, json.dumps(truncated))
    assert message_matches(person, "not json " + IDFA.lower())
    assert not message_matches(person, json.dumps({"reason": "rejected", "raw_body": None}))


def test_a_messages_idempotency_keys_are_its_postbacks_and_its_deliverys() -> None:
    postback_id = "0123456789abcdef0123456789abcdef01234567"
    body = json.dumps(
        {"partner": "adjust", "call": {"insert_id": f"adjust-attribution-{postback_id}"}, "delivery_id": "d1"}
    )
    assert idempotency_keys(body) == {f"adjust:{postback_id}", "retry:d1"}
    assert idempotency_keys(json.dumps({"partner": "tracker", "call": {"insert_id": "tracker-events-x"}})) == set()
    assert idempotency_keys("not json") == set()
