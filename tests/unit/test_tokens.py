"""Per-partner relay tokens (issue 12): each route accepts its own partner's tokens only, several at
once so a token can be rotated; the configuration is refused loudly, naming the variable and never a
token, when it is missing, malformed, or the one shared list that used to open every route."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from postback_relay.config import ConfigurationError
from postback_relay.errors import Unauthorized
from postback_relay.inbound import MAX_PRESENTED_TOKENS, authenticate
from postback_relay.runtime import reset_runtime
from postback_relay.secrets import CUSTOM_NETWORKS, network_tokens, parse_tokens, partner_tokens
from postback_relay_tools.local.events import http_api_event
from postback_relay_tools.local.stack import route_tokens, tokens_for_every_route

pytestmark = pytest.mark.slow  # a local stack, servers or many moto calls: not in make test-quick

ADJUST_NEW = "adjust-token-2026-new"
ADJUST_OLD = "adjust-token-2025-old"
BRANCH = "branch-token-0000001"
UNITY = "unity-ads-token-00001"
LOCAL = {"adjust": [ADJUST_NEW, ADJUST_OLD], "branch": BRANCH, CUSTOM_NETWORKS: {"unity-ads": [UNITY]}}
_TOKEN_VARIABLES = ("RELAY_TOKENS", "RELAY_TOKENS_PREFIX", "RELAY_TOKEN", "RELAY_TOKEN_PARAMETER")


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Only the token variables a test sets; fresh settings before and after."""
    for name in _TOKEN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    reset_runtime()
    yield monkeypatch
    reset_runtime()


def _set(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    reset_runtime()


# ------------------------------------------------------------------------------ the stored form


@pytest.mark.parametrize(
    "stored",
    [
        f"{ADJUST_NEW},{ADJUST_OLD}",
        f" {ADJUST_NEW} , {ADJUST_OLD} ,\n",
        f"{ADJUST_NEW}\n{ADJUST_OLD}\n",
        json.dumps([ADJUST_NEW, ADJUST_OLD]),
        [ADJUST_NEW, ADJUST_OLD],
    ],
    ids=["commas", "spaces-and-trailing-comma", "newlines", "json-array-text", "json-array"],
)
def test_a_token_list_is_read_in_every_stored_form_and_keeps_its_order(stored: object) -> None:
    assert parse_tokens(stored, "here") == (ADJUST_NEW, ADJUST_OLD)


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ("", "holds no token"),
        (" , \n", "holds no token"),
        ("[]", "holds no token"),
        ('["unterminated', "not a valid JSON array"),
        (json.dumps([ADJUST_NEW, 7]), "must be a token list"),
        ({"a": ADJUST_NEW}, "must be a token list"),
        ("short-token", "16 to 512 characters"),
        # Base64's "+", "/" and "=": a "+" in a query string arrives as a space, a silent 401.
        ("dGhpcyBpcyBhIHRva2Vu+/w==", "A-Z a-z 0-9"),
        ("token-with-a-quote'-and-more", "A-Z a-z 0-9"),
        ("x" * 513, "16 to 512 characters"),
    ],
    ids=[
        "empty",
        "separators-only",
        "empty-array",
        "bad-json",
        "not-strings",
        "object",
        "short",
        "base64",
        "quote",
        "long",
    ],
)
def test_a_malformed_list_is_refused_naming_where_it_is_never_the_token(stored: object, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem) as refused:
        parse_tokens(stored, "RELAY_TOKENS['adjust']")
    assert "RELAY_TOKENS['adjust']" in str(refused.value)
    for token in ("short-token", "dGhpcyBpcyBhIHRva2Vu", "token-with-a-quote", "x" * 20, ADJUST_NEW):
        assert token not in str(refused.value)


# ------------------------------------------------------------------------------ locally: RELAY_TOKENS


def test_each_partner_gets_its_own_list_and_no_other(configure: pytest.MonkeyPatch) -> None:
    _set(configure, RELAY_TOKENS=json.dumps(LOCAL))
    assert partner_tokens("adjust") == (ADJUST_NEW, ADJUST_OLD)
    assert partner_tokens("branch") == (BRANCH,)
    assert network_tokens("unity-ads", ["unity-ads", "liftoff"]) == (UNITY,)


