"""The Amplitude API key and the relay tokens: from the environment locally, from SSM Parameter
Store or Secrets Manager in AWS, through Powertools parameters (cached for RELAY_SECRET_MAX_AGE_S).

Relay tokens are per partner: each route accepts only its own partner's tokens (each mapping-file
network's its own), so a token leaked from one partner's dashboard opens one route. In AWS each
partner's list is its own parameter or secret, `<RELAY_TOKENS_PREFIX><partner>`, and each function's
role may read its own alone; locally RELAY_TOKENS holds them all, as one JSON object by partner.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from .aws import boto_config
from .config import ConfigurationError, get_settings
from .errors import DependencyUnavailable

# Error codes that mean the deployment is wrong (a fix, not a wait, is needed): 500 and an alarm.
_MISCONFIGURED = {
    "ParameterNotFound",
    "ResourceNotFoundException",
    "AccessDeniedException",
    "AccessDenied",
    "ParameterVersionNotFound",
}
# How long a partner is asked to wait when the store is throttled or down.
SECRET_STORE_RETRY_AFTER_S = 10


@lru_cache(maxsize=2)
def _provider(store: str) -> Any:
    # Imported here: only deployments that use a secret store pay for the import.
    from aws_lambda_powertools.utilities import parameters

    if store == "secretsmanager":
        return parameters.SecretsProvider(boto_config=boto_config("secrets"))
    return parameters.SSMProvider(boto_config=boto_config("secrets"))


def reset_providers() -> None:
    _provider.cache_clear()


def _fetch(name: str) -> str:
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    settings = get_settings()
    provider = _provider(settings.secret_store)
    try:
        if settings.secret_store == "secretsmanager":  # noqa: S105 - a store name, not a secret
            value = provider.get(name, max_age=settings.secret_max_age_s)
        else:
            value = provider.get(
                name if name.startswith("/") else f"/{name}", decrypt=True, max_age=settings.secret_max_age_s
            )
    except GetParameterError as error:
        code = _error_code(error)
        if code in _MISCONFIGURED:
            raise ConfigurationError(f"secret {name!r} cannot be read from {settings.secret_store}: {code}") from error
        # Throttled, timed out or unreachable: transient. Nothing was accepted; ask for a resend.
        raise DependencyUnavailable(
            "the relay's secret store is unavailable; resend this postback later",
            retry_after_s=SECRET_STORE_RETRY_AFTER_S,
            dependency="secret_store",
        ) from error
    if not isinstance(value, str):
        raise ConfigurationError(f"secret {name!r} is not a string")
    return value.strip()


def amplitude_api_key(ref: str | None = None) -> str:
    """The relay's Amplitude key, or the key stored under `ref` (an app's own Amplitude project)."""
    settings = get_settings()
    if ref:
        return _fetch(ref)
    if settings.amplitude_api_key:
        return settings.amplitude_api_key
    if settings.amplitude_api_key_parameter:
        return _fetch(settings.amplitude_api_key_parameter)
    raise ConfigurationError("set AMPLITUDE_API_KEY or AMPLITUDE_API_KEY_PARAMETER")


# The credential of the mapping-file networks' route: one JSON object of token lists by network.
CUSTOM_NETWORKS = "custom"
# What a token may be: URL-safe as it is (RFC 3986 unreserved characters: nothing for a partner's
# dashboard to percent-encode, no "+" that a query string decodes as a space) and long enough
# not to be guessed.
MIN_TOKEN_LENGTH = 16
MAX_TOKEN_LENGTH = 512
_TOKEN = re.compile(rf"[A-Za-z0-9._~-]{{{MIN_TOKEN_LENGTH},{MAX_TOKEN_LENGTH}}}")
_SEPARATORS = re.compile(r"[\s,]+")
_LEGACY = "is no longer read: it opened every partner's route. Give each partner its own tokens"


def parse_tokens(value: object, where: str) -> tuple[str, ...]:
    """A token list as stored: "new,old" (commas or newlines) or a JSON array ["new", "old"].
    Several at once, so a partner's token can be rotated without downtime. Errors name `where`,
    never a token."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            raise ConfigurationError(f"{where} is not a valid JSON array of tokens") from None
    if isinstance(value, str):
        value = _SEPARATORS.split(value)
    if not isinstance(value, list) or not all(isinstance(token, str) for token in value):
        raise ConfigurationError(f"{where} must be a token list: 'new,old' or a JSON array of strings")
    tokens = tuple(token.strip() for token in value if token.strip())
    if not tokens:
        raise ConfigurationError(f"{where} holds no token")
    if not all(_TOKEN.fullmatch(token) for token in tokens):
        raise ConfigurationError(
            f"{where}: every token must be {MIN_TOKEN_LENGTH} to {MAX_TOKEN_LENGTH} characters of"
            " A-Z a-z 0-9 . _ ~ - (e.g. `openssl rand -hex 32`)"
        )
    return tokens


