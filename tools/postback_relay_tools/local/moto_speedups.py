"""Faster moto for the local stack: the same semantics, less work per request.

Profiling a simulated outage through `serve --virtual-clock` showed moto's SQS spending most of each
request in `unix_time()` (a naive-datetime round trip, called for every message on every send and
receive, so a queue of thousands of retries made each request cost tens of milliseconds) and in
re-deriving attribute names with `camelcase_to_underscores`. Both are pure: the clock reading is
`time.time()` by definition (time-machine moves both alike), and the name conversion depends only on
its argument. Then, with hundreds of retries waiting, every message a receive looked at cost a
walk over the whole queue: moto checks its retention through `get_queue_attributes`, which builds
every attribute of the queue, counting its messages three times, to read one number.

The calls themselves then cost more than moto's work: for each one, botocore signs and sends an
HTTP request to moto's stub, which matches the URL against every service moto knows, rebuilds the
request (including a query-string parse of the JSON body) and finds the handler's methods with
`inspect.getmembers`: an SQS call on a short queue cost ~2.7 ms of CPU that way and ~0.7 ms
without it (the 26-hour outage scenario makes ~4,900 of them). So the calls the relay and the
local stack make on every postback and every poll (DynamoDB's PutItem, UpdateItem, GetItem and
DeleteItem for the idempotency table; SQS's SendMessage, ReceiveMessage, DeleteMessage(Batch),
ChangeMessageVisibility(Batch) and GetQueueAttributes) go, from a botocore `before-call` hook,
straight to moto's own handler (`DynamoHandler`, `SQSResponse`: the same request parser,
validation, backend, serializer and errors) with the body botocore serialized for the wire, and
botocore's own parser reads the answer, with the modeled fields of errors, as its endpoint does.
botocore's `after-call` handlers still run (SQS's maps the JSON protocol's error codes back to
the Query ones, e.g. QueueDoesNotExist); botocore checks no MD5 digest of SQS messages (moto
computes them, and they are in the answer as before).
tests/unit/test_moto_speedups.py compares the two paths, call by call.

Patched only where the local stack runs moto in process; Lambda never imports this.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

_applied = False

# The operations the relay's idempotency table gets on every postback; anything else takes moto's
# usual path.
_DIRECT_DYNAMODB_OPERATIONS = frozenset({"PutItem", "UpdateItem", "GetItem", "DeleteItem"})
# What queues.py (sends, `dlq` commands, replay, export, forget) and local/stack.py (the event
# source's polls) call; CreateQueue, PurgeQueue and the rest take moto's usual path.
_DIRECT_SQS_OPERATIONS = frozenset(
    {
        "SendMessage",
        "ReceiveMessage",
        "DeleteMessage",
        "DeleteMessageBatch",
        "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch",
        "GetQueueAttributes",
    }
)
# moto's own test of a signed access key (BaseResponse.access_key_regex, on the credential itself).
_ACCESS_KEY = re.compile(r"[A-Z0-9]{20}")


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
    BUILTIN_HANDLERS.append(("before-call.sqs", _sqs_before_call))
    _applied = True


def _within_retention(backend: Any, queue_name: str, message: Any) -> bool:
    """moto's own test (sent + MessageRetentionPeriod still ahead), reading only that attribute."""
    queue = backend.get_queue(queue_name)
    return bool(int(queue.message_retention_period) + message.sent_timestamp / 1000 > time.time())


@cache
def _response_parser(protocol: str) -> Any:
    import botocore.parsers

    return botocore.parsers.create_parser(protocol)


@cache
def _service_urls(service: str) -> re.Pattern[str]:
    import importlib

    bases: list[str] = importlib.import_module(f"moto.{service}.urls").url_bases
    return re.compile("|".join(f"(?:{base})" for base in bases))


