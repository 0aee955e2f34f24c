"""Nothing twice: Powertools idempotency on DynamoDB.

A partner's resend of a postback (same partner event id, or same content) maps to the same key:
the first answer is replayed and nothing is sent again. The retry consumer keys each attempt by
(insert_id, attempt), so an SQS redelivery after a crashed batch does not send again either.

Failure modes err toward at-least-once: an exception deletes the in-progress record (a resend is
processed), and a record left in progress by a timed-out invocation expires with that invocation's
remaining time (registered from the Lambda context), so the postback is never refused forever.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from .errors import RelayError

Result = dict[str, Any]


class AlreadyInProgress(RelayError):
    """The same postback is being processed right now (a concurrent resend): try again shortly."""

    status, code = 409, "in_progress"


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
        persistence = DynamoDBPersistenceLayer(table_name=table_name)

        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="request", persistence_store=persistence, config=self.config
        )
        def run_once(request: dict[str, str], work: Callable[[], Result]) -> Result:
            return work()

        self._run_once = run_once

    def once(self, key: str, work: Callable[[], Result], context: LambdaContext | None) -> Result:
        """`work()` the first time `key` is seen within the TTL; its stored result afterwards."""
        if context is not None:
            # In-progress records expire with this invocation, not after the whole TTL.
            self.config.register_lambda_context(context)
        from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

        try:
            result: Result = self._run_once(request={"key": key}, work=work)
        except IdempotencyAlreadyInProgressError as error:
            raise AlreadyInProgress("this postback is already being processed; resend it later") from error
        return result


class NoIdempotency:
    """Used where no table is configured (unit tests of other parts): every call does the work."""

    def once(self, key: str, work: Callable[[], Result], context: LambdaContext | None) -> Result:
        return work()
