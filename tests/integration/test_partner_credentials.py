"""Per-partner credentials through the Lambda handlers (issue 12): a token leaked from one partner's
dashboard used to open every route. Now each route accepts its own partner's tokens only (each
mapping-file network its own), old and new side by side during a rotation; another partner's token
is refused exactly as a wrong one is; a missing or broken configuration answers 500 "misconfigured",
its log naming the variable, never a token. Through `serve` too: every route gets its own token."""

from __future__ import annotations

import json
import logging
from copy import deepcopy
from pathlib import Path
from typing import Any

import pytest
import requests

from postback_relay.observability import logger
from postback_relay.runtime import reset_runtime
from postback_relay.secrets import CUSTOM_NETWORKS
from postback_relay_tools.local.amplitude_sink import AmplitudeSink
from postback_relay_tools.local.stack import LocalStack
from tests.conftest import API_KEY, ROOT, TOKEN, fixture_json
from tests.integration.support import ROUTE_EVENTS, SAMPLE_TOKEN, invoke, route_for, sample

PREFIX = "/v1/postbacks/"
WRONG = "not-any-relay-token-at-all"
MISCONFIGURED = {"error": "the relay is misconfigured; its operators have been alerted", "code": "misconfigured"}


def _route(event: dict[str, Any]) -> str:
    """The credential a sample calls: "appsflyer", ..., "custom/unity-ads"."""
    return str(event["rawPath"]).removeprefix(PREFIX)


# One sample per route, and a token of its own for each route.
SAMPLES = {_route(sample(name)): name for name in reversed(ROUTE_EVENTS)}
OWN = {route: f"{route.replace('/', '-')}-own-token-0123456789" for route in sorted(SAMPLES)}


def _token_map(tokens: dict[str, list[str]]) -> str:
    """RELAY_TOKENS from route -> tokens (mapping-file networks nested under "custom")."""
    built: dict[str, Any] = {CUSTOM_NETWORKS: {}}
    for route, listed in tokens.items():
        if route.startswith(f"{CUSTOM_NETWORKS}/"):
            built[CUSTOM_NETWORKS][route.removeprefix(f"{CUSTOM_NETWORKS}/")] = listed
        else:
            built[route] = listed
    return json.dumps(built)


def with_token(event: dict[str, Any], token: str, header: bool = False) -> dict[str, Any]:
    """The sample as its partner would send it with `token` (in the URL, or in X-Relay-Token)."""
    changed = deepcopy(event)
    query = changed["rawQueryString"].replace(f"token={SAMPLE_TOKEN}", "" if header else f"token={token}", 1)
    changed["rawQueryString"] = query.lstrip("&")
    changed.get("queryStringParameters", {}).pop("token", None)
    if header:
        changed["headers"]["x-relay-token"] = token
    else:
        changed.setdefault("queryStringParameters", {})["token"] = token
    return changed


def _function(event: dict[str, Any]) -> str:
    return str(route_for(event).function.logical_id)


def _configure(monkeypatch: pytest.MonkeyPatch, **variables: str | None) -> None:
    for name, value in variables.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    reset_runtime()