def test_a_partner_without_an_entry_is_a_configuration_error_naming_it(configure: pytest.MonkeyPatch) -> None:
    _set(configure, RELAY_TOKENS=json.dumps(LOCAL))
    with pytest.raises(ConfigurationError, match=r"RELAY_TOKENS has no entry 'kochava'"):
        partner_tokens("kochava")


def test_a_mapping_file_network_without_tokens_is_an_error_for_that_network_alone(
    configure: pytest.MonkeyPatch,
) -> None:
    """Left out, it would answer 401 to its partner, which nobody sees: a 500 (alarmed) instead,
    naming it; the other networks keep working. A name without a mapping file has no tokens."""
    _set(configure, RELAY_TOKENS=json.dumps(LOCAL))
    with pytest.raises(ConfigurationError, match=r"no tokens for the mapping-file network 'liftoff'$"):
        network_tokens("liftoff", ["liftoff", "unity-ads"])
    assert network_tokens("unity-ads", ["liftoff", "unity-ads"]) == (UNITY,)
    assert network_tokens("no-such-network", ["liftoff", "unity-ads"]) == ()


@pytest.mark.parametrize(
    ("custom", "problem"),
    [("[]", "must be a JSON object"), ("{oops", "not valid JSON"), (["x" * 20], "must be a JSON object")],
)
def test_the_custom_credential_must_be_an_object_by_network(
    configure: pytest.MonkeyPatch, custom: object, problem: str
) -> None:
    _set(configure, RELAY_TOKENS=json.dumps({CUSTOM_NETWORKS: custom}))
    with pytest.raises(ConfigurationError, match=problem):
        network_tokens("unity-ads", ["unity-ads"])


def test_custom_is_not_a_partner(configure: pytest.MonkeyPatch) -> None:
    _set(configure, RELAY_TOKENS=json.dumps(LOCAL))
    with pytest.raises(ValueError, match="per network"):
        partner_tokens(CUSTOM_NETWORKS)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [("{not json", "RELAY_TOKENS is not valid JSON"), ('["a"]', "RELAY_TOKENS must be a JSON object")],
)
def test_relay_tokens_must_be_a_json_object(configure: pytest.MonkeyPatch, raw: str, problem: str) -> None:
    _set(configure, RELAY_TOKENS=raw)
    with pytest.raises(ConfigurationError, match=problem):
        partner_tokens("adjust")


def test_no_configuration_names_both_variables(configure: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match=r"RELAY_TOKENS_PREFIX .* or RELAY_TOKENS"):
        partner_tokens("adjust")


@pytest.mark.parametrize("variable", ["RELAY_TOKEN", "RELAY_TOKEN_PARAMETER"])
def test_the_shared_list_of_old_is_refused_not_read(configure: pytest.MonkeyPatch, variable: str) -> None:
    """The one list that opened every route is not a fallback: set, it stops the routes with a
    message saying what to do, even next to the new configuration."""
    _set(configure, **{variable: "shared-token-for-all-routes", "RELAY_TOKENS": json.dumps(LOCAL)})
    with pytest.raises(ConfigurationError, match=f"{variable} is no longer read") as refused:
        partner_tokens("adjust")
    assert "RELAY_TOKENS_PREFIX" in str(refused.value)
    assert "shared-token-for-all-routes" not in str(refused.value)


# ------------------------------------------------------------------------------ in AWS: a parameter each