def _moto_would_answer(service: str, url: str) -> bool:
    """Whether moto's stub would answer this request itself, and nothing on its way there matters.

    Not when moto is not mocking; not for a URL that is not the service's own (a client with an
    endpoint_url sends to that server, e.g. the stack's ThreadedMotoServer) or that moto's config
    passes through or does not mock; not while moto enforces IAM (INITIAL_NO_AUTH_ACTION_COUNT:
    that needs the signed request) or records requests (its recorder keeps the HTTP request).
    """
    from moto import settings
    from moto.core.config import passthrough_service, passthrough_url, service_whitelisted
    from moto.core.models import botocore_stubber
    from moto.moto_api import recorder

    if not botocore_stubber.enabled or not math.isinf(settings.INITIAL_NO_AUTH_ACTION_COUNT):
        return False
    if getattr(recorder, "_user_enabled", True):
        return False
    clean_url = url.split("?", 1)[0]
    return (
        _service_urls(service).match(clean_url) is not None
        and not passthrough_url(clean_url)
        and not passthrough_service(service)
        and service_whitelisted(service)
    )


def _caller(request_signer: Any, headers: Any, service: str, region: str) -> tuple[str, str]:
    """(account, access key) as moto's setup_class derives them from a request signed with the
    client's credentials: MOTO_ACCOUNT_ID, else an x-moto-account-id header, else the account whose
    IAM access key signed it (e.g. credentials from an assumed role), else moto's default."""
    from moto.iam.models import get_account_id_from, mark_account_as_visited

    credentials = getattr(request_signer, "_credentials", None)
    key = credentials.get_frozen_credentials().access_key if credentials is not None else None
    access_key = key if key and _ACCESS_KEY.fullmatch(key) else "AKIAEXAMPLE"
    if "MOTO_ACCOUNT_ID" in os.environ:
        account = os.environ["MOTO_ACCOUNT_ID"]
    elif "x-moto-account-id" in headers:
        account = headers["x-moto-account-id"]
    else:
        account = get_account_id_from(access_key)
    mark_account_as_visited(account_id=account, access_key=access_key, service=service, region=region)
    return account, access_key


def _as_botocore_reads_it(model: Any, url: str, answer: tuple[int, Any, Any]) -> tuple[Any, dict[str, Any]]:
    """moto's (status, headers, body) as botocore's endpoint turns the stub's answer into the
    client's: the same response object, parser, modeled error fields and retry count."""
    from botocore.awsrequest import AWSResponse
    from botocore.endpoint import convert_to_response_dict
    from moto.core.botocore_stubber import MockRawResponse

    status, headers, body = answer
    http: Any = AWSResponse(url, status, headers, MockRawResponse(body))
    response = convert_to_response_dict(http, model)
    parser = _response_parser(model.service_model.resolved_protocol)
    parsed: dict[str, Any] = parser.parse(response, model.output_shape)
    # Modeled error fields (e.g. the Item that ReturnValuesOnConditionCheckFailure asked for) join
    # the parsed error, as botocore's endpoint adds them.
    code = parsed.get("Error", {}).get("Code")
    shape = model.service_model.shape_for_error_code(code) if code else None
    if shape is not None:
        parsed.update(parser.parse(response, shape))
    # One attempt, as on the usual path: moto answers these operations with nothing botocore retries
    # (no throttling, no 5xx; an exception inside moto propagates on both paths).
    if "ResponseMetadata" in parsed:
        parsed["ResponseMetadata"]["RetryAttempts"] = 0
    return http, parsed


def _dispatch(handler: Any) -> tuple[int, Any, Any]:
    from werkzeug.exceptions import HTTPException

    try:
        answer: tuple[int, Any, Any] = handler.call_action()
    except HTTPException as error:  # as moto's stub answers one
        return error.code or 500, error.get_headers(), error.get_body()
    return answer


def _prepare(handler: Any, params: dict[str, Any], context: dict[str, Any], request_signer: Any, service: str) -> None:
    """The state setup_class derives from a JSON-protocol request, minus the HTTP."""
    from urllib.parse import urlparse

    from botocore.awsrequest import HeadersDict
    from moto.core.utils import utcnow
    from moto.utilities.utils import get_partition
    from werkzeug.http import http_date

    url = str(params.get("url", ""))
    body = params["body"] if isinstance(params["body"], bytes) else str(params["body"]).encode()
    handler.headers = HeadersDict(params.get("headers", {}))
    handler.querystring, handler.data, handler.uri_match = {}, {}, {}
    handler.body, handler.raw_body = body.decode(), body
    handler.uri, handler.parsed_url = url, urlparse(url)
    handler.path = handler.raw_path = handler.parsed_url.path
    handler.method = "POST"
    handler.is_werkzeug_request = False
    handler.response_headers = {"server": "amazon.com", "date": http_date(utcnow())}
    # The signing region, which is where moto reads it from (the Authorization header).
    handler.region = context.get("client_region") or "us-east-1"
    handler.partition = get_partition(handler.region)
    handler.current_account, handler.access_key = _caller(request_signer, handler.headers, service, handler.region)


