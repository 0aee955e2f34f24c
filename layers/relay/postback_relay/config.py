"""Settings from the environment, and what each function needs of them, checked at its cold start.

Each function's module builds its runtime with what that function needs (`PARTNER_FUNCTION`,
`RETRY_FUNCTION`, `TRACKER_FUNCTION`), so a deployment missing a variable fails the function's
init with the variable's name, before any postback is taken, rather than answering its first
postback with a 500. `Settings` itself requires nothing: the operators' commands and tests read it
for whatever they need.

Locally the secrets come straight from the environment (AMPLITUDE_API_KEY, RELAY_TOKENS); in AWS
the template passes the names of SSM parameters or Secrets Manager secrets instead.

Plain pydantic rather than pydantic-settings: importing pydantic-settings costs 70-85 ms of every
cold start (measured beside Powertools' resolver, which already loads pydantic), for a reader this
module does in ten lines.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cached_property, lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# Defined with the other errors; imported from here by much of the package and its tests.
from .errors import ConfigurationError as ConfigurationError

if TYPE_CHECKING:
    from .partners.pass_through import PassThrough

AMPLITUDE_BASE_URLS = {"us": "https://api2.amplitude.com", "eu": "https://api.eu.amplitude.com"}
# The local default of RELAY_HASH_SALT: public, so never the key of anything kept in AWS.
LOCAL_HASH_SALT = "postback-relay-local"


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
    # The function's own Firehose delivery stream into the archive bucket (template.yaml); without
    # one, a function with RELAY_ARCHIVE_BUCKET writes one object per postback itself.
    archive_stream: str = Field(default="", alias="RELAY_ARCHIVE_STREAM")
    archive_bucket: str = Field(default="", alias="RELAY_ARCHIVE_BUCKET")
    archive_prefix: str = Field(default="raw", alias="RELAY_ARCHIVE_PREFIX")

    # First-party tracker (docs/tracker.md).
    apps_table: str = Field(default="", alias="RELAY_APPS_TABLE")
    clicks_table: str = Field(default="", alias="RELAY_CLICKS_TABLE")
    installs_table: str = Field(default="", alias="RELAY_INSTALLS_TABLE")
    default_redirect_url: str = Field(default="https://www.apple.com/app-store/", alias="RELAY_DEFAULT_REDIRECT_URL")
    hash_salt: str = Field(default=LOCAL_HASH_SALT, alias="RELAY_HASH_SALT", repr=False)
    fingerprinting: bool = Field(default=True, alias="RELAY_FINGERPRINTING")
    # Per function (template parameters): partners publish their source ranges but rarely sign.
    allowed_cidrs: str = Field(default="", alias="RELAY_ALLOWED_CIDRS")
    # A header the partner's own dashboard can send its token in (AppsFlyer's Push API auth token).
    partner_token_header: str = Field(default="", alias="RELAY_PARTNER_TOKEN_HEADER")
    # Per partner function (template parameters <Partner>PassThrough): unmapped keys to forward as
    # event properties, e.g. "level,ad_*,!debug_*" (partners/pass_through.py; docs/partners.md).
    pass_through: str = Field(default="", alias="RELAY_PASS_THROUGH")
    # Set by Lambda itself: inside AWS the public local defaults (RELAY_HASH_SALT) must not be used.
    lambda_function_name: str = Field(default="", alias="AWS_LAMBDA_FUNCTION_NAME")

    @cached_property
    def allowed_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        # Parsed once per container, not on every postback the allowlist checks.
        return tuple(ip_network(cidr.strip(), strict=False) for cidr in self.allowed_cidrs.split(",") if cidr.strip())

    @cached_property
    def pass_through_rules(self) -> PassThrough:
        from .partners.pass_through import PassThrough

        return PassThrough.parse(self.pass_through)

    @field_validator("pass_through")
    @classmethod
    def _pass_through_parses(cls, value: str) -> str:
        # Imported here: the operators' commands read settings without loading the partners.
        from .partners.pass_through import PassThrough

        PassThrough.parse(value)  # PassThroughError (a ValueError) names the bad rule
        return value

    @field_validator("allowed_cidrs")
    @classmethod
    def _cidrs_parse(cls, value: str) -> str:
        for cidr in value.split(","):
            if cidr.strip():
                ip_network(cidr.strip(), strict=False)  # ValueError names the bad range
        return value

    @property
    def configured_hash_salt(self) -> str | None:
        """RELAY_HASH_SALT when the environment sets it (not the local default), else None."""
        return self.hash_salt if "hash_salt" in self.model_fields_set else None

    @property
    def shadow(self) -> bool:
        return self.relay_mode == "shadow"

    @property
    def amplitude_base_url(self) -> str:
        return (self.amplitude_api_url or AMPLITUDE_BASE_URLS[self.amplitude_region]).rstrip("/")


@dataclass(frozen=True)
class FunctionNeeds:
    """What one function cannot start without, checked at its cold start: variables it needs, and
    groups of which it needs one. Plain data rather than a pydantic model per function: four more
    model classes doubled this module's import time (≈ 20 ms more on a slow core)."""

    function: str
    variables: tuple[str, ...]
    one_of: tuple[tuple[tuple[str, ...], str], ...] = ()

    def missing(self, settings: Settings) -> list[str]:
        # What the environment set (load_settings passes no empty variable), by variable name.
        given = {Settings.model_fields[name].alias for name in settings.model_fields_set}
        problems = [f"{name}: required by the {self.function}" for name in self.variables if name not in given]
        problems += [message for names, message in self.one_of if not given & set(names)]
        return problems


