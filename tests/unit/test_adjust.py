"""What only the Adjust adapter has. Its tables (tests/unit/partner_tables/adjust.py: parse rules,
400s, undeliverable callbacks, Amplitude payloads, resends, wiring) run in test_partner_contract.py."""

from __future__ import annotations

import json

import pytest

from postback_relay.errors import BadRequest
from postback_relay.partners.adjust import QUERY_TEMPLATE, parse
from tests.unit.partner_tables.adjust import ADJUST_DEVICE_ID, calls_for, load, raw


def test_adjust_device_id_is_never_sent() -> None:
    """Adjust's own {adid} is no Amplitude id (partner_tables/adjust.py: nor read)."""
    for call in calls_for(load("install_android")):
        assert ADJUST_DEVICE_ID not in json.dumps(call.payload)


def test_unforwarded_activity_says_so() -> None:
    with pytest.raises(BadRequest, match=r"'session' is not forwarded to Amplitude"):
        parse(raw("install_ios", activity_kind="session"))


def test_legacy_cents_revenue_reaches_amplitude_in_whole_units() -> None:
    [call] = calls_for(raw("purchase", revenue_float="", revenue="1299", revenue_usd=""))
    assert call.payload["revenue"] == 12.99
    assert call.payload["currency"] == "EUR"


def test_query_template_holds_the_device_ids_not_adjusts_own() -> None:
    assert QUERY_TEMPLATE["gps_adid"] == "{gps_adid}"
    # Adjust's own device id and the appended user_id callback parameter are not in the template.
    assert "adid" not in QUERY_TEMPLATE
    assert "user_id" not in QUERY_TEMPLATE
    assert {"activity_kind", "created_at", "idfa", "idfv", "gps_adid", "google_app_set_id"} <= set(QUERY_TEMPLATE)
