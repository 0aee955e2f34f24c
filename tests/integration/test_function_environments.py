"""`serve` gives each function its own environment, as Lambda does: one partner's allowed ranges,
token header and pass-through rules (template parameters, set with --parameter-overrides) apply to
its route alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from postback_relay_tools.local.amplitude_sink import AmplitudeSink
from postback_relay_tools.local.stack import LocalStack
from tests.conftest import TOKEN, fixture_json, stack_with_stand_in

# Documentation ranges (RFC 5737): never the loopback address the test calls from.
ADJUST_RANGE = "203.0.113.0/24"
APPSFLYER_HEADER = "X-Appsflyer-Auth"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, AmplitudeSink]]:
    state_file: Path = tmp_path_factory.mktemp("stack") / "state.json"
    overrides = {
        "AdjustAllowedCidrs": ADJUST_RANGE,
        "AppsFlyerTokenHeader": APPSFLYER_HEADER,
        "TenjinPassThrough": "level,!debug_*",
    }
    with stack_with_stand_in(state_file, parameter_overrides=overrides) as pair:
        yield pair


def test_each_function_gets_its_own_variables_from_the_template(stack: tuple[LocalStack, AmplitudeSink]) -> None:
    local, _ = stack
    functions = {route.function.logical_id: route.function for route in local.template.routes}
    adjust = local.function_environment(functions["AdjustFunction"])
    appsflyer = local.function_environment(functions["AppsFlyerFunction"])
    # AppsFlyer's header is its own variable: Adjust's function has none, as in AWS.
    assert (adjust["RELAY_ALLOWED_CIDRS"], adjust.get("RELAY_PARTNER_TOKEN_HEADER")) == (ADJUST_RANGE, None)
    assert (appsflyer["RELAY_ALLOWED_CIDRS"], appsflyer["RELAY_PARTNER_TOKEN_HEADER"]) == ("", APPSFLYER_HEADER)
    # What every function shares (Globals, the stack's resources) is the same for each.
    assert adjust["RELAY_RETRY_QUEUE_URL"] == appsflyer["RELAY_RETRY_QUEUE_URL"] == local.queue_urls["RetryQueue"]


def test_a_partners_allowed_ranges_refuse_other_callers_on_its_route_only(
    stack: tuple[LocalStack, AmplitudeSink],
) -> None:
    local, _ = stack
    adjust = requests.get(
        f"{local.url}/v1/postbacks/adjust",
        params={"token": TOKEN, **fixture_json("adjust", "install_ios.json")},
        timeout=10,
    )
    assert adjust.status_code == 403, adjust.text
    branch = requests.post(
        f"{local.url}/v1/postbacks/branch",
        params={"token": TOKEN},
        json=fixture_json("branch", "install_ios.json"),
        timeout=10,
    )
    assert branch.status_code in (200, 202), branch.text


def test_a_partners_token_header_opens_its_route_only(stack: tuple[LocalStack, AmplitudeSink]) -> None:
    local, _ = stack
    postback = fixture_json("appsflyer", "install_ios.json")
    appsflyer = requests.post(
        f"{local.url}/v1/postbacks/appsflyer", headers={APPSFLYER_HEADER: TOKEN}, json=postback, timeout=10
    )
    assert appsflyer.status_code in (200, 202), appsflyer.text
    # The same header on another partner's route is no credential there.
    branch = requests.post(
        f"{local.url}/v1/postbacks/branch",
        headers={APPSFLYER_HEADER: TOKEN},
        json=fixture_json("branch", "install_android.json"),
        timeout=10,
    )
    assert branch.status_code == 401, branch.text


def test_a_partners_pass_through_rules_forward_its_unmapped_keys_only(stack: tuple[LocalStack, AmplitudeSink]) -> None:
    local, sink = stack
    app_keys = {"level": "7", "debug_build": "1"}
    tenjin = requests.get(
        f"{local.url}/v1/postbacks/tenjin",
        params={"token": TOKEN, **fixture_json("tenjin", "purchase.json"), **app_keys},
        timeout=10,
    )
    assert tenjin.status_code == 200, tenjin.text
    kochava = requests.get(
        f"{local.url}/v1/postbacks/kochava",
        params={"token": TOKEN, **fixture_json("kochava", "purchase.json"), **app_keys},
        timeout=10,
    )
    assert kochava.status_code == 200, kochava.text
    sent = {item.insert_id: item.payload for item in sink.received("httpapi")}
    tenjin_event = sent[tenjin.json()["requests"][0]["insert_id"]]["event_properties"]
    kochava_event = sent[kochava.json()["requests"][0]["insert_id"]]["event_properties"]
    assert tenjin_event["[Tenjin] level"] == "7"
    assert "[Tenjin] debug_build" not in tenjin_event  # denied
    # Kochava's function has no rules: its unmapped keys stay out.
    assert not [key for key in kochava_event if key.endswith((" level", " debug_build"))]
