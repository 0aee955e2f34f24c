"""The integration tests' relay: moto, the stand-in Amplitude, and the sample events' token."""

from __future__ import annotations

import pytest

from postback_relay.runtime import reset_runtime
from tests.integration.support import SAMPLE_TOKENS


@pytest.fixture
def env(relay_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """`relay_env` accepting the token the events/ samples carry."""
    monkeypatch.setenv("RELAY_TOKENS", SAMPLE_TOKENS)
    reset_runtime()
    return relay_env
