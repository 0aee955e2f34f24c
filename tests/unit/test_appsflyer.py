"""What only the AppsFlyer adapter has. Its tables (tests/unit/partner_tables/appsflyer.py: parse
rules, 400s, undeliverable messages, Amplitude payloads, resends, wiring) run in
test_partner_contract.py.

GET delivery of the Push API is simulated by turning every value of a fixture into a string.
"""

from __future__ import annotations

from typing import Any

import pytest

from postback_relay.models.postback import Campaign, Kind
from postback_relay.partners.appsflyer import CONVENTION, parse
from tests.unit import partner_cases as cases
from tests.unit.partner_tables.appsflyer import FIXTURE_NAMES, IOS_INSTALL_MS, calls_for, load, raw


def as_query(payload: dict[str, Any], null: str = "") -> dict[str, str]:
    """The same message as AppsFlyer's GET delivery: every value a string."""

    def text(value: Any) -> str:
        if value is None:
            return null
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return {key: text(value) for key, value in payload.items()}


@pytest.mark.parametrize("name", FIXTURE_NAMES)
@pytest.mark.parametrize("null", ["", "null"], ids=["null-as-empty", "null-as-word"])
def test_get_query_strings_parse_like_post_json(name: str, null: str) -> None:
    """GET delivery (all strings: "true", "9.99", "" or "null") gives the same postback as POST."""
    assert parse(as_query(load(name), null)) == parse(load(name))


def test_get_query_retargeting_install() -> None:
    query = as_query(raw("install_ios", drop=("event_type",), is_retargeting=True))
    assert query["is_retargeting"] == "true"
    postback = parse(query)
    assert postback.kind is Kind.RE_ENGAGEMENT
    assert postback.time_ms == IOS_INSTALL_MS


def test_full_ios_user_properties_are_exact() -> None:
    """No stray properties: the attribution event carries exactly the convention's fields."""
    attribution = calls_for(load("install_ios"))[0]
    assert set(attribution.payload["user_properties"]) == {
        CONVENTION.property_name(name) for name in CONVENTION.properties
    }


def test_in_app_purchase_properties_and_insert_id() -> None:
    [call] = calls_for(load("inapp_purchase"))
    assert call.payload["insert_id"] == call.insert_id
    assert call.insert_id.startswith("appsflyer-httpapi-")
    cases.assert_subset(
        call.payload["event_properties"],
        {
            "af_content_id": "sku_gold_100",
            "af_quantity": 1,
            "[AppsFlyer] revenue usd": 10.8741,
            "[AppsFlyer] media source": "Facebook Ads",
            "[AppsFlyer] is organic": False,
        },
    )


def test_convention_names_every_campaign_field() -> None:
    campaign_fields = set(Campaign.model_fields) - {"touch_time_ms"}
    assert set(CONVENTION.properties) == campaign_fields | {"is_organic", "touch_time", "install_time"}
