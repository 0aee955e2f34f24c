"""Partner timestamps to epoch milliseconds (UTC).

Partners disagree: AppsFlyer sends "2026-11-20 13:37:00.123" in UTC, Adjust epoch seconds, Branch
and Tenjin epoch milliseconds, others ISO 8601 with an offset. A timestamp we cannot read is
dropped (Amplitude then uses the upload time) rather than guessed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .ids import clean_text

# Earliest and latest instants we accept: anything outside is a broken clock or a unit mix-up.
_MIN_MS = 946_684_800_000  # 2000-01-01
_MAX_MS = 4_102_444_800_000  # 2100-01-01

_DATETIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[ T](?P<time>\d{2}:\d{2}(?::\d{2})?)(?P<frac>\.\d{1,9})?"
    r"\s*(?P<tz>Z|UTC|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)
_EPOCH_NUMBER = re.compile(r"\d+(\.\d+)?")


def _epoch_number_to_ms(number: Decimal) -> int | None:
    # Ten digits are seconds, thirteen milliseconds; decide by magnitude so fractions work too.
    millis = int(number) if number >= Decimal(10) ** 11 else int(number * 1000)
    return millis if _MIN_MS <= millis < _MAX_MS else None


def _datetime_to_ms(text: str) -> int | None:
    match = _DATETIME.match(text)
    if not match:
        return None
    clock = match["time"] if match["time"].count(":") == 2 else match["time"] + ":00"
    frac = (match["frac"] or ".0")[1:7].ljust(6, "0")
    tz = match["tz"] or "+00:00"
    if tz.upper() in ("Z", "UTC"):
        tz = "+00:00"
    elif ":" not in tz:
        tz = tz[:3] + ":" + tz[3:]
    try:
        moment = datetime.fromisoformat(f"{match['date']}T{clock}.{frac}{tz}")
    except ValueError:
        return None
    millis = int(moment.astimezone(UTC).timestamp() * 1000)
    return millis if _MIN_MS <= millis < _MAX_MS else None


def to_epoch_ms(value: Any) -> int | None:
    """Epoch milliseconds for a partner timestamp, or None when it is missing or unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return _epoch_number_to_ms(Decimal(str(value)))
        except InvalidOperation:
            return None
    text = clean_text(value)
    if text is None:
        return None
    if _EPOCH_NUMBER.fullmatch(text):
        return _epoch_number_to_ms(Decimal(text))
    return _datetime_to_ms(text)
