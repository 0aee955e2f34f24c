"""Floods (issue 12): each partner's routes have a throttle of their own and each partner function
can have a share of Lambda concurrency of its own, both template parameters, so junk sent to one
route cannot starve another. Unset (0), a throttle is the stack-wide one and a function is
unreserved, as before."""

from __future__ import annotations

from typing import Any

import pytest

from postback_relay_tools.local.template import load_template
from tests.unit.template_document import TEMPLATE, template

KNOBS = ("ThrottlingRateLimit", "ThrottlingBurstLimit", "ReservedConcurrency")


def _http_functions() -> dict[str, dict[str, Any]]:
    """Functions behind the HTTP API, by logical id."""
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template()["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::Function"
        and any(event["Type"] == "HttpApi" for event in resource["Properties"].get("Events", {}).values())
    }


def _partner(function_id: str) -> str:
    """The parameters' prefix: AppsFlyerFunction -> AppsFlyer."""
    assert function_id.endswith("Function")
    return function_id.removesuffix("Function")


def _parameter(name: str) -> dict[str, Any]:
    parameters: dict[str, Any] = template()["Parameters"]
    assert name in parameters, f"missing template parameter {name}"
    parameter: dict[str, Any] = parameters[name]
    return parameter


def _when_set(condition: str, parameter: str) -> None:
    """The condition is true exactly when the parameter is not 0."""
    assert template()["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, "0"]}]}


def test_every_partner_route_and_the_trackers_are_covered() -> None:
    functions = set(_http_functions())
    assert functions == {
        "AppsFlyerFunction",
        "AdjustFunction",
        "BranchFunction",
        "KochavaFunction",
        "SingularFunction",
        "TenjinFunction",
        "CustomNetworkFunction",
        "TrackerFunction",
    }
    # The local stack (`serve`) still reads every route from the template.
    routes = load_template(TEMPLATE).routes
    assert {route.function.logical_id for route in routes} == functions
    assert len(routes) == sum(
        event["Type"] == "HttpApi"
        for properties in _http_functions().values()
        for event in properties["Events"].values()
    )


@pytest.mark.parametrize("function_id", sorted(_http_functions()))
def test_each_partner_has_its_own_throttle_and_concurrency_parameters(function_id: str) -> None:
    partner = _partner(function_id)
    for knob in KNOBS:
        parameter = _parameter(f"{partner}{knob}")
        assert parameter["Type"] == "Number"
        # 0: the stack-wide throttle, or unreserved. Nothing changes for a deployment that sets nothing.
        assert parameter["Default"] == 0
        assert parameter["MinValue"] == 0
        assert len(parameter["Description"]) > 40
    reserved = _parameter(f"{partner}ReservedConcurrency")["Description"]
    # Reserved concurrency comes out of the account's pool: the description must say so.
    assert "0 = unreserved" in reserved
    assert "account" in reserved
    assert "quota" in reserved


@pytest.mark.parametrize("function_id", sorted(_http_functions()))
def test_every_route_of_a_partner_is_throttled_by_its_parameters(function_id: str) -> None:
    partner = _partner(function_id)
    events = [event for event in _http_functions()[function_id]["Events"].values() if event["Type"] == "HttpApi"]
    assert events
    for event in events:
        settings = event["Properties"].get("RouteSettings")
        assert settings is not None, f"{function_id} {event['Properties']['Path']}: no RouteSettings"
        assert set(settings) == {"ThrottlingRateLimit", "ThrottlingBurstLimit"}
        for knob, condition in (
            ("ThrottlingRateLimit", "SetsThrottlingRate"),
            ("ThrottlingBurstLimit", "SetsThrottlingBurst"),
        ):
            # The partner's own value when set, else the stack-wide default of every route.
            assert settings[knob] == {"Fn::If": [f"{partner}{condition}", {"Ref": f"{partner}{knob}"}, {"Ref": knob}]}
            _when_set(f"{partner}{condition}", f"{partner}{knob}")


@pytest.mark.parametrize("function_id", sorted(_http_functions()))
def test_each_partner_function_can_reserve_concurrency(function_id: str) -> None:
    partner = _partner(function_id)
    reserved = _http_functions()[function_id]["ReservedConcurrentExecutions"]
    # 0 must not reach Lambda: a reservation of 0 stops the function altogether.
    assert reserved == {
        "Fn::If": [f"{partner}ReservesConcurrency", {"Ref": f"{partner}ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    _when_set(f"{partner}ReservesConcurrency", f"{partner}ReservedConcurrency")


def test_the_stack_wide_throttle_stays_the_default_of_every_route() -> None:
    api = template()["Resources"]["RelayHttpApi"]["Properties"]
    assert api["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
    }
    # AppsFlyer never resends a 429: the default stays well above a launch burst (docs/scaling.md).
    assert _parameter("ThrottlingRateLimit")["Default"] >= 1000
    assert _parameter("ThrottlingBurstLimit")["Default"] >= _parameter("ThrottlingRateLimit")["Default"]
    # No route settings on the API itself: each function's events carry their own.
    assert "RouteSettings" not in api
