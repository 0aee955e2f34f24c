"""In-app events cut into Amplitude requests that each fit every place a request travels.

A batch goes to Amplitude's HTTP V2 API, and if Amplitude answers 429/5xx, onto the retry queue as
one SQS message (later perhaps the dead-letter queue): each of those has a size limit, and a request
over it fails on every retry. So a batch is cut by bytes as well as by count, with room left for
the queue message's envelope around the events.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..errors import BadRequest, PayloadTooLarge

# Amplitude HTTP V2 (Growth and Enterprise plans): "Keep request sizes under 1 MB with fewer than
# 2000 events per request", else 413. https://amplitude.com/docs/apis/analytics/http-v2#upload-limit
AMPLITUDE_MAX_REQUEST_BYTES = 1_000_000
AMPLITUDE_MAX_EVENTS_PER_REQUEST = 1_999
# SQS has taken message bodies of up to 1 MiB since 2025
# (https://aws.amazon.com/blogs/compute/more-room-to-build-serverless-services-now-support-payloads-up-to-1-mb/),
# but each queue enforces its own MaximumMessageSize, which stays 256 KiB on a queue created with
# that default and never raised, and the template does not set it
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html).
# Budgeting for 256 KiB holds on either kind of queue.
SQS_MAX_MESSAGE_BYTES = 262_144
# Room for what a retry or dead-letter message adds around the events: ids, counters, the key's
# reference (an SSM name: at most 2,048 characters) and Amplitude's error text (300 characters,
# up to 6 bytes each once JSON-escaped).
ENVELOPE_RESERVE_BYTES = 16 * 1024
MAX_BATCH_BYTES = min(AMPLITUDE_MAX_REQUEST_BYTES, SQS_MAX_MESSAGE_BYTES) - ENVELOPE_RESERVE_BYTES
# Half Amplitude's count limit: the margin costs nothing (a request holds at most 500 events).
MAX_BATCH_EVENTS = 1_000
# Every event carries the device id, the user id and the install's campaign: a small request can
# fan out. Past this many bytes in all, the request is refused (413) rather than sent as many
# batches; an SDK's batch of 500 events with 256-character campaign fields stays under half of it.
MAX_OUTGOING_BYTES = 1024 * 1024
_BRACKETS = 2  # the events array's [ and ]: a batch's bytes are exactly its JSON array's


def event_size(event: dict[str, Any], index: int) -> int:
    """Bytes of the event as it travels (compact JSON, UTF-8 as is)."""
    try:
        return len(json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode())
    except (UnicodeEncodeError, ValueError) as error:
        raise BadRequest(f"events[{index}] holds text or a number that cannot be sent as JSON") from error


def split_batches(events: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Consecutive events (order kept: Amplitude orders one device's events by arrival) in batches
    of at most MAX_BATCH_EVENTS events whose JSON array is at most MAX_BATCH_BYTES bytes."""
    sizes = [event_size(event, index) for index, event in enumerate(events)]
    total = sum(sizes) + len(sizes)
    if total > MAX_OUTGOING_BYTES:
        raise PayloadTooLarge(
            f"these {len(events)} events come to {total} bytes for Amplitude once each carries the device id, "
            f"user id and install campaign (at most {MAX_OUTGOING_BYTES}): send them in smaller batches"
        )
    batches: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    current_bytes = _BRACKETS
    for index, (event, size) in enumerate(zip(events, sizes, strict=True)):
        if size + _BRACKETS > MAX_BATCH_BYTES:
            raise PayloadTooLarge(
                f"events[{index}] is {size} bytes as sent to Amplitude "
                f"(one event may be at most {MAX_BATCH_BYTES - _BRACKETS})"
            )
        if current and (len(current) >= MAX_BATCH_EVENTS or current_bytes + 1 + size > MAX_BATCH_BYTES):
            batches.append(current)
            current, current_bytes = [], _BRACKETS
        current_bytes += size + (1 if current else 0)  # a comma before every event but the first
        current.append(event)
    if current:
        batches.append(current)
    return batches