@lru_cache(maxsize=4)
def _local_tokens(raw: str) -> Mapping[str, object]:
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise ConfigurationError("RELAY_TOKENS is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise ConfigurationError('RELAY_TOKENS must be a JSON object: {"appsflyer": ["token", ...], ...}')
    return MappingProxyType(parsed)


def _credential(name: str) -> tuple[object, str]:
    """The stored value of one route's credential, and where it came from (for errors)."""
    settings = get_settings()
    for variable, value in (
        ("RELAY_TOKEN", settings.legacy_relay_token),
        ("RELAY_TOKEN_PARAMETER", settings.legacy_relay_token_parameter),
    ):
        if value:
            raise ConfigurationError(
                f"{variable} {_LEGACY}: RELAY_TOKENS_PREFIX (a parameter or secret per partner) or"
                " RELAY_TOKENS (local use); see docs/partners.md, 'Credentials'"
            )
    if settings.relay_tokens:
        tokens = _local_tokens(settings.relay_tokens)
        if name not in tokens:
            raise ConfigurationError(f"RELAY_TOKENS has no entry {name!r}")
        return tokens[name], f"RELAY_TOKENS[{name!r}]"
    if settings.relay_tokens_prefix:
        secret = f"{settings.relay_tokens_prefix}{name}"
        return _fetch(secret), f"secret {secret!r} (RELAY_TOKENS_PREFIX + {name!r})"
    raise ConfigurationError("set RELAY_TOKENS_PREFIX (a parameter or secret per partner) or RELAY_TOKENS (local use)")


def partner_tokens(partner: str) -> tuple[str, ...]:
    """The tokens valid right now on `partner`'s route, and on no other route."""
    if partner == CUSTOM_NETWORKS:
        raise ValueError("the mapping-file networks' tokens are per network: network_tokens()")
    value, where = _credential(partner)
    return parse_tokens(value, where)


def network_tokens(network: str, mapping_files: Collection[str]) -> tuple[str, ...]:
    """The tokens of one mapping-file network, from one JSON object of token lists by network,
    {"unity-ads": ["token", ...], ...}, under the credential `custom`.

    A network with a mapping file but no entry is a configuration error for that network alone
    (500 and an alarm, instead of a 401 nobody sees); a name without a mapping file has no tokens
    (every token is refused, as on any route)."""
    value, where = _credential(CUSTOM_NETWORKS)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ConfigurationError(f"{where} is not valid JSON") from None
    if not isinstance(value, dict):
        raise ConfigurationError(f'{where} must be a JSON object of token lists by network: {{"unity-ads": [...]}}')
    if network in value:
        return parse_tokens(value[network], f"{where}[{network!r}]")
    if network in mapping_files:
        raise ConfigurationError(f"{where} has no tokens for the mapping-file network {network!r}")
    return ()


def _error_code(error: BaseException) -> str:
    """The AWS error code behind a Powertools GetParameterError, if any."""
    cause: BaseException | None = error.__cause__ or error.__context__
    while cause is not None:
        response = getattr(cause, "response", None)
        if isinstance(response, dict):
            return str(response.get("Error", {}).get("Code", ""))
        cause = cause.__cause__ or cause.__context__
    return ""
