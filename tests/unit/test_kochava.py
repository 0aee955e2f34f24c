"""What only the Kochava adapter has. Its tables (tests/unit/partner_tables/kochava.py: parse rules,
400s, undeliverable postbacks, Amplitude payloads, resends, wiring) run in test_partner_contract.py."""

from __future__ import annotations

import pytest

from postback_relay.errors import BadRequest
from postback_relay.partners.kochava import QUERY_TEMPLATE, parse
from tests.unit.partner_tables.kochava import FIXTURE_NAMES, load


def test_fixtures_use_exactly_the_template_keys() -> None:
    for name in FIXTURE_NAMES:
        assert set(load(name)) == set(QUERY_TEMPLATE)


def test_unrendered_template_is_rejected_not_guessed() -> None:
    with pytest.raises(BadRequest):
        parse(dict(QUERY_TEMPLATE))
