"""Faster moto for the local stack: the same semantics, less work per request.

Profiling a simulated outage through `serve --virtual-clock` showed moto's SQS spending most of each
request in `unix_time()` (a naive-datetime round trip, called for every message on every send and
receive, so a queue of thousands of retries made each request cost tens of milliseconds) and in
re-deriving attribute names with `camelcase_to_underscores`. Both are pure: the clock reading is
`time.time()` by definition (time-machine moves both alike), and the name conversion depends only on
its argument. Then, with hundreds of retries waiting, every message a receive looked at cost a
walk over the whole queue: moto checks its retention through `get_queue_attributes`, which builds
every attribute of the queue, counting its messages three times, to read one number.

The idempotency table's calls (PutItem, UpdateItem, GetItem, DeleteItem: two per postback) then cost
about 6 ms of CPU each, a third of it in getting the request to moto's DynamoDB handler and back:
signing, matching the URL against every service moto knows, rebuilding the request (including a
query-string parse of the JSON body), and finding the handler's methods with `inspect.getmembers`
on every call. `_dynamodb_before_call` hands those four operations straight to moto's own
`DynamoHandler` (same validation, same backend, same errors), and botocore's own parser reads its
answer, so the relay's client sees what the slow path gives it. tests/unit/test_moto_speedups.py
compares the two, call by call.

Patched only where the local stack runs moto in process; Lambda never imports this.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

_applied = False

# The operations the relay's idempotency table gets on every postback; anything else takes moto's
# usual path.
_DIRECT_DYNAMODB_OPERATIONS = frozenset({"PutItem", "UpdateItem", "GetItem", "DeleteItem"})
# JSON-protocol target prefix of DynamoDB's current API version, as botocore sends it.
_DYNAMODB_TARGET = "DynamoDB_20120810"


def apply() -> None:
    global _applied
    if _applied:
        return
    import moto.core.responses
    import moto.core.utils
    import moto.sqs.models
    from botocore.handlers import BUILTIN_HANDLERS

    original_unix_time = moto.core.utils.unix_time

    def unix_time(dt: datetime | None = None) -> float:
        return time.time() if dt is None else original_unix_time(dt)

    def unix_time_millis(dt: datetime | None = None) -> float:
        return time.time() * 1000.0 if dt is None else original_unix_time(dt) * 1000.0

    cached_names: Any = lru_cache(maxsize=4096)(moto.core.utils.camelcase_to_underscores)
    patched: Any = moto.sqs.models
    patched.unix_time, patched.unix_time_millis = unix_time, unix_time_millis
    patched.camelcase_to_underscores = cached_names
    sqs_backend: Any = moto.sqs.models.SQSBackend
    sqs_backend.is_message_valid_based_on_retention_period = _within_retention
    responses: Any = moto.core.responses
    responses.camelcase_to_underscores = cached_names
    # A class's methods do not change while the stack runs (moto looks them up on every request).
    responses.method_names_from_class = cache(moto.core.utils.method_names_from_class)
    # Clients created from now on (boto3 reads BUILTIN_HANDLERS per client), as moto's own hook.
    BUILTIN_HANDLERS.append(("before-call.dynamodb", _dynamodb_before_call))
    _applied = True


def _within_retention(backend: Any, queue_name: str, message: Any) -> bool:
    """moto's own test (sent + MessageRetentionPeriod still ahead), reading only that attribute."""
    queue = backend.get_queue(queue_name)
    return bool(int(queue.message_retention_period) + message.sent_timestamp / 1000 > time.time())


@cache
def _response_parser(protocol: str) -> Any:
    import botocore.parsers

    return botocore.parsers.create_parser(protocol)


def _dynamodb_before_call(model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> Any:
    """Answer one of the hot DynamoDB operations from moto's handler, skipping the HTTP emulation.

    Returns None (botocore then sends the request the usual way, to moto's stub) when moto is not
    mocking, for other operations, and for binary attribute values, which the wire carries in base64
    and moto's own request parser would decode.
    """
    from moto.core.models import botocore_stubber

    if not botocore_stubber.enabled or model.name not in _DIRECT_DYNAMODB_OPERATIONS:
        return None
    body: bytes = params["body"] if isinstance(params["body"], bytes) else str(params["body"]).encode()
    if b'"B"' in body or b'"BS"' in body:
        return None
    from botocore.awsrequest import AWSResponse
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.responses import DynamoHandler

    handler: Any = DynamoHandler()
    # What setup_class would derive from the request, for a JSON-protocol call.
    handler.params = json.loads(body) if body else {}
    handler.querystring = {}
    handler.headers = {"x-amz-target": f"{_DYNAMODB_TARGET}.{model.name}", "Content-Type": "application/x-amz-json-1.0"}
    handler.response_headers = {"server": "amazon.com"}
    handler.region = context.get("client_region") or "us-east-1"
    handler.current_account = os.environ.get("MOTO_ACCOUNT_ID", DEFAULT_ACCOUNT_ID)
    handler.uri_match = {}
    handler.method = "POST"
    status, headers, answer = handler.call_action()
    answer_bytes = answer.encode() if isinstance(answer, str) else bytes(answer)
    response = {"status_code": status, "headers": headers, "body": answer_bytes}
    parser = _response_parser(model.service_model.protocol)
    parsed: dict[str, Any] = parser.parse(response, model.output_shape)
    if status >= 300:
        # As botocore's endpoint does: the modeled fields of an error (e.g. the Item that
        # ReturnValuesOnConditionCheckFailure asked for) join the parsed error.
        code = parsed.get("Error", {}).get("Code")
        shape = model.service_model.shape_for_error_code(code) if code else None
        if shape is not None:
            parsed.update(parser.parse(response, shape))
    parsed.setdefault("ResponseMetadata", {})["RetryAttempts"] = 0
    http: Any = AWSResponse(params.get("url", ""), status, headers, None)
    http._content = answer_bytes  # the body, already read (there is no stream behind it)
    return http, parsed
