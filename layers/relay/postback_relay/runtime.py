"""Per-container singletons, built lazily on first use: one Amplitude session, one SQS client."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from .amplitude.client import AmplitudeClient
from .archive import Archive
from .config import get_settings, reset_settings
from .delivery import Delivery
from .idempotency import Idempotency, NoIdempotency
from .queues import DeadLetterQueue, RetryQueue, reset_clients
from .secrets import amplitude_api_key, reset_providers

if TYPE_CHECKING:
    from .tracker.service import Tracker


@lru_cache(maxsize=1)
def get_delivery() -> Delivery:
    settings = get_settings()
    client = AmplitudeClient(settings.amplitude_base_url, amplitude_api_key, settings.connect_timeout_s)
    return Delivery(client, settings, RetryQueue(), DeadLetterQueue())


@lru_cache(maxsize=1)
def get_idempotency() -> Idempotency | NoIdempotency:
    settings = get_settings()
    if not settings.idempotency_table:
        return NoIdempotency()
    return Idempotency(settings.idempotency_table, settings.idempotency_ttl_s)


@lru_cache(maxsize=1)
def get_archive() -> Archive | None:
    settings = get_settings()
    return Archive(settings.archive_bucket, settings.archive_prefix) if settings.archive_bucket else None


@lru_cache(maxsize=1)
def get_tracker() -> Tracker:
    from .config import ConfigurationError
    from .tracker.service import Tracker, TrackerSettings
    from .tracker.store import TrackerStore

    settings = get_settings()
    if not (settings.apps_table and settings.clicks_table and settings.installs_table):
        raise ConfigurationError("set RELAY_APPS_TABLE, RELAY_CLICKS_TABLE and RELAY_INSTALLS_TABLE")
    return Tracker(
        TrackerStore(settings.apps_table, settings.clicks_table, settings.installs_table),
        get_delivery(),
        TrackerSettings(settings.default_redirect_url, settings.hash_salt, settings.fingerprinting),
        archive=get_archive(),
    )


def reset_runtime() -> None:
    """Drop every cached singleton (tests and `serve` reconfigure the environment)."""
    if get_delivery.cache_info().currsize:
        get_delivery().client.close()
    get_delivery.cache_clear()
    get_idempotency.cache_clear()
    get_archive.cache_clear()
    get_tracker.cache_clear()
    # Imported here: partner functions never load the tracker's DynamoDB code (cold start).
    from .tracker.store import dynamodb as tracker_dynamodb

    tracker_dynamodb.cache_clear()
    reset_settings()
    reset_clients()
    reset_providers()
