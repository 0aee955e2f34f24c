"""The Amplitude API key and the relay tokens: from the environment locally, from SSM Parameter
Store or Secrets Manager in AWS, through Powertools parameters (cached for RELAY_SECRET_MAX_AGE_S)."""

from __future__ import annotations

from .config import ConfigurationError, get_settings


def _fetch(name: str) -> str:
    # Imported here: only deployments that use a secret store pay for the import.
    from aws_lambda_powertools.utilities import parameters

    settings = get_settings()
    if settings.secret_store == "secretsmanager":  # noqa: S105 - a store name, not a secret
        value = parameters.get_secret(name, max_age=settings.secret_max_age_s)
    else:
        value = parameters.get_parameter(
            name if name.startswith("/") else f"/{name}", decrypt=True, max_age=settings.secret_max_age_s
        )
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
