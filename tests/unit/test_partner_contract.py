"""What every partner adapter owes, checked once over every partner's tables
(tests/unit/partner_tables/<partner>.py) and over every realistic fixture of every partner.

A row's id is `<partner>-<case id>`, so a failure names the partner and the case. A partner
without a table (no SAME_EVENT_CASES, say) simply has no rows in that test.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from postback_relay.partners.registry import coded_partners
from tests.conftest import FIXTURES, fixture_json
from tests.unit import partner_cases as cases
from tests.unit.partner_tables import adjust, appsflyer, branch, kochava, singular, tenjin

TABLES: dict[str, ModuleType] = {
    table.ADAPTER.name: table for table in (adjust, appsflyer, branch, kochava, singular, tenjin)
}
PARTNERS = sorted(TABLES)
RUN: set[str] = set()  # the tables some test below runs


def rows(table_name: str) -> list[Any]:
    """Every partner's `table_name` rows, each led by the partner's name, ids `<partner>-<case id>`."""
    RUN.add(table_name)
    params = []
    for partner, table in TABLES.items():
        for row in getattr(table, table_name, []):
            if row.id is None:
                raise ValueError(f"{partner}.{table_name}: a row without an id")
            params.append(pytest.param(partner, *row.values, id=f"{partner}-{row.id}", marks=row.marks))
    return params


def test_every_coded_partner_has_tables_and_every_table_runs() -> None:
    assert set(TABLES) == set(coded_partners())
    # A misspelt table name would otherwise just have no rows.
    for partner, table in TABLES.items():
        assert {name for name in vars(table) if name.endswith("_CASES")} <= RUN, partner


# --------------------------------------------------------------------------------------------
# Every fixture of every partner
# --------------------------------------------------------------------------------------------

CASES = [(name, path.stem) for name in sorted(coded_partners()) for path in sorted((FIXTURES / name).glob("*.json"))]


@pytest.mark.parametrize(("partner", "fixture"), CASES, ids=[f"{p}-{f}" for p, f in CASES])
def test_every_fixture_is_deliverable(partner: str, fixture: str) -> None:
    adapter = coded_partners()[partner]
    assert cases.calls_for(adapter, fixture_json(partner, f"{fixture}.json"))


@pytest.mark.parametrize(("partner", "fixture"), CASES, ids=[f"{p}-{f}" for p, f in CASES])
def test_resend_gives_same_dedup_key_and_insert_ids(partner: str, fixture: str) -> None:
    cases.check_resend(coded_partners()[partner], fixture_json(partner, f"{fixture}.json"))


# --------------------------------------------------------------------------------------------
# parse(): one row per mapping rule
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("partner", "payload", "expected"), rows("PARSE_CASES"))
def test_parse(partner: str, payload: dict[str, Any], expected: dict[str, Any]) -> None:
    cases.check_parse(TABLES[partner].parse, payload, expected)


@pytest.mark.parametrize(("partner", "payload", "template_keys"), rows("GET_QUERY_FIXTURE_CASES"))
def test_fixtures_are_get_query_dicts(partner: str, payload: dict[str, Any], template_keys: set[str]) -> None:
    cases.check_get_query_fixture(payload, template_keys)


@pytest.mark.parametrize(("partner", "payload"), rows("MISSING_KEYS_CASES"))
def test_missing_keys_parse_like_empty_ones(partner: str, payload: dict[str, Any]) -> None:
    cases.check_missing_keys_parse_like_empty(TABLES[partner].parse, payload)


@pytest.mark.parametrize(("partner", "original", "with_unread_keys"), rows("UNREAD_KEY_CASES"))
def test_unread_keys_are_not_data(partner: str, original: dict[str, Any], with_unread_keys: dict[str, Any]) -> None:
    cases.check_unread_keys(TABLES[partner].parse, original, with_unread_keys)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("partner", "payload", "message_part", "field"), rows("BAD_REQUEST_CASES"))
def test_bad_request(partner: str, payload: dict[str, Any], message_part: str, field: str) -> None:
    cases.check_bad_request(TABLES[partner].parse, payload, message_part, field)


@pytest.mark.parametrize(("partner", "payload"), rows("UNDELIVERABLE_CASES"))
def test_undeliverable(partner: str, payload: dict[str, Any]) -> None:
    cases.check_undeliverable(TABLES[partner].ADAPTER, payload)


# --------------------------------------------------------------------------------------------
# Final Amplitude payloads
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("partner", "payload", "expected_calls"), rows("AMPLITUDE_CASES"))
def test_amplitude_calls(partner: str, payload: dict[str, Any], expected_calls: cases.ExpectedCalls) -> None:
    cases.check_amplitude_calls(TABLES[partner].ADAPTER, payload, expected_calls)


@pytest.mark.parametrize(("partner", "payload", "amount", "currency", "ad"), rows("AD_REVENUE_CASES"))
def test_ad_revenue_is_http_v2_revenue_with_its_currency(
    partner: str, payload: dict[str, Any], amount: float, currency: str, ad: dict[str, Any]
) -> None:
    cases.check_ad_revenue(TABLES[partner].ADAPTER, payload, amount, currency, ad)


@pytest.mark.parametrize(("partner", "payload", "message_part"), rows("NOT_FORWARDED_CASES"))
def test_aggregated_postbacks_are_answered_as_not_forwarded(
    partner: str, payload: dict[str, Any], message_part: str
) -> None:
    cases.check_not_forwarded(TABLES[partner].ADAPTER, payload, message_part)


@pytest.mark.parametrize(("partner", "payload", "user_properties"), rows("EXACT_USER_PROPERTIES_CASES"))
def test_full_user_properties_are_exact(partner: str, payload: dict[str, Any], user_properties: dict[str, Any]) -> None:
    cases.check_user_properties_exact(TABLES[partner].ADAPTER, payload, user_properties)


@pytest.mark.parametrize(("partner", "payload"), rows("ZEROED_IDFA_CASES"))
def test_zeroed_idfa_never_reaches_amplitude(partner: str, payload: dict[str, Any]) -> None:
    cases.check_zeroed_idfa_never_sent(TABLES[partner].ADAPTER, payload)


@pytest.mark.parametrize(("partner", "payload", "event_type"), rows("NO_REVENUE_CASES"))
def test_event_without_revenue_has_no_revenue_fields(partner: str, payload: dict[str, Any], event_type: str) -> None:
    cases.check_event_without_revenue(TABLES[partner].ADAPTER, payload, event_type)


# --------------------------------------------------------------------------------------------
# Resends: the same postback -> the same keys; a different one -> different keys
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("partner", "original", "changed"), rows("DIFFERENT_EVENT_CASES"))
def test_different_event_gives_different_keys(partner: str, original: dict[str, Any], changed: dict[str, Any]) -> None:
    cases.check_different_keys(TABLES[partner].ADAPTER, original, changed)


@pytest.mark.parametrize(("partner", "first", "resend"), rows("SAME_EVENT_CASES"))
def test_same_event_gives_same_dedup_key(partner: str, first: dict[str, Any], resend: dict[str, Any]) -> None:
    cases.check_same_keys(TABLES[partner].ADAPTER, first, resend)


# --------------------------------------------------------------------------------------------
# Template, convention and adapter wiring
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("partner", "template", "open_", "close"), rows("TEMPLATE_CASES"))
def test_query_template_keys_are_macro_names(partner: str, template: dict[str, str], open_: str, close: str) -> None:
    cases.check_template_keys_are_macro_names(template, open_, close)


@pytest.mark.parametrize("partner", PARTNERS)
def test_convention_names(partner: str) -> None:
    table = TABLES[partner]
    cases.check_convention_names(table.CONVENTION, getattr(table, "CONVENTION_NAMES", []))


@pytest.mark.parametrize("partner", PARTNERS)
def test_adapter_wiring(partner: str) -> None:
    cases.check_adapter_wiring(TABLES[partner].ADAPTER, **TABLES[partner].WIRING)
