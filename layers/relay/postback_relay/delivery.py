"""Accept fast, then own every retry.

`Delivery.settle` is the one place that decides what happens after an attempt at Amplitude, for
the partner-facing handlers and the retry consumer alike:
delivered → done; retryable → retry queue with backoff, until the retry horizon (RELAY_RETRY_HORIZON_S,
28 h by default, from the receipt or the replay) has passed, then the DLQ (`max_attempts`);
rejected → DLQ with the reason. Nothing accepted is ever dropped: if SQS itself fails, the error
propagates (the partner gets 503 and can resend; the consumer reports a batch item failure).

SQS delays a message by 900 s at most; a longer wait (back-off at its cap is 900 s, but a
`Retry-After` may be any length) travels as `not_before_ms`, and the consumer sends the message on
again, hop by hop, until it is due. Each hop is a new delivery (a fresh `delivery_id`), so a new idempotency key.

The retry consumer passes the erasure fence (fence.py): a message about a person `forget` erased
since its postback arrived is dropped unsent, before the attempt (and before a hop), and again
before a failed attempt would leave it in the DLQ. A fence that cannot be read sends nothing: the
message goes back on the queue for FENCE_RETRY_DELAY_S (a hop; no attempt counted), until the retry
horizon, when it is dead-lettered with why, as any call out of time.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from uuid import uuid4

from .amplitude.client import AmplitudeClient, Outcome, Verdict
from .config import Settings
from .fence import FenceUnavailable
from .messages import DeadLetter, DeadLetterReason, RetryMessage
from .models.amplitude import AmplitudeCall
from .observability import count, logger, observe_max
from .queues import MAX_SQS_DELAY_S, DeadLetterQueue, RetryQueue

# The erasure fence's answer for a message (fence.ErasureFence.erased); FenceUnavailable if unknown.
Erased = Callable[[RetryMessage], bool]
# How long a message waits when the erasure fence cannot be read (a DynamoDB outage, a missing grant).
FENCE_RETRY_DELAY_S = 300
# Below this, an attempt cannot finish in time: queue the call instead of starting it.
MIN_ATTEMPT_S = 0.05
_JITTER_SHARE = 0.2


class Status(StrEnum):
    DELIVERED = "delivered"
    QUEUED = "queued"
    DEAD_LETTERED = "dead_lettered"
    ERASED = "erased"  # its person was forgotten while it was owed: dropped, never sent
    SHADOW = "shadow"  # RELAY_MODE=shadow: archived and mapped, not sent (core.accept_postback)
    # Nothing Amplitude can use by its nature (SKAdNetwork's aggregated postbacks): archived, never sent.
    NOT_FORWARDED = "not_forwarded"


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
            attempted = remaining >= MIN_ATTEMPT_S
            outcome = (
                self.client.send(call, timeout_s=remaining)
                if attempted
                else Outcome(Verdict.RETRYABLE, None, "not attempted: response time budget spent")
            )
            try:
                settled.append(self.settle(message, outcome, attempted=attempted))
            except Exception as error:  # the retry queue's put failed (SQS errors; boto is not imported here)
                if not settled:
                    raise  # nothing of this postback is ours yet: 503, and the partner's resend is whole
                # An earlier call already reached Amplitude or the queue: a 503 now would make the resend
                # send it twice. Park this one in the DLQ with why instead (if that fails too: 503).
                settled.append(
                    self._dead_letter(
                        message,
                        outcome,
                        int(attempted),
                        DeadLetterReason.QUEUE_UNAVAILABLE,
                        f"the retry queue was unavailable: {type(error).__name__}",
                    )
                )
        return settled

    def redeliver(self, message: RetryMessage, erased: Erased | None = None) -> Settled:
        """One attempt from the retry consumer (no partner waiting: the longer timeout). `erased`:
        whether the message's person was forgotten since its receipt (the erasure fence)."""
        if erased is not None:
            try:
                if erased(message):
                    return self._drop_erased(message)
            except FenceUnavailable as error:
                return self._fence_unavailable(message, error)
        now_ms = self.now_ms()
        if message.not_before_ms is not None and message.not_before_ms > now_ms:
            return self._requeue_until_due(message)
        # How long the oldest owed call has waited since its postback arrived: the retry-age alarm.
        observe_max("retry_age_seconds", message.partner, max(0, now_ms - message.received_at_ms) / 1000)
        outcome = self.client.send(message.call, timeout_s=self.settings.retry_timeout_s)
        count("retried", message.partner)
        return self.settle(message, outcome, erased=erased)

    def horizon_end_ms(self, message: RetryMessage) -> int:
        start = message.horizon_from_ms if message.horizon_from_ms is not None else message.received_at_ms
        return start + self.settings.retry_horizon_s * 1000

    def settle(
        self, message: RetryMessage, outcome: Outcome, attempted: bool = True, erased: Erased | None = None
    ) -> Settled:
        attempts = message.attempts + (1 if attempted else 0)
        call = message.call
        log = _log_fields(message)
        if outcome.verdict is Verdict.DELIVERED:
            logger.debug("delivered", extra={**log, "attempts": attempts, "status": outcome.status})
            count("delivered", message.partner)
            return Settled(call, Status.DELIVERED, attempts, outcome.status)
        if outcome.verdict is Verdict.REJECTED:
            return self._dead_letter(message, outcome, attempts, DeadLetterReason.REJECTED, outcome.error, erased)
        now_ms = self.now_ms()
        horizon_end_ms = self.horizon_end_ms(message)
        capped = self.settings.max_attempts > 0 and attempts >= self.settings.max_attempts
        if capped or (attempted and now_ms >= horizon_end_ms):
            return self._dead_letter(message, outcome, attempts, DeadLetterReason.MAX_ATTEMPTS, outcome.error, erased)

        delay = (
            backoff_delay_s(attempts, self.settings.retry_base_delay_s, outcome.retry_after_s, self.rng)
            if attempted
            else 0.0
        )
        due_ms = now_ms + int(delay * 1000)
        if due_ms > horizon_end_ms:
            if outcome.retry_after_s is not None and now_ms + outcome.retry_after_s * 1000 > horizon_end_ms:
                # Amplitude asks us to wait past the horizon: honour it by not sending, and say why.
                error = f"Retry-After {outcome.retry_after_s:.0f}s reaches past the retry horizon"
                return self._dead_letter(message, outcome, attempts, DeadLetterReason.MAX_ATTEMPTS, error, erased)
            # The last attempt lands on the horizon itself rather than after it.
            due_ms, delay = horizon_end_ms, (horizon_end_ms - now_ms) / 1000
        queued = message.model_copy(
            update={
                "delivery_id": uuid4().hex,
                "attempts": attempts,
                "last_status": outcome.status,
                "last_error": outcome.error,
                "not_before_ms": due_ms if delay > MAX_SQS_DELAY_S else None,
            }
        )
        self.retry_queue.put(queued, delay_s=min(MAX_SQS_DELAY_S, round(delay)))
        count("queued", message.partner)
        logger.info(
            "queued for retry",
            extra={**log, "attempts": attempts, "status": outcome.status, "delay_s": round(delay, 1)},
        )
        return Settled(call, Status.QUEUED, attempts, outcome.status, outcome.error)

    def _dead_letter(
        self,
        message: RetryMessage,
        outcome: Outcome,
        attempts: int,
        reason: DeadLetterReason,
        error: str | None,
        erased: Erased | None = None,
    ) -> Settled:
        # Asked again: forget may have run while the attempt was under way (the letter would outlive it).
        # Unanswered, the letter is kept: `dlq replay` and `dlq export` skip a forgotten person's.
        try:
            if erased is not None and erased(message):
                return self._drop_erased(message)
        except FenceUnavailable:
            count("erasure_fence_unavailable", message.partner)
        self.dead_letters.put(
            DeadLetter(
                reason=reason,
                status=outcome.status,
                error=error,
                attempts=attempts,
                partner=message.partner,
                call=message.call,
                received_at_ms=message.received_at_ms,
                dead_lettered_at_ms=self.now_ms(),
            )
        )
        count("dead_lettered", message.partner)
        logger.warning(
            "dead-lettered",
            extra={**_log_fields(message), "reason": reason, "attempts": attempts, "status": outcome.status},
        )
        return Settled(message.call, Status.DEAD_LETTERED, attempts, outcome.status, error)

    def _drop_erased(self, message: RetryMessage) -> Settled:
        count("erased_in_flight", message.partner)
        logger.info("dropped: its person was erased while it was owed", extra=_log_fields(message))
        return Settled(message.call, Status.ERASED, message.attempts, message.last_status, message.last_error)

    def _fence_unavailable(self, message: RetryMessage, error: FenceUnavailable) -> Settled:
        """Not sent unchecked: back on the queue for a while (a new delivery, no attempt counted),
        or, past the retry horizon, into the DLQ with why."""
        count("erasure_fence_unavailable", message.partner)
        logger.warning("erasure fence unavailable: not sent now", extra={**_log_fields(message), "error": str(error)})
        outcome = Outcome(Verdict.RETRYABLE, message.last_status, str(error))
        if self.now_ms() >= self.horizon_end_ms(message):
            return self._dead_letter(message, outcome, message.attempts, DeadLetterReason.MAX_ATTEMPTS, str(error))
        hop = message.model_copy(update={"delivery_id": uuid4().hex})
        self.retry_queue.put(hop, delay_s=FENCE_RETRY_DELAY_S)
        return Settled(message.call, Status.QUEUED, message.attempts, message.last_status, message.last_error)

    def _requeue_until_due(self, message: RetryMessage) -> Settled:
        """Not due yet (a wait past SQS's 900 s cap): the same call on a new message, a hop nearer.
        The hop has a delivery id of its own, hence its own idempotency key: it will be attempted."""
        assert message.not_before_ms is not None
        wait_s = (message.not_before_ms - self.now_ms()) / 1000
        hop = message.model_copy(update={"delivery_id": uuid4().hex})
        self.retry_queue.put(hop, delay_s=min(MAX_SQS_DELAY_S, math.ceil(wait_s)))
        return Settled(message.call, Status.QUEUED, message.attempts, message.last_status, message.last_error)


def _log_fields(message: RetryMessage) -> dict[str, str]:
    """What every delivery log line names: no ids of people, only of the call."""
    return {"partner": message.partner, "endpoint": message.call.endpoint, "insert_id": message.call.insert_id}
