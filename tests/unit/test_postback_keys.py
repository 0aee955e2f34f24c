"""What a route keys a postback on (`core.plan`, as the partner route and `try` call it): a resend
keeps its key, and two different postbacks never share one, even when they normalise alike.

Keyed on the normalised fields, two AppsFlyer postbacks that differed only in a platform the
mapping reads the same (tvOS, iPadOS) got one key: the second was answered with the first's answer
and never sent. Now the key is the partner's own event id, else the raw postback less its token."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from postback_relay.core import plan
from postback_relay.partners.registry import coded_partners
from tests.conftest import FIXTURES, fixture_json

CASES = [(name, path.stem) for name in sorted(coded_partners()) for path in sorted((FIXTURES / name).glob("*.json"))]
IDS = [f"{partner}-{fixture}" for partner, fixture in CASES]


def insert_ids(raw: dict[str, Any], partner: str) -> set[str]:
    return {call.insert_id for call in plan(coded_partners()[partner], raw).calls}


@pytest.mark.parametrize(("partner", "fixture"), CASES, ids=IDS)
def test_a_resend_keeps_its_key_whatever_its_token_or_key_order(partner: str, fixture: str) -> None:
    adapter = coded_partners()[partner]
    raw = fixture_json(partner, f"{fixture}.json")
    resend = dict(reversed(list(copy.deepcopy(raw).items())))
    resend["token"] = "another-valid-token-after-a-rotation"
    assert plan(adapter, resend).postback_id == plan(adapter, raw).postback_id
    assert insert_ids(resend, partner) == insert_ids(raw, partner)


def _has_event_id(partner: str, fixture: str) -> bool:
    return coded_partners()[partner].parse(fixture_json(partner, f"{fixture}.json")).partner_event_id is not None


KEYED_BY_EVENT_ID = [case for case in CASES if _has_event_id(*case)]
KEYED_AS_RECEIVED = [case for case in CASES if case not in KEYED_BY_EVENT_ID]


def with_an_unread_key(partner: str, fixture: str) -> tuple[dict[str, Any], dict[str, Any]]:
    raw = fixture_json(partner, f"{fixture}.json")
    return raw, {**copy.deepcopy(raw), "a_key_no_adapter_reads": "another postback"}


@pytest.mark.parametrize(("partner", "fixture"), KEYED_AS_RECEIVED, ids=[f"{p}-{f}" for p, f in KEYED_AS_RECEIVED])
def test_a_different_postback_never_shares_a_key_even_if_it_normalises_alike(partner: str, fixture: str) -> None:
    adapter = coded_partners()[partner]
    raw, other = with_an_unread_key(partner, fixture)
    first, second = plan(adapter, raw), plan(adapter, other)
    assert first.postback == second.postback  # the adapter cannot tell them apart
    assert second.postback_id != first.postback_id
    assert insert_ids(raw, partner).isdisjoint(insert_ids(other, partner))


@pytest.mark.parametrize(("partner", "fixture"), KEYED_BY_EVENT_ID, ids=[f"{p}-{f}" for p, f in KEYED_BY_EVENT_ID])
def test_the_partners_event_id_makes_it_a_resend_whatever_else_changed(partner: str, fixture: str) -> None:
    adapter = coded_partners()[partner]
    raw, other = with_an_unread_key(partner, fixture)
    first, second = plan(adapter, raw), plan(adapter, other)
    assert first.postback == second.postback
    assert second.postback_id == first.postback_id


def test_two_apple_platforms_are_two_postbacks() -> None:
    """The case that was lost: one tvOS and one iPadOS install, otherwise alike."""
    adapter = coded_partners()["appsflyer"]
    tvos = {**fixture_json("appsflyer", "install_ios.json"), "platform": "tvos"}
    ipados = {**fixture_json("appsflyer", "install_ios.json"), "platform": "ipados"}
    assert plan(adapter, tvos).postback == plan(adapter, ipados).postback
    assert plan(adapter, tvos).postback_id != plan(adapter, ipados).postback_id
