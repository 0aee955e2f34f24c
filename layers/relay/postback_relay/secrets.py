"""The Amplitude API key and the relay tokens: from the environment locally, from SSM Parameter
Store or Secrets Manager in AWS, through Powertools parameters (cached for RELAY_SECRET_MAX_AGE_S)."""

from __future__ import annotations

from functools import lru_cache
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


def relay_tokens() -> tuple[str, ...]:
    """Every token valid right now: several at once, comma or newline separated, so one can be
    rotated without downtime."""
    settings = get_settings()
    if settings.relay_token:
        raw = settings.relay_token
    elif settings.relay_token_parameter:
        raw = _fetch(settings.relay_token_parameter)
    else:
        raise ConfigurationError("set RELAY_TOKEN or RELAY_TOKEN_PARAMETER")
    tokens = tuple(token.strip() for token in raw.replace("\n", ",").split(",") if token.strip())
    if not tokens:
        raise ConfigurationError("the relay token list is empty")
    return tokens


def _error_code(error: BaseException) -> str:
    """The AWS error code behind a Powertools GetParameterError, if any."""
    cause: BaseException | None = error.__cause__ or error.__context__
    while cause is not None:
        response = getattr(cause, "response", None)
        if isinstance(response, dict):
            return str(response.get("Error", {}).get("Code", ""))
        cause = cause.__cause__ or cause.__context__
    return ""