_QUEUES = ("RELAY_RETRY_QUEUE_URL", "RELAY_DLQ_URL")
_AMPLITUDE_KEY = (
    ("AMPLITUDE_API_KEY_PARAMETER", "AMPLITUDE_API_KEY"),
    "set AMPLITUDE_API_KEY_PARAMETER (the stored key's name) or AMPLITUDE_API_KEY (local use)",
)
_TOKENS = (
    ("RELAY_TOKENS_PREFIX", "RELAY_TOKENS"),
    "set RELAY_TOKENS_PREFIX (a parameter or secret per partner) or RELAY_TOKENS (local use)",
)
# Every function sends to Amplitude and owns what it cannot send now through the queues.
DELIVERING_FUNCTION = FunctionNeeds("function", _QUEUES, (_AMPLITUDE_KEY,))
# A partner function (and the mapping-file networks') also checks its route's tokens.
PARTNER_FUNCTION = FunctionNeeds("partner function", _QUEUES, (_AMPLITUDE_KEY, _TOKENS))
# The retry consumer reads the erasure fence and keeps each delivery once in the idempotency table.
RETRY_FUNCTION = FunctionNeeds("retry function", (*_QUEUES, "RELAY_IDEMPOTENCY_TABLE"), (_AMPLITUDE_KEY,))
TRACKER_FUNCTION = FunctionNeeds(
    "tracker function",
    (*_QUEUES, "RELAY_APPS_TABLE", "RELAY_CLICKS_TABLE", "RELAY_INSTALLS_TABLE"),
    (_AMPLITUDE_KEY,),
)


def load_settings(needs: FunctionNeeds | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings read from `environ` (the process environment by default); an empty variable
    counts as unset. Raises ConfigurationError naming every variable that is wrong, or that
    `needs` asks for and is missing."""
    environ = os.environ if environ is None else environ
    known = {field.alias for field in Settings.model_fields.values() if field.alias}
    values = {name: environ[name] for name in known if environ.get(name, "") != ""}
    try:
        settings = Settings.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in error.errors())
        raise ConfigurationError(f"invalid configuration: {problems}") from error
    missing = needs.missing(settings) if needs is not None else []
    if missing:
        raise ConfigurationError(f"invalid configuration: {'; '.join(missing)}")
    return settings


# How to read the settings of the function being invoked (set by its runtime for the invocation):
# under `serve` several functions share one process, each with its own environment. Read on
# demand, so an invocation whose settings cannot be read fails where they are needed, not before
# (the tracker's click still redirects).
ACTIVE_SETTINGS: ContextVar[Callable[[], Settings] | None] = ContextVar("active_settings", default=None)


def get_settings() -> Settings:
    """The invoked function's settings; outside an invocation (tools, tests), the process's."""
    read_active = ACTIVE_SETTINGS.get()
    return read_active() if read_active is not None else _process_settings()


@lru_cache(maxsize=1)
def _process_settings() -> Settings:
    return load_settings()


def reset_settings() -> None:
    """Forget cached settings (tests and `serve` change the environment)."""
    _process_settings.cache_clear()
