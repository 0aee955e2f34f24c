"""Accept fast, then own every retry.

`Delivery.settle` is the one place that decides what happens after an attempt at Amplitude, for
the partner-facing handlers and the retry consumer alike:
delivered → done; retryable → retry queue with backoff (or the DLQ once attempts run out);
rejected → DLQ with the reason. Nothing accepted is ever dropped: if SQS itself fails, the error
propagates (the partner gets 503 and can resend; the consumer reports a batch item failure).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from .amplitude.client import AmplitudeClient, Outcome, Verdict
from .config import Settings
from .mapping import AmplitudeCall
from .messages import DeadLetter, DeadLetterReason, RetryMessage
from .observability import count, logger
from .queues import MAX_SQS_DELAY_S, DeadLetterQueue, RetryQueue

# Below this, an attempt cannot finish in time: queue the call instead of starting it.
MIN_ATTEMPT_S = 0.05
_JITTER_SHARE = 0.2


class Status(StrEnum):
    DELIVERED = "delivered"
    QUEUED = "queued"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class Settled:
    call: AmplitudeCall
    status: Status
    attempts: int
    http_status: int | None = None
    error: str | None = None


def backoff_delay_s(attempts: int, base_s: float, retry_after_s: float | None, rng: random.Random) -> float:
    """min(900, base * 2**(attempts-1)) plus up to 20 % jitter, or Retry-After if that is longer."""
    delay = min(float(MAX_SQS_DELAY_S), base_s * 2 ** max(0, attempts - 1))
    delay += rng.uniform(0, delay * _JITTER_SHARE)
    if retry_after_s is not None and retry_after_s > delay:
        delay = retry_after_s
    return float(delay)


class Delivery:
    def __init__(
        self,
        client: AmplitudeClient,
        settings: Settings,
        retry_queue: RetryQueue,
        dead_letters: DeadLetterQueue,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.retry_queue = retry_queue
        self.dead_letters = dead_letters
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def deliver_postback(self, partner: str, calls: Sequence[AmplitudeCall], budget_s: float) -> list[Settled]:
        """The immediate attempt, inside the partner's time budget; the rest goes to the queue."""
        deadline = time.monotonic() + budget_s
        received_at = self.now_ms()
        settled: list[Settled] = []
        for call in calls:
            message = RetryMessage(partner=partner, call=call, received_at_ms=received_at)
            remaining = deadline - time.monotonic()
            if remaining < MIN_ATTEMPT_S:
                outcome = Outcome(Verdict.RETRYABLE, None, "not attempted: response time budget spent")
                settled.append(self.settle(message, outcome, attempted=False))
            else:
                settled.append(self.settle(message, self.client.send(call, timeout_s=remaining)))
        return settled

    def redeliver(self, message: RetryMessage) -> Settled:
        """One attempt from the retry consumer (no partner waiting: the longer timeout)."""
        if message.not_before_ms is not None and message.not_before_ms > self.now_ms():
            return self._requeue_until_due(message)
        outcome = self.client.send(message.call, timeout_s=self.settings.retry_timeout_s)
        count("retried", message.partner)
        return self.settle(message, outcome)

    def settle(self, message: RetryMessage, outcome: Outcome, attempted: bool = True) -> Settled:
        attempts = message.attempts + (1 if attempted else 0)
        call = message.call
        log = {"partner": message.partner, "endpoint": call.endpoint, "insert_id": call.insert_id}
        if outcome.verdict is Verdict.DELIVERED:
            logger.debug("delivered", extra={**log, "attempts": attempts, "status": outcome.status})
            count("delivered", message.partner)
            return Settled(call, Status.DELIVERED, attempts, outcome.status)
        if outcome.verdict is Verdict.REJECTED or attempts >= self.settings.max_attempts:
            reason = DeadLetterReason.REJECTED if outcome.verdict is Verdict.REJECTED else DeadLetterReason.MAX_ATTEMPTS
            self.dead_letters.put(
                DeadLetter(
                    reason=reason,
                    status=outcome.status,
                    error=outcome.error,
                    attempts=attempts,
                    partner=message.partner,
                    call=call,
                    received_at_ms=message.received_at_ms,
                    dead_lettered_at_ms=self.now_ms(),
                )
            )
            count("dead_lettered", message.partner)
            logger.warning(
                "dead-lettered",
                extra={**log, "reason": reason, "attempts": attempts, "status": outcome.status},
            )
            return Settled(call, Status.DEAD_LETTERED, attempts, outcome.status, outcome.error)

        delay = (
            backoff_delay_s(attempts, self.settings.retry_base_delay_s, outcome.retry_after_s, self.rng)
            if attempted
            else 0.0
        )
        queued = message.model_copy(
            update={
                "attempts": attempts,
                "last_status": outcome.status,
                "last_error": outcome.error,
                "not_before_ms": self.now_ms() + int(delay * 1000) if delay > MAX_SQS_DELAY_S else None,
            }
        )
        self.retry_queue.put(queued, delay_s=min(MAX_SQS_DELAY_S, round(delay)))
        count("queued", message.partner)
        logger.info(
            "queued for retry",
            extra={**log, "attempts": attempts, "status": outcome.status, "delay_s": round(delay, 1)},
        )
        return Settled(call, Status.QUEUED, attempts, outcome.status, outcome.error)

    def _requeue_until_due(self, message: RetryMessage) -> Settled:
        assert message.not_before_ms is not None
        wait_s = (message.not_before_ms - self.now_ms()) / 1000
        self.retry_queue.put(message, delay_s=round(min(wait_s, MAX_SQS_DELAY_S)))
        return Settled(message.call, Status.QUEUED, message.attempts, message.last_status, message.last_error)
