"""What travels on the retry queue and lands in the dead-letter queue."""

from __future__ import annotations

from enum import StrEnum
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field

from .models.amplitude import AmplitudeCall


class RetryMessage(BaseModel):
    """One Amplitude call still owed. `attempts` counts the attempts already made.

    Each one put on the queue is a delivery of its own, named by `delivery_id`: the consumer keys its
    idempotency by it, so a requeue hop or a replay (a fresh id) is attempted, while an SQS
    redelivery after a crashed batch, or a second copy from a send that botocore retried after a
    timeout (the same body), is not sent twice."""

    model_config = ConfigDict(frozen=True)

    partner: str
    call: AmplitudeCall
    delivery_id: str = Field(default_factory=lambda: uuid4().hex)
    attempts: int = Field(default=0, ge=0)
    received_at_ms: int
    # Where the retry horizon is counted from: the receipt, unless an operator replayed the call
    # (a replay starts a fresh horizon; `received_at_ms` keeps the receipt for the age metric).
    horizon_from_ms: int | None = None
    # Delays longer than SQS's 900 s cap: the consumer re-enqueues until this instant.
    not_before_ms: int | None = None
    last_status: int | None = None
    last_error: str | None = None


class DeadLetterReason(StrEnum):
    REJECTED = "rejected"  # Amplitude answered 4xx: resending unchanged cannot succeed
    MAX_ATTEMPTS = "max_attempts"  # still retryable at the retry horizon (or after RELAY_MAX_ATTEMPTS)
    UNREADABLE = "unreadable_message"  # a retry-queue message we could not parse
    REDRIVEN = "redriven"  # SQS moved it after repeated consumer failures (no reason recorded)
    QUEUE_UNAVAILABLE = "queue_unavailable"  # owed, but the retry queue refused it: replay it


class DeadLetter(BaseModel):
    """A call that could not be delivered, with why. `dlq replay` sends `call` back."""

    model_config = ConfigDict(frozen=True)

    reason: DeadLetterReason
    status: int | None = None
    error: str | None = None
    attempts: int
    partner: str | None = None
    call: AmplitudeCall | None = None
    raw_body: str | None = None
    received_at_ms: int | None = None
    dead_lettered_at_ms: int

    @classmethod
    def from_queue_body(cls, body: str, now_ms: int) -> DeadLetter:
        """Read a DLQ message: ours carry a reason; SQS redrive moves raw retry messages."""
        try:
            return cls.model_validate_json(body)
        except ValueError:
            pass
        try:
            message = RetryMessage.model_validate_json(body)
        except ValueError:
            return cls(reason=DeadLetterReason.UNREADABLE, attempts=0, raw_body=body, dead_lettered_at_ms=now_ms)
        return cls(
            reason=DeadLetterReason.REDRIVEN,
            status=message.last_status,
            error=message.last_error,
            attempts=message.attempts,
            partner=message.partner,
            call=message.call,
            received_at_ms=message.received_at_ms,
            dead_lettered_at_ms=now_ms,
        )
