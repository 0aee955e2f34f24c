"""One function's runtime: its settings, validated at cold start, and the clients built from them.

Each function's module makes one (`Runtime(PARTNER_FUNCTION)`, ...) when Lambda loads it, so
a missing or wrong variable fails the init with its name. Clients are built on first use and kept
for the container's life. During an invocation the runtime is *active*: code deep in the delivery
path (secrets, queues) reads the invoked function's settings through `config.get_settings()`, so
under `serve`, where every function shares one process, each still sees its own environment.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

from .amplitude.client import AmplitudeClient
from .archive import Archive, ArchiveWriter, FirehoseArchive
from .config import ACTIVE_SETTINGS, FunctionNeeds, Settings, load_settings, reset_settings
from .delivery import Delivery
from .idempotency import Idempotency, NoIdempotency
from .queues import DeadLetterQueue, RetryQueue, reset_clients
from .secrets import amplitude_api_key, reset_providers

if TYPE_CHECKING:
    from .tracker.service import Tracker

# Every runtime of the process, so `reset_runtime` reaches the ones handlers hold.
_RUNTIMES: weakref.WeakSet[Runtime] = weakref.WeakSet()
_ACTIVE: ContextVar[Runtime | None] = ContextVar("active_runtime", default=None)
# The environment a function is loaded with, when it is not the process's (`serve`).
_LOADING_ENVIRONMENT: ContextVar[Mapping[str, str] | None] = ContextVar("loading_environment", default=None)


class Runtime:
    def __init__(self, needs: FunctionNeeds | None = None, environ: Mapping[str, str] | None = None) -> None:
        self._needs = needs
        # None: the process environment, read again after `reset_runtime` (tests change it).
        self._environ = environ if environ is not None else _LOADING_ENVIRONMENT.get()
        self._settings: Settings | None = load_settings(needs, self._environ)
        _RUNTIMES.add(self)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self._needs, self._environ)
        return self._settings

    @cached_property
    def delivery(self) -> Delivery:
        settings = self.settings
        client = AmplitudeClient(settings.amplitude_base_url, amplitude_api_key, settings.connect_timeout_s)
        return Delivery(client, settings, RetryQueue(settings.retry_queue_url), DeadLetterQueue(settings.dlq_url))

    @cached_property
    def idempotency(self) -> Idempotency | NoIdempotency:
        settings = self.settings
        if not settings.idempotency_table:
            return NoIdempotency()
        return Idempotency(settings.idempotency_table, settings.idempotency_ttl_s)

    @cached_property
    def archive(self) -> ArchiveWriter | None:
        settings = self.settings
        if settings.archive_stream:
            return FirehoseArchive(settings.archive_stream)
        return Archive(settings.archive_bucket, settings.archive_prefix) if settings.archive_bucket else None

    @cached_property
    def tracker(self) -> Tracker:
        from .config import ConfigurationError
        from .tracker.service import Tracker, TrackerSettings
        from .tracker.store import TrackerStore

        settings = self.settings
        if not (settings.apps_table and settings.clicks_table and settings.installs_table):
            raise ConfigurationError("set RELAY_APPS_TABLE, RELAY_CLICKS_TABLE and RELAY_INSTALLS_TABLE")
        return Tracker(
            TrackerStore(settings.apps_table, settings.clicks_table, settings.installs_table),
            self.delivery,
            TrackerSettings(settings.default_redirect_url, settings.hash_salt, settings.fingerprinting),
            archive=self.archive,
        )

    @contextmanager
    def active(self) -> Iterator[Runtime]:
        """This runtime (and its settings) is the one `current_runtime`/`get_settings` give for
        the duration: one invocation."""
        runtime_token = _ACTIVE.set(self)
        settings_token = ACTIVE_SETTINGS.set(lambda: self.settings)
        try:
            yield self
        finally:
            ACTIVE_SETTINGS.reset(settings_token)
            _ACTIVE.reset(runtime_token)

    def reset(self) -> None:
        """Close the clients; read the settings again on next use."""
        if "delivery" in self.__dict__:
            self.delivery.client.close()
        for name in ("delivery", "idempotency", "archive", "tracker"):
            self.__dict__.pop(name, None)
        self._settings = None


@contextmanager
def loading_environment(environ: Mapping[str, str]) -> Iterator[None]:
    """Runtimes made while a function's module loads read `environ` instead of the process's:
    `serve` gives each function its own environment, as Lambda does."""
    token = _LOADING_ENVIRONMENT.set(environ)
    try:
        yield
    finally:
        _LOADING_ENVIRONMENT.reset(token)


def current_runtime() -> Runtime:
    """The invoked function's runtime; outside an invocation, the process's own (tools, tests)."""
    return _ACTIVE.get() or _process_runtime()


@lru_cache(maxsize=1)
def _process_runtime() -> Runtime:
    return Runtime()


def get_delivery() -> Delivery:
    """The current runtime's delivery (the operators' commands, tests)."""
    return current_runtime().delivery


def reset_runtime() -> None:
    """Every runtime reads its settings again and rebuilds its clients (tests and `serve`
    reconfigure the environment)."""
    for runtime in list(_RUNTIMES):
        runtime.reset()
    _process_runtime.cache_clear()
    # Imported here: partner functions never load the tracker's DynamoDB code (cold start).
    from .tracker.store import dynamodb as tracker_dynamodb

    tracker_dynamodb.cache_clear()
    reset_settings()
    reset_clients()
    reset_providers()
