"""The retry consumer: SQS batches from the retry queue, partial failures reported to SQS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from .config import RETRY_FUNCTION
from .fence import ErasureFence
from .messages import DeadLetter, DeadLetterReason, RetryMessage
from .observability import flush_metrics, logger, traced
from .runtime import Runtime, current_runtime

# What a record needs besides its send: the erasure fence's read before it (2 x 0.5 s), the
# idempotency write (2 x 0.5 s), the next hop's or the DLQ's SQS put (3 x 0.8 s), the fence's read
# again before a dead letter, and the timeouts' connect share (aws.py), with a margin.
AFTER_SEND_S = 6.0
# Report failures item by item even when the whole batch failed: SQS then retries exactly those.
_processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def redeliver_record(record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
    """Deliver, re-queue with the next delay, or dead-letter. Raising marks the record failed:
    SQS then redelivers it, and after maxReceiveCount its RedrivePolicy moves it to the DLQ."""
    runtime = current_runtime()
    delivery = runtime.delivery
    if lambda_context is not None:
        # Not enough time left for a full attempt: hand the record back to SQS untouched rather
        # than be cut off mid-send (SQS redelivers it after the visibility timeout).
        settings = delivery.settings
        needed_ms = (settings.retry_timeout_s + settings.connect_timeout_s + AFTER_SEND_S) * 1000
        if lambda_context.get_remaining_time_in_millis() < needed_ms:
            raise TimeoutError("not enough time left in this invocation for another attempt")
    try:
        message = RetryMessage.model_validate_json(record.body)
    except ValidationError:
        logger.error("unreadable retry message", extra={"message_id": record.message_id})
        delivery.dead_letters.put(
            DeadLetter(
                reason=DeadLetterReason.UNREADABLE,
                attempts=0,
                raw_body=record.body,
                dead_lettered_at_ms=delivery.now_ms(),
            )
        )
        return
    # Keyed by the delivery: an SQS redelivery of this very message (after a crashed batch), or a
    # duplicate from a send botocore retried, is not sent twice, while a requeue hop, the next
    # scheduled retry or a `dlq replay` of the same call carries a fresh delivery id. (Keyed by
    # insert_id and attempt count instead, a hop or a second replay found its key already completed
    # and was acknowledged without being sent; keyed by SQS message id, a retried send's duplicate
    # was sent again.)
    settings = delivery.settings
    # No table (unit tests of other parts): no forget can have marked anyone either.
    fence = ErasureFence(settings.idempotency_table, settings.hash_salt) if settings.idempotency_table else None
    runtime.idempotency.once(
        f"retry:{message.delivery_id}",
        lambda: {"status": delivery.redeliver(message, fence.erased if fence else None).status.value},
        lambda_context,
        message.partner,
    )


def handle_retry_batch(event: dict[str, Any], context: LambdaContext | None) -> dict[str, Any]:
    try:
        result = process_partial_response(
            event=event, record_handler=redeliver_record, processor=_processor, context=context
        )
    finally:
        flush_metrics()
    return dict(result)


def retry_handler(runtime: Runtime | None = None) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The retry function's entry point; its settings are checked here, at cold start. `runtime`:
    another one (the benchmark runs it without an idempotency table)."""
    runtime = runtime or Runtime(RETRY_FUNCTION)

    @traced
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        with runtime.active():
            return handle_retry_batch(event, context)

    return handler
