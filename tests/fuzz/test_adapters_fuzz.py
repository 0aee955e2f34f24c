"""Property: whatever a partner sends, its adapter and the mapping either produce Amplitude calls the
models accept, or refuse with a RelayError (a clear 4xx) — never another exception (a 500)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postback_relay.errors import RelayError
from postback_relay.mapping import to_amplitude_calls
from postback_relay.partners import PartnerAdapter
from postback_relay.partners.custom import load_networks
from postback_relay.partners.registry import coded_partners
from tests.conftest import FIXTURES

ADAPTERS: dict[str, PartnerAdapter] = {**coded_partners(), **load_networks()}

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "null",
            "{idfa}",
            "{{x}}",
            "00000000-0000-0000-0000-000000000000",
            "NaN",
            "1e999",
            "-1",
            "2026-13-45 99:99:99",
            "ios",
            "android",
            "install",
            "true",
            "0",
            "[]",
            "{}",
        ]
    ),
)
values = st.recursive(
    junk,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=6,
)


def fixture_payloads(partner: str) -> list[dict[str, Any]]:
    folder = FIXTURES / partner
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))] if folder.exists() else [{}]


def mutated(partner: str) -> st.SearchStrategy[dict[str, Any]]:
    """A realistic payload of that partner with some fields replaced, removed or added."""

    def mutate(base: dict[str, Any], changes: dict[str, Any], removals: list[str]) -> dict[str, Any]:
        payload = {key: value for key, value in base.items() if key not in removals}
        payload.update(changes)
        return payload

    bases = fixture_payloads(partner)
    keys = sorted({key for base in bases for key in base}) or ["x"]
    return st.builds(
        mutate,
        st.sampled_from(bases),
        st.dictionaries(st.one_of(st.sampled_from(keys), st.text(max_size=12)), values, max_size=6),
        st.lists(st.sampled_from(keys), max_size=4),
    )


@pytest.mark.parametrize("partner", sorted(ADAPTERS))
def test_adapters_never_crash(partner: str) -> None:
    adapter = ADAPTERS[partner]

    @settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(mutated(partner))
    def check(raw: dict[str, Any]) -> None:
        refused_with: int | None = None
        try:
            calls = to_amplitude_calls(adapter.parse(raw), adapter.convention)
        except RelayError as error:
            refused_with = error.status
        else:
            assert calls
            for call in calls:
                json.dumps(call.payload)  # what goes on the wire is plain JSON
        assert refused_with is None or 400 <= refused_with < 500

    check()
