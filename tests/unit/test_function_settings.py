"""Each function checks its settings at cold start: a deployment missing a variable fails the
function's init with the variable's name, instead of answering its first postback with a 500.
The functions are loaded as Lambda loads them (functions/*/app.py, through serve's template
reader), each with the environment template.yaml gives it."""

from __future__ import annotations

from typing import Any

import pytest

from postback_relay.config import ConfigurationError
from postback_relay.runtime import loading_environment
from postback_relay_tools.local.template import FunctionSpec, load_template
from tests.conftest import ROOT

TEMPLATE = load_template(ROOT / "template.yaml")
FUNCTIONS: dict[str, FunctionSpec] = {
    spec.logical_id: spec
    for spec in [route.function for route in TEMPLATE.routes] + [consumer.function for consumer in TEMPLATE.consumers]
}
PARTNER_FUNCTIONS = sorted(name for name in FUNCTIONS if name not in ("RetryFunction", "TrackerFunction"))

# What each function cannot start without, beyond what they all need.
EVERY_FUNCTION_NEEDS = ("RELAY_RETRY_QUEUE_URL", "RELAY_DLQ_URL")
ALSO_NEEDED = {
    "RetryFunction": ("RELAY_IDEMPOTENCY_TABLE",),
    "TrackerFunction": ("RELAY_APPS_TABLE", "RELAY_CLICKS_TABLE", "RELAY_INSTALLS_TABLE"),
}


def deployed_environment(function: FunctionSpec) -> dict[str, str]:
    """What the template sets for `function`, parameters at their defaults and each resource
    named after its logical id (as CloudFormation would fill a !Ref in)."""
    variables: dict[str, Any] = {**TEMPLATE.global_environment, **function.own_environment}
    return {
        name: f"deployed-{value['Ref']}" if isinstance(value, dict) else str(value) for name, value in variables.items()
    }


def load(function: FunctionSpec, environ: dict[str, str]) -> Any:
    with loading_environment(environ):
        return function.load()


def test_every_function_is_covered() -> None:
    assert set(FUNCTIONS) == {*PARTNER_FUNCTIONS, "RetryFunction", "TrackerFunction"}
    assert len(PARTNER_FUNCTIONS) == 7  # six partners and the mapping-file networks


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_the_template_gives_each_function_what_its_cold_start_requires(name: str) -> None:
    assert callable(load(FUNCTIONS[name], deployed_environment(FUNCTIONS[name])))


@pytest.mark.parametrize(
    ("name", "variable"),
    [
        (name, variable)
        for name in sorted(FUNCTIONS)
        for variable in (*EVERY_FUNCTION_NEEDS, *ALSO_NEEDED.get(name, ()))
    ],
)
def test_a_missing_variable_fails_the_cold_start_naming_it(name: str, variable: str) -> None:
    environ = deployed_environment(FUNCTIONS[name])
    del environ[variable]
    with pytest.raises(ConfigurationError, match=f"{variable}: required by the"):
        load(FUNCTIONS[name], environ)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_no_amplitude_key_fails_the_cold_start_naming_both_ways_to_give_one(name: str) -> None:
    environ = deployed_environment(FUNCTIONS[name])
    environ["AMPLITUDE_API_KEY_PARAMETER"] = ""  # empty counts as unset, as Lambda passes it
    with pytest.raises(ConfigurationError, match=r"AMPLITUDE_API_KEY_PARAMETER .* or AMPLITUDE_API_KEY"):
        load(FUNCTIONS[name], environ)


@pytest.mark.parametrize("name", PARTNER_FUNCTIONS)
def test_a_partner_function_without_tokens_fails_its_cold_start(name: str) -> None:
    environ = deployed_environment(FUNCTIONS[name])
    del environ["RELAY_TOKENS_PREFIX"]
    with pytest.raises(ConfigurationError, match=r"RELAY_TOKENS_PREFIX .* or RELAY_TOKENS"):
        load(FUNCTIONS[name], environ)


def test_a_wrong_value_names_its_variable() -> None:
    environ = deployed_environment(FUNCTIONS["AdjustFunction"])
    environ["RELAY_ALLOWED_CIDRS"] = "10.0.0.0/8,not-a-range"
    with pytest.raises(ConfigurationError, match="RELAY_ALLOWED_CIDRS"):
        load(FUNCTIONS["AdjustFunction"], environ)
    environ = deployed_environment(FUNCTIONS["RetryFunction"])
    environ["RELAY_SYNC_BUDGET_MS"] = "soon"
    with pytest.raises(ConfigurationError, match="RELAY_SYNC_BUDGET_MS"):
        load(FUNCTIONS["RetryFunction"], environ)
