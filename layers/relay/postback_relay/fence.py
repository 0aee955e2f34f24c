"""The erasure fence: what the retry consumer checks before each send, so that a retry in flight
while `forget` runs (held by the consumer, so out of forget's reach) never reaches Amplitude.

`forget` marks the person in the idempotency table before it searches anything, and again with the
time it finished; it marks each erased postback as soon as it knows it. The retry consumer reads
the marks of a message's call right before the send (delivery.Delivery.redeliver) and drops a
message about someone erased at or after its postback's receipt: no send, no dead letter, deleted
from the queue, counted (`erased_in_flight`), logged without ids.

    id            "erased:<keyed hash>"   a person's hash (privacy.person_hash) or an erased
                                          postback's (privacy.postback_hash); never an id
    erased_at_ms  when forget marked it (its latest run)
    expiration    epoch seconds, FENCE_TTL_S after that: the table's TTL attribute

The idempotency table, because the retry function already reads it (one more action on it:
dynamodb:BatchGetItem) and its TTL drops marks once nothing they guard can still be queued: a
retry chain lasts at most the retry horizon (RetryHorizonSeconds, 14 days at most) from the
postback's receipt or its replay, and a queue keeps a message 14 days; a `dlq replay` after the
erasure skips the person through the erasure records in S3 (erasures.py) instead.

Cost on the hot path: one strongly consistent BatchGetItem per retry record, of the hashes of the
call's ids and of its postback (an attribution call: IDFA, IDFV, postback: 3 keys, 3 read request
units), and one more only for a record about to be dead-lettered. A fence that cannot be read sends
nothing: the message waits on the queue and is tried again (delivery.FENCE_RETRY_DELAY_S), so a
table outage delays retries rather than let an erased person's call through, and never pushes them
into the DLQ by SQS's redrive; past the retry horizon they are dead-lettered with why.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

from .aws import client
from .privacy import Kind, person_hash, postback_hash, postback_id_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from .messages import RetryMessage
    from .models.amplitude import AmplitudeCall

PREFIX = "erased:"
# Longer than anything a mark guards can stay queued: the 14-day retention and horizon, plus a day.
FENCE_TTL_S = 15 * 24 * 3600
# The fields of an Amplitude call that name its person (models/amplitude.py).
USER_FIELDS = ("user_id",)
DEVICE_FIELDS = ("device_id", "idfa", "idfv", "adid", "android_app_set_id", "android_id")
_FIELDS: tuple[tuple[tuple[str, ...], Kind], ...] = ((USER_FIELDS, "user"), (DEVICE_FIELDS, "device"))
_BATCH_KEYS = 100  # BatchGetItem's limit
_UNPROCESSED_TRIES = 3


class FenceUnavailable(Exception):
    """The fence could not be read: the message is not sent now (it waits on the queue)."""


def call_hashes(key: str, call: AmplitudeCall) -> set[str]:
    """The keyed hashes a call can be fenced by: each id it names, and its postback."""
    payload = call.payload
    events = payload.get("events")
    documents = [payload, *(e for e in events if isinstance(e, dict))] if isinstance(events, list) else [payload]
    hashes: set[str] = set()
    for document in documents:
        for fields, kind in _FIELDS:
            for name in fields:
                value = document.get(name)
                if isinstance(value, str) and value.strip():
                    hashes.add(person_hash(key, kind, value))
    postback_id = postback_id_of(call.insert_id)
    if postback_id is not None:
        hashes.add(postback_hash(key, postback_id))
    return hashes


def _chunks(items: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class ErasureFence:
    def __init__(self, table: str, key: str, dynamodb: DynamoDBClient | None = None) -> None:
        self.table, self.key = table, key
        self._dynamodb = dynamodb

    @property
    def dynamodb(self) -> DynamoDBClient:
        if self._dynamodb is None:
            self._dynamodb = client("dynamodb", "hot_path")  # short timeouts: a retry record is waiting
        return self._dynamodb

    # -- the retry consumer ---------------------------------------------------------------------
    def erased(self, message: RetryMessage) -> bool:
        """Whether the message is about a person (or a postback) erased at or after its receipt."""
        hashes = call_hashes(self.key, message.call)
        if not hashes:
            return False
        marks = self.marks(hashes)
        return any(erased_at >= message.received_at_ms for erased_at in marks.values())

    def marks(self, hashes: Iterable[str]) -> dict[str, int]:
        """hash -> erased_at_ms, for the hashes that are marked. Strongly consistent: a mark written
        a moment ago counts."""
        found: dict[str, int] = {}
        try:
            for chunk in _chunks(sorted(set(hashes)), _BATCH_KEYS):
                request: dict[str, Any] = {
                    self.table: {
                        "Keys": [{"id": {"S": PREFIX + value}} for value in chunk],
                        "ConsistentRead": True,
                        "ProjectionExpression": "#id, erased_at_ms",
                        "ExpressionAttributeNames": {"#id": "id"},
                    }
                }
                for _ in range(_UNPROCESSED_TRIES):
                    answer = self.dynamodb.batch_get_item(RequestItems=request)
                    for item in answer.get("Responses", {}).get(self.table, []):
                        found[item["id"]["S"].removeprefix(PREFIX)] = int(item["erased_at_ms"]["N"])
                    request = dict(answer.get("UnprocessedKeys") or {})
                    if not request:
                        break
                else:
                    raise FenceUnavailable("the erasure fence's reads were throttled")
        except FenceUnavailable:
            raise
        except Exception as error:  # botocore's errors: the fence is unknown, so nothing is sent
            raise FenceUnavailable(f"the erasure fence could not be read: {type(error).__name__}") from error
        return found

    # -- forget ---------------------------------------------------------------------------------
    def mark(self, hashes: Iterable[str], erased_at_ms: int, now_s: float | None = None) -> int:
        """Mark each hash erased at `erased_at_ms`; how many were written."""
        expiration = int((time.time() if now_s is None else now_s) + FENCE_TTL_S)
        written = 0
        for value in sorted(set(hashes)):
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    "id": {"S": PREFIX + value},
                    "erased_at_ms": {"N": str(erased_at_ms)},
                    "expiration": {"N": str(expiration)},
                },
            )
            written += 1
        return written
