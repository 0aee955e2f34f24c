"""What only the Tenjin adapter has. Its tables (tests/unit/partner_tables/tenjin.py: parse rules,
400s, undeliverable callbacks, Amplitude payloads, resends, wiring) run in test_partner_contract.py."""

from __future__ import annotations

from postback_relay.partners.tenjin import EVENT_TYPES, QUERY_TEMPLATE


def test_query_template_leaves_event_type_to_the_user() -> None:
    assert QUERY_TEMPLATE["advertising_id"] == "{{advertising_id}}"
    assert "event_type" not in QUERY_TEMPLATE  # a literal per callback, not a macro
    assert "analytics_installation_id" not in QUERY_TEMPLATE
    assert set(EVENT_TYPES) >= {"install", "event", "purchase"}
