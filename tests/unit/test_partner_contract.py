"""What every partner adapter owes, checked once over every realistic fixture of every partner:
each fixture maps to Amplitude calls, and a resend maps to the same dedup key and insert ids."""

from __future__ import annotations

import pytest

from postback_relay.partners.registry import coded_partners
from tests.conftest import FIXTURES, fixture_json
from tests.unit import partner_cases as cases

CASES = [(name, path.stem) for name in sorted(coded_partners()) for path in sorted((FIXTURES / name).glob("*.json"))]


@pytest.mark.parametrize(("partner", "fixture"), CASES, ids=[f"{p}-{f}" for p, f in CASES])
def test_every_fixture_is_deliverable(partner: str, fixture: str) -> None:
    adapter = coded_partners()[partner]
    assert cases.calls_for(adapter, fixture_json(partner, f"{fixture}.json"))


@pytest.mark.parametrize(("partner", "fixture"), CASES, ids=[f"{p}-{f}" for p, f in CASES])
def test_resend_gives_same_dedup_key_and_insert_ids(partner: str, fixture: str) -> None:
    cases.check_resend(coded_partners()[partner], fixture_json(partner, f"{fixture}.json"))
