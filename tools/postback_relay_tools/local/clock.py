"""One clock for the whole local stack, moving only when told: `serve --virtual-clock`.

time-machine (a maintained library) replaces the C functions behind `time.time()` and
`datetime.now()` for the whole process, references taken before included. Everything in the local
stack reads the time through them: moto's SQS (message delays, visibility timeouts, the 14-day
retention, maxReceiveCount redrive), moto's DynamoDB as Powertools idempotency uses it (record
expiry is compared with the caller's `now`), the relay (back-off, retry horizon, `not_before_ms`),
the retry consumer, and the local Amplitude (72 h hold-and-match, outages). So one `shift` moves
all of them, and SQS semantics stay moto's own rather than a second queue written here.
`time.monotonic()` is left alone: timeouts on real sockets and thread waits keep working.

Measured alternatives: freezegun also freezes `time.monotonic()` (thread waits and socket timeouts
then never end) and patches module attributes one by one; moto in a subprocess of its own cannot
share a clock with the relay at all.
"""

from __future__ import annotations

import time
from typing import Any

# moto's account and region for everything the local stack creates.
_ACCOUNT = "123456789012"


class VirtualClock:
    """The process's wall clock, frozen at `start_s` (default: now, to the second) until moved."""

    def __init__(self, start_s: float | None = None) -> None:
        self.start_s = float(round(time.time()) if start_s is None else start_s)
        self._traveller: Any = None
        self._coordinates: Any = None

    def start(self) -> VirtualClock:
        import time_machine

        self._traveller = time_machine.travel(self.start_s, tick=False)
        self._coordinates = self._traveller.start()
        return self

    def stop(self) -> None:
        traveller, self._traveller = self._traveller, None
        if traveller is not None:
            traveller.stop()

    def now_s(self) -> float:
        return time.time()

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def move_to(self, instant_s: float) -> None:
        """Move forward to `instant_s` (never back: SQS and the relay assume time only grows)."""
        if instant_s > time.time():
            self._coordinates.move_to(instant_s)


def next_due_s(queue_names: list[str], region: str) -> float | None:
    """The earliest instant a message on one of these moto queues becomes receivable (its delay or
    its visibility timeout ends), or None when they hold nothing. Read from moto's in-process
    backend: the local stack's own tooling, never the Lambda path."""
    from moto.sqs.models import sqs_backends

    backend = sqs_backends[_ACCOUNT][region]
    due: float | None = None
    now_ms = time.time() * 1000
    for name in queue_names:
        queue = backend.queues.get(name)
        if queue is None:
            continue
        retention_ms = float(getattr(queue, "message_retention_period", 345600)) * 1000
        for message in list(queue._messages):
            if (message.sent_timestamp or 0) + retention_ms <= now_ms:
                continue  # past its retention: moto keeps it but never hands it out again
            # moto keeps both instants in epoch milliseconds; 0 means "no delay" / "never received".
            instant = max(message.delayed_until, message.visible_at) / 1000
            due = instant if due is None else min(due, instant)
    return due
