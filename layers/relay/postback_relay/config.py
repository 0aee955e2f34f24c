"""Settings from the environment, validated once per container.

Locally the secrets come straight from the environment (AMPLITUDE_API_KEY, RELAY_TOKENS); in AWS
the template passes the names of SSM parameters or Secrets Manager secrets instead.
"""

from __future__ import annotations

import os
from functools import cached_property, lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# Defined with the other errors; imported from here by much of the package and its tests.
from .errors import ConfigurationError as ConfigurationError

AMPLITUDE_BASE_URLS = {"us": "https://api2.amplitude.com", "eu": "https://api.eu.amplitude.com"}


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    amplitude_region: Literal["us", "eu"] = Field(default="us", alias="AMPLITUDE_REGION")
    amplitude_api_url: str = Field(default="", alias="AMPLITUDE_API_URL")
    amplitude_api_key: str = Field(default="", alias="AMPLITUDE_API_KEY", repr=False)
    amplitude_api_key_parameter: str = Field(default="", alias="AMPLITUDE_API_KEY_PARAMETER")
    # Each partner's own tokens (secrets.py): a JSON object by partner locally, or one stored
    # parameter/secret per partner, named <prefix><partner>, in AWS.
    relay_tokens: str = Field(default="", alias="RELAY_TOKENS", repr=False)
    relay_tokens_prefix: str = Field(default="", alias="RELAY_TOKENS_PREFIX")
    # The one list that opened every route: read only to refuse it, naming the migration.
    legacy_relay_token: str = Field(default="", alias="RELAY_TOKEN", repr=False)
    legacy_relay_token_parameter: str = Field(default="", alias="RELAY_TOKEN_PARAMETER")
    secret_store: Literal["ssm", "secretsmanager"] = Field(default="ssm", alias="RELAY_SECRET_STORE")
    secret_max_age_s: int = Field(default=300, ge=0, alias="RELAY_SECRET_MAX_AGE_S")

    retry_queue_url: str = Field(default="", alias="RELAY_RETRY_QUEUE_URL")
    dlq_url: str = Field(default="", alias="RELAY_DLQ_URL")
    retry_base_delay_s: float = Field(default=30.0, ge=0, alias="RELAY_RETRY_BASE_DELAY_S")
    # Retries go on until the call has been owed this long (from its receipt, or from its replay):
    # an Amplitude outage of a whole day heals with no operator, then the DLQ (`max_attempts`).
    retry_horizon_s: int = Field(default=28 * 3600, ge=60, alias="RELAY_RETRY_HORIZON_S")
    # An optional cap on attempts as well (0: the horizon alone decides).
    max_attempts: int = Field(default=0, ge=0, alias="RELAY_MAX_ATTEMPTS")

    # The partner is waiting: the immediate attempt must fit well inside its ~2 s timeout.
    sync_budget_ms: int = Field(default=800, ge=0, alias="RELAY_SYNC_BUDGET_MS")
    connect_timeout_s: float = Field(default=0.5, gt=0, alias="AMPLITUDE_CONNECT_TIMEOUT_S")
    # The retry consumer has no one waiting and can give Amplitude longer.
    retry_timeout_s: float = Field(default=3.0, gt=0, alias="AMPLITUDE_RETRY_TIMEOUT_S")

    max_body_bytes: int = Field(default=64 * 1024, gt=0, alias="RELAY_MAX_BODY_BYTES")
    # shadow: partner routes accept, archive and map as in live mode but send nothing to Amplitude,
    # so the relay can run beside a native integration without doubling it (docs/operations.md).
    relay_mode: Literal["live", "shadow"] = Field(default="live", alias="RELAY_MODE")

    # Empty table name: no idempotency layer (only for tests of other parts; the template sets it).
    idempotency_table: str = Field(default="", alias="RELAY_IDEMPOTENCY_TABLE")
    idempotency_ttl_s: int = Field(default=24 * 3600, ge=60, alias="RELAY_IDEMPOTENCY_TTL_S")
    archive_bucket: str = Field(default="", alias="RELAY_ARCHIVE_BUCKET")
    archive_prefix: str = Field(default="raw", alias="RELAY_ARCHIVE_PREFIX")

    # First-party tracker (docs/tracker.md).
    apps_table: str = Field(default="", alias="RELAY_APPS_TABLE")
    clicks_table: str = Field(default="", alias="RELAY_CLICKS_TABLE")
    installs_table: str = Field(default="", alias="RELAY_INSTALLS_TABLE")
    default_redirect_url: str = Field(default="https://www.apple.com/app-store/", alias="RELAY_DEFAULT_REDIRECT_URL")
    hash_salt: str = Field(default="postback-relay-local", alias="RELAY_HASH_SALT", repr=False)
    fingerprinting: bool = Field(default=True, alias="RELAY_FINGERPRINTING")
    # Per function (template parameters): partners publish their source ranges but rarely sign.
    allowed_cidrs: str = Field(default="", alias="RELAY_ALLOWED_CIDRS")
    # A header the partner's own dashboard can send its token in (AppsFlyer's Push API auth token).
    partner_token_header: str = Field(default="", alias="RELAY_PARTNER_TOKEN_HEADER")

    @cached_property
    def allowed_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        # Parsed once per container, not on every postback the allowlist checks.
        return tuple(ip_network(cidr.strip(), strict=False) for cidr in self.allowed_cidrs.split(",") if cidr.strip())

    @field_validator("allowed_cidrs")
    @classmethod
    def _cidrs_parse(cls, value: str) -> str:
        for cidr in value.split(","):
            if cidr.strip():
                ip_network(cidr.strip(), strict=False)  # ValueError names the bad range
        return value

    @property
    def shadow(self) -> bool:
        return self.relay_mode == "shadow"

    @property
    def amplitude_base_url(self) -> str:
        return (self.amplitude_api_url or AMPLITUDE_BASE_URLS[self.amplitude_region]).rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    known = {field.alias for field in Settings.model_fields.values() if field.alias}
    values = {name: os.environ[name] for name in known if os.environ.get(name, "") != ""}
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in error.errors())
        raise ConfigurationError(f"invalid configuration: {problems}") from error


def reset_settings() -> None:
    """Forget cached settings (tests and `serve` change the environment)."""
    get_settings.cache_clear()