@pytest.fixture
def own(relay_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The relay with a token of its own for every route."""
    _configure(monkeypatch, RELAY_TOKENS=_token_map({route: [token] for route, token in OWN.items()}))
    return OWN


def test_every_route_has_a_sample_and_a_token_of_its_own() -> None:
    assert {"appsflyer", "adjust", "branch", "kochava", "singular", "tenjin"} <= set(SAMPLES)
    assert {"custom/unity-ads", "custom/liftoff"} <= set(SAMPLES)
    assert len(set(OWN.values())) == len(OWN)


@pytest.mark.parametrize("route", sorted(SAMPLES))
def test_a_route_takes_its_own_token_and_refuses_every_other_partners_as_a_wrong_one(
    own: dict[str, str], sink: AmplitudeSink, route: str
) -> None:
    event = sample(SAMPLES[route])
    function = _function(event)
    wrong = invoke(function, with_token(event, WRONG))
    assert wrong == (401, {"error": "invalid relay token", "code": "unauthorized"})
    for other, token in own.items():
        if other != route:
            assert invoke(function, with_token(event, token)) == wrong, f"{other}'s token opened {route}"
            assert invoke(function, with_token(event, token, header=True)) == wrong, f"{other}'s token (header)"
    assert sink.requests_seen() == 0
    status, body = invoke(function, with_token(event, own[route]))
    assert (status, body["status"]) == (200, "delivered"), body


def test_an_unknown_network_is_a_401_as_a_wrong_token_not_a_404(own: dict[str, str], sink: AmplitudeSink) -> None:
    """Strangers learn nothing about which networks exist: a name without tokens refuses every token."""
    event = sample(SAMPLES["custom/unity-ads"])
    for field in ("rawPath",):
        event[field] = f"{PREFIX}custom/no-such-network"
    event["requestContext"]["http"]["path"] = event["rawPath"]
    event["pathParameters"] = {"name": "no-such-network"}
    function = _function(sample(SAMPLES["custom/unity-ads"]))
    for token in (own["custom/unity-ads"], own["appsflyer"], WRONG):
        assert invoke(function, with_token(event, token)) == (
            401,
            {"error": "invalid relay token", "code": "unauthorized"},
        )
    assert sink.requests_seen() == 0


def test_during_a_rotation_old_and_new_both_open_their_route_and_only_theirs(
    own: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = own["adjust"], "adjust-rotated-token-2027-new"
    _configure(monkeypatch, RELAY_TOKENS=_token_map({**{r: [t] for r, t in own.items()}, "adjust": [new, old]}))
    adjust = sample(SAMPLES["adjust"])
    for token in (new, old):
        status, body = invoke("AdjustFunction", with_token(adjust, token))
        assert (status, body["status"]) == (200, "delivered")
    kochava = sample(SAMPLES["kochava"])
    assert invoke("KochavaFunction", with_token(kochava, new))[0] == 401
    # The rotation done: the old token is gone from the list, and from the route.
    _configure(monkeypatch, RELAY_TOKENS=_token_map({**{r: [t] for r, t in own.items()}, "adjust": [new]}))
    assert invoke("AdjustFunction", with_token(adjust, old))[0] == 401
    assert invoke("AdjustFunction", with_token(adjust, new))[0] == 200


def _everything_but(route: str) -> dict[str, list[str]]:
    return {r: [t] for r, t in OWN.items() if r != route}


@pytest.mark.parametrize(
    ("route", "variables", "problem"),
    [
        ("kochava", {"RELAY_TOKENS": _token_map(_everything_but("kochava"))}, "RELAY_TOKENS has no entry 'kochava'"),
        (
            "kochava",
            {"RELAY_TOKENS": None, "RELAY_TOKENS_PREFIX": "postback-relay/partner-tokens/"},
            "'postback-relay/partner-tokens/kochava' cannot be read from ssm: ParameterNotFound",
        ),
        ("kochava", {"RELAY_TOKENS": None}, "set RELAY_TOKENS_PREFIX"),
        ("kochava", {"RELAY_TOKEN": TOKEN}, "RELAY_TOKEN is no longer read"),
        (
            "kochava",
            {"RELAY_TOKEN_PARAMETER": "postback-relay/relay-tokens"},
            "RELAY_TOKEN_PARAMETER is no longer read",
        ),
        (
            "kochava",
            {"RELAY_TOKENS": _token_map({**_everything_but("kochava"), "kochava": ["kochava+base64/token=="]})},
            "RELAY_TOKENS['kochava']: every token must be 16 to 512 characters",
        ),
        (
            "custom/unity-ads",
            {"RELAY_TOKENS": _token_map(_everything_but("custom/unity-ads"))},
            "no tokens for the mapping-file network 'unity-ads'",
        ),
    ],
    ids=[
        "no-entry",
        "no-parameter",
        "nothing-set",
        "shared-token",
        "shared-parameter",
        "malformed",
        "network-left-out",
    ],
)
def test_missing_or_broken_token_configuration_is_a_500_naming_the_variable_never_a_token(
    own: dict[str, str],
    sink: AmplitudeSink,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    route: str,
    variables: dict[str, str | None],
    problem: str,
) -> None:
    _configure(monkeypatch, **variables)
    caplog.set_level(logging.DEBUG, logger="postback-relay")
    event = sample(SAMPLES[route])
    status, body = invoke(_function(event), with_token(event, own[route]))
    assert (status, body) == (500, MISCONFIGURED)
    logs = "\n".join(logger.registered_formatter.format(record) for record in caplog.records)
    assert problem in logs
    for secret in (*own.values(), TOKEN, "kochava+base64"):
        assert secret not in logs + json.dumps(body)
    assert sink.requests_seen() == 0


def test_a_network_left_out_of_the_custom_tokens_fails_alone(
    own: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure(monkeypatch, RELAY_TOKENS=_token_map(_everything_but("custom/unity-ads")))
    unity, liftoff = sample(SAMPLES["custom/unity-ads"]), sample(SAMPLES["custom/liftoff"])
    assert invoke(_function(unity), with_token(unity, own["custom/unity-ads"])) == (500, MISCONFIGURED)
    status, body = invoke(_function(liftoff), with_token(liftoff, own["custom/liftoff"]))
    assert (status, body["status"]) == (200, "delivered")


def test_serve_gives_every_route_a_token_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """By default `serve` behaves as AWS does: one route, its own token; the URLs it prints work."""
    for name in ("RELAY_TOKENS", "RELAY_TOKEN", "RELAY_TOKEN_PARAMETER"):
        monkeypatch.delenv(name, raising=False)
    with (
        AmplitudeSink(api_key=API_KEY) as stand_in,
        LocalStack(
            ROOT / "template.yaml",
            port=0,
            amplitude_url=stand_in.url,
            state_file=tmp_path / "serve.json",
            environment={"AMPLITUDE_API_KEY": API_KEY},
        ) as stack,
    ):
        tokens = stack.relay_tokens
        assert set(SAMPLES) <= set(tokens)
        assert len(set(tokens.values())) == len(tokens)
        assert stack.relay_token == tokens["appsflyer"]  # the banner's example postback
        urls = stack.postback_urls()
        assert (
            urls["custom/unity-ads"] == f"{stack.url}/v1/postbacks/custom/unity-ads?token={tokens['custom/unity-ads']}"
        )
        postback = fixture_json("appsflyer", "install_ios.json")
        assert requests.post(urls["appsflyer"], json=postback, timeout=10).status_code == 200
        appsflyer = f"{stack.url}/v1/postbacks/appsflyer"
        for route in ("adjust", "custom/unity-ads"):
            answer = requests.post(appsflyer, params={"token": tokens[route]}, json=postback, timeout=10)
            assert (answer.status_code, answer.json()["error"]) == (401, "invalid relay token")
        assert len(stand_in.received("attribution")) == 1
