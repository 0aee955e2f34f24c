"""What Amplitude's Attribution and Identify APIs accept (docs/delivery.md), enforced before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from postback_relay.models.amplitude import AttributionEvent, HttpApiEvent, Identification, UserPropertyOperations


@pytest.mark.parametrize(
    "event",
    [
        {"event_type": "[AppsFlyer] Install", "platform": "ios", "idfa": "A"},
        {"event_type": "[AppsFlyer] Install", "platform": "ios", "idfv": "V"},
        {"event_type": "[AppsFlyer] Install", "platform": "android", "adid": "g"},
        {"event_type": "[AppsFlyer] Install", "platform": "android", "android_app_set_id": "s", "time": 1},
    ],
)
def test_attribution_event_accepts_each_platforms_ids(event: dict[str, Any]) -> None:
    assert AttributionEvent.model_validate(event).wire() == event


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({"event_type": "x", "platform": "ios", "adid": "g"}, "idfa or idfv"),
        ({"event_type": "x", "platform": "android", "idfa": "A", "android_id": "i"}, "adid or android_app_set_id"),
        ({"event_type": "x", "platform": "iOS", "idfa": "A"}, "platform"),
        ({"event_type": "x", "platform": "web", "idfa": "A"}, "platform"),
        ({"event_type": "", "platform": "ios", "idfa": "A"}, "event_type"),
        ({"event_type": "x", "platform": "ios", "idfa": "A", "time": "2026-01-01"}, "time"),
        ({"event_type": "x", "platform": "ios", "idfa": "A", "surprise": 1}, "surprise"),
    ],
)
def test_attribution_event_refuses_what_the_guide_forbids(event: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        AttributionEvent.model_validate(event)


def test_identify_carries_every_user_property_operation_by_its_wire_name() -> None:
    operations = {
        "$set": {"a": 1},
        "$setOnce": {"b": 2},
        "$add": {"c": 3.0},
        "$append": {"d": "x"},
        "$prepend": {"e": "y"},
        "$preInsert": {"f": "z"},
        "$postInsert": {"g": "w"},
        "$remove": {"h": "v"},
        "$unset": {"i": "-"},
        "$clearAll": "-",
    }
    identification = Identification(
        user_id="user-42", user_properties=UserPropertyOperations.model_validate(operations)
    )
    assert identification.wire() == {"user_id": "user-42", "user_properties": operations}


def test_identify_needs_a_user_or_device_and_an_operation() -> None:
    with pytest.raises(ValidationError, match="user_id or device_id"):
        Identification(user_properties=UserPropertyOperations.model_validate({"$set": {"a": 1}}))
    with pytest.raises(ValidationError, match="at least one operation"):
        UserPropertyOperations()


def test_http_v2_event_uses_amplitude_revenue_names() -> None:
    event = HttpApiEvent(
        event_type="[AppsFlyer] af_purchase",
        device_id="V",
        insert_id="k",
        price=9.99,
        quantity=1,
        revenue=9.99,
        currency="USD",
        revenue_type="af_purchase",
        product_id="sku",
    )
    assert event.wire()["revenueType"] == "af_purchase"
    assert event.wire()["productId"] == "sku"
    with pytest.raises(ValidationError, match="user_id or device_id"):
        HttpApiEvent(event_type="x", insert_id="k")
