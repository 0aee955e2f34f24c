"""Nothing twice: Powertools idempotency on DynamoDB.

A partner's resend of a postback (same partner event id, or same content) maps to the same key:
the first answer is replayed and nothing is sent again. The retry consumer keys each retry by its
delivery id (one per message the relay puts on the queue), so neither an SQS redelivery after a
crashed batch nor the duplicate of a send botocore retried is sent again.

Failure modes err toward at-least-once, never toward a loss (docs/delivery.md):
- an exception in the work deletes the in-progress record (a resend is processed);
- a record left in progress by a timed-out invocation expires with that invocation's remaining time
  (registered from the Lambda context), so the postback is never refused for long; meanwhile a
  concurrent resend is answered 503 with Retry-After, which partners retry;
- the table itself unavailable (throttled, down, slow past its timeouts): the work is done anyway and
  counted (`idempotency_unavailable`). HTTP V2 events still de-duplicate on their insert_id at
  Amplitude; a partner resend in that window may repeat an /attribution or /identify call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from .aws import boto_config
from .errors import InProgress
from .observability import count, logger

Result = dict[str, Any]


class Idempotency:
    def __init__(self, table_name: str, ttl_s: int) -> None:
        # Imported here: deployments pay for it once, at first use, not every import of the package.
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        self.config = IdempotencyConfig(
            event_key_jmespath="key", raise_on_no_idempotency_key=True, expires_after_seconds=ttl_s
        )
        # Short timeouts (aws.py): a slow table must not hold the partner's answer past its deadline.
        persistence = DynamoDBPersistenceLayer(table_name=table_name, boto_config=boto_config("hot_path"))

        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="request", persistence_store=persistence, config=self.config
        )
        def run_once(request: dict[str, str], work: Callable[[], Result]) -> Result:
            return work()

        self._run_once = run_once

    def once(
        self, key: str, work: Callable[[], Result], context: LambdaContext | None, partner: str | None = None
    ) -> Result:
        """`work()` the first time `key` is seen within the TTL; its stored result afterwards."""
        if context is not None:
            # In-progress records expire with this invocation, not after the whole TTL.
            self.config.register_lambda_context(context)
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
        )

        run = _TrackedWork(work)
        try:
            result: Result = self._run_once(request={"key": key}, work=run)
        except IdempotencyAlreadyInProgressError as error:
            raise InProgress("this postback is already being processed; resend it later") from error
        except IdempotencyPersistenceLayerError as error:
            if run.failure is not None:
                raise run.failure from None  # the work's own error, not the table's: answer that
            count("idempotency_unavailable", partner)
            logger.warning(
                "idempotency store unavailable: processing without it",
                extra={"partner": partner, "error_type": type(error.__cause__ or error).__name__},
            )
            # Done before the table failed (saving the result): never do it twice.
            return run.result if run.result is not None else run()
        return result


class _TrackedWork:
    """The work, remembering whether it ran and how it ended, so a table failure around it is never
    taken for a reason to run it again."""

    def __init__(self, work: Callable[[], Result]) -> None:
        self._work = work
        self.result: Result | None = None
        self.failure: BaseException | None = None

    def __call__(self) -> Result:
        try:
            self.result = self._work()
        except BaseException as error:
            self.failure = error
            raise
        return self.result


class NoIdempotency:
    """Used where no table is configured (unit tests of other parts): every call does the work."""

    def once(
        self, key: str, work: Callable[[], Result], context: LambdaContext | None, partner: str | None = None
    ) -> Result:
        return work()
