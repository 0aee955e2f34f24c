"""A local Amplitude: ingestion with Amplitude's semantics, SQLite storage and the Dashboard REST API.

See docs/emulator.md. `AmplitudeEmulator` is a drop-in `AmplitudeSink` (same constructor, recordings and
fault injection) that also remembers users and answers `/api/2/…` queries.
"""

from __future__ import annotations

from .properties import MixedOperatorsError, apply_user_properties
from .server import LOCAL_SECRET_KEY, AmplitudeEmulator
from .settings import EmulatorSettings
from .store import Store

__all__ = [
    "LOCAL_SECRET_KEY",
    "AmplitudeEmulator",
    "EmulatorSettings",
    "MixedOperatorsError",
    "Store",
    "apply_user_properties",
]