@pytest.fixture
def stored(aws: dict[str, str], configure: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    ssm, secrets = boto3.client("ssm"), boto3.client("secretsmanager")
    ssm.put_parameter(Name="/pr/tokens/adjust", Value=f"{ADJUST_NEW},{ADJUST_OLD}", Type="SecureString")
    ssm.put_parameter(Name="/pr/tokens/custom", Value=json.dumps({"unity-ads": UNITY}), Type="SecureString")
    secrets.create_secret(Name="pr/tokens/branch", SecretString=json.dumps([BRANCH]))
    secrets.create_secret(Name="pr/tokens/custom", SecretString=json.dumps({"unity-ads": [UNITY]}))
    _set(configure, RELAY_TOKENS_PREFIX="pr/tokens/")
    return configure


def test_ssm_holds_one_parameter_per_partner(stored: pytest.MonkeyPatch) -> None:
    assert partner_tokens("adjust") == (ADJUST_NEW, ADJUST_OLD)
    assert network_tokens("unity-ads", ["unity-ads"]) == (UNITY,)


def test_secrets_manager_holds_one_secret_per_partner(stored: pytest.MonkeyPatch) -> None:
    _set(stored, RELAY_SECRET_STORE="secretsmanager")
    assert partner_tokens("branch") == (BRANCH,)
    assert network_tokens("unity-ads", ["unity-ads"]) == (UNITY,)


def test_a_partner_whose_parameter_is_missing_is_a_configuration_error_naming_it(stored: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="'pr/tokens/kochava' cannot be read from ssm: ParameterNotFound"):
        partner_tokens("kochava")


def test_a_malformed_stored_list_names_the_parameter_not_the_tokens(stored: pytest.MonkeyPatch) -> None:
    boto3.client("ssm").put_parameter(Name="/pr/tokens/tenjin", Value="tenjin+token/base64==", Type="SecureString")
    with pytest.raises(ConfigurationError, match=r"secret 'pr/tokens/tenjin' \(RELAY_TOKENS_PREFIX \+ 'tenjin'\)") as e:
        partner_tokens("tenjin")
    assert "tenjin+token" not in str(e.value)


# ------------------------------------------------------------------------------ presenting a token


def _request(query: str = "", headers: dict[str, str] | None = None) -> APIGatewayProxyEventV2:
    return APIGatewayProxyEventV2(http_api_event("GET", "/v1/postbacks/adjust", query=query, headers=headers))


def test_during_a_rotation_the_old_and_the_new_token_both_open_the_route() -> None:
    for token in (ADJUST_NEW, ADJUST_OLD):
        authenticate(_request(f"token={token}"), (ADJUST_NEW, ADJUST_OLD))
        authenticate(_request(headers={"X-Relay-Token": token}), (ADJUST_NEW, ADJUST_OLD))
    with pytest.raises(Unauthorized):
        authenticate(_request(f"token={ADJUST_OLD}"), (ADJUST_NEW,))  # rotated out


def test_another_partners_token_is_refused_exactly_as_a_wrong_one() -> None:
    answers = []
    for token in (BRANCH, "wrong-token-000000000", ADJUST_NEW + "x", ADJUST_NEW[:-1]):
        with pytest.raises(Unauthorized) as refused:
            authenticate(_request(f"token={token}"), (ADJUST_NEW, ADJUST_OLD))
        answers.append((refused.value.status, refused.value.body()))
    assert answers == [(401, {"error": "invalid relay token", "code": "unauthorized"})] * 4


def test_a_route_without_tokens_refuses_every_token() -> None:
    with pytest.raises(Unauthorized, match="invalid relay token"):
        authenticate(_request(f"token={ADJUST_NEW}"), ())


@pytest.mark.parametrize("value", [ADJUST_NEW, f"Bearer {ADJUST_NEW}", f"bearer  {ADJUST_NEW}"])
def test_an_authorization_header_the_partner_sends_may_carry_a_bearer_prefix(value: str) -> None:
    authenticate(_request(headers={"Authorization": value}), (ADJUST_NEW,), ("Authorization",))
    with pytest.raises(Unauthorized, match="missing"):
        authenticate(_request(headers={"Authorization": value}), (ADJUST_NEW,))  # header not declared


def test_a_flood_of_token_keys_is_read_only_so_far() -> None:
    wrong = "&".join(["token=wrong-token-000000000"] * MAX_PRESENTED_TOKENS)
    authenticate(_request(f"{wrong[: wrong.rindex('&')]}&token={ADJUST_NEW}"), (ADJUST_NEW,))
    with pytest.raises(Unauthorized, match="invalid"):
        authenticate(_request(f"{wrong}&token={ADJUST_NEW}"), (ADJUST_NEW,))


# ------------------------------------------------------------------------------ serve's tokens


def test_serve_generates_a_different_token_for_every_route() -> None:
    counter = iter(range(1000))
    tokens = tokens_for_every_route(lambda: f"generated-token-{next(counter):04d}")
    routes = route_tokens(tokens)
    assert {"appsflyer", "adjust", "branch", "kochava", "singular", "tenjin"} <= set(routes)
    assert {"custom/unity-ads", "custom/liftoff"} <= set(routes)
    assert len(set(routes.values())) == len(routes)
    assert tokens[CUSTOM_NETWORKS]["unity-ads"] == [routes["custom/unity-ads"]]
