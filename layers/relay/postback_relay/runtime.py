"""Per-container singletons, built lazily on first use: one Amplitude session, one SQS client."""

from __future__ import annotations

from functools import lru_cache

from .amplitude.client import AmplitudeClient
from .config import get_settings, reset_settings
from .delivery import Delivery
from .queues import DeadLetterQueue, RetryQueue, reset_clients
from .secrets import amplitude_api_key


@lru_cache(maxsize=1)
def get_delivery() -> Delivery:
    settings = get_settings()
    client = AmplitudeClient(settings.amplitude_base_url, amplitude_api_key, settings.connect_timeout_s)
    return Delivery(client, settings, RetryQueue(), DeadLetterQueue())


def reset_runtime() -> None:
    """Drop every cached singleton (tests and `serve` reconfigure the environment)."""
    if get_delivery.cache_info().currsize:
        get_delivery().client.close()
    get_delivery.cache_clear()
    reset_settings()
    reset_clients()