def _dynamodb_before_call(
    model: Any, params: dict[str, Any], context: dict[str, Any], request_signer: Any = None, **_: Any
) -> Any:
    """Answer one of the hot DynamoDB operations from moto's handler, skipping the HTTP emulation.

    Returns None (botocore then sends the request the usual way, to moto's stub) when moto would not
    answer it in process, for other operations, and for binary attribute values, which the wire
    carries in base64 and moto's own request parser would decode.
    """
    if model.name not in _DIRECT_DYNAMODB_OPERATIONS or not _moto_would_answer("dynamodb", str(params.get("url"))):
        return None
    body: bytes = params["body"] if isinstance(params["body"], bytes) else str(params["body"]).encode()
    if b'"B"' in body or b'"BS"' in body:
        return None
    from moto.dynamodb.responses import DynamoHandler

    handler: Any = DynamoHandler()
    _prepare(handler, params, context, request_signer, "dynamodb")
    handler.params = json.loads(body) if body else {}
    return _as_botocore_reads_it(model, str(params.get("url", "")), _dispatch(handler))


@cache
def _sqs_request_parser(operation: str, content_type: str) -> Any:
    """moto's parser for this operation's requests (what SQSResponse.parse_parameters builds)."""
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.request import determine_request_protocol
    from moto.core.utils import get_service_model
    from moto.sqs.responses import SQSResponse

    service_model = get_service_model("sqs")
    parser_class = PROTOCOL_PARSERS[determine_request_protocol(service_model, content_type)]
    return parser_class(service_model.operation_model(operation), map_type=SQSResponse.PROTOCOL_PARSER_MAP_TYPE)


def _sqs_before_call(
    model: Any, params: dict[str, Any], context: dict[str, Any], request_signer: Any = None, **_: Any
) -> Any:
    """Answer the relay's SQS operations from moto's `SQSResponse`, skipping the HTTP emulation.

    Returns None (the usual path) when moto would not answer in process, for other operations, for
    a protocol other than JSON (older botocore spoke Query to SQS), and for:
    - a receive that may wait (WaitTimeSeconds not 0, or left to the queue's default): its cost is
      the wait, so skipping the HTTP emulation saves nothing, and serve's real-time polling keeps
      exactly the path moto tests for long polling;
    - FIFO queues (.fifo): the relay's queues are standard, and the comparison suite covers those.
    """
    if model.name not in _DIRECT_SQS_OPERATIONS or not _moto_would_answer("sqs", str(params.get("url"))):
        return None
    from botocore.awsrequest import HeadersDict

    headers = HeadersDict(params.get("headers", {}))
    content_type = str(headers.get("Content-Type", ""))
    target = str(headers.get("X-Amz-Target", ""))
    if model.service_model.resolved_protocol != "json" or target != f"AmazonSQS.{model.name}":
        return None
    body = params["body"] if isinstance(params["body"], bytes) else str(params["body"]).encode()
    request = _sqs_request_parser(model.name, content_type).parse(
        {"method": "POST", "values": {}, "headers": headers, "body": body, "url_path": "/", "url_params": {}}
    )
    if model.name == "ReceiveMessage" and request.get("WaitTimeSeconds") != 0:
        return None
    if str(request.get("QueueUrl", "")).endswith(".fifo"):
        return None
    from moto.sqs.responses import SQSResponse

    handler: Any = SQSResponse()
    _prepare(handler, params, context, request_signer, "sqs")
    handler.params = request
    return _as_botocore_reads_it(model, str(params.get("url", "")), _dispatch(handler))
