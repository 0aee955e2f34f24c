"""The local stack's faster moto answers exactly as moto does.

`moto_speedups` hands DynamoDB's PutItem, UpdateItem, GetItem and DeleteItem, and the SQS calls the
relay and the local stack make (send, receive, delete, visibility changes, one or a batch, queue
attributes), straight to moto's handlers (no signing, URL matching or request rebuilding), and reads
moto's SQS retention with one attribute instead of all of them. Each case below runs the same call
on a client that takes the direct path and on one that takes moto's usual path, against two tables
(or queues) in the same state, and compares what the relay's code would see: the parsed answer, or
the error's class, code, message and the fields botocore adds to it (the Item of a failed condition,
which Powertools idempotency reads; the Query error code SQS's modeled exceptions are found by).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from postback_relay_tools.local import moto_speedups

pytestmark = pytest.mark.slow  # a local stack, servers or many moto calls: not in make test-quick

REGION = "us-east-1"
TABLES = ("direct-path", "moto-path")


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A client on the direct path and one on moto's usual path, each with a table of its own."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    moto_speedups.apply()
    with mock_aws():
        direct = boto3.client("dynamodb", region_name=REGION)
        usual = boto3.client("dynamodb", region_name=REGION)
        usual.meta.events.unregister("before-call.dynamodb", moto_speedups._dynamodb_before_call)
        for table in TABLES:
            direct.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        yield {TABLES[0]: direct, TABLES[1]: usual}


def _outcome(client: Any, operation: str, table: str, params: dict[str, Any]) -> dict[str, Any]:
    """What the caller sees, with the parts that differ by nature (request ids, table names) removed."""
    try:
        answer = getattr(client, operation)(TableName=table, **params)
    except ClientError as error:
        answer = dict(error.response)
        answer["raised"] = type(error).__name__
    except Exception as error:  # moto lets some parse errors out as they are, on either path
        return {"raised": type(error).__name__, "message": _without(str(error), table)}
    metadata = answer.pop("ResponseMetadata", {})
    answer["status"] = metadata.get("HTTPStatusCode")
    answer["retries"] = metadata.get("RetryAttempts")
    outcome: dict[str, Any] = _without(answer, table)
    return outcome


def _without(value: Any, table: str) -> Any:
    if isinstance(value, dict):
        return {key: _without(item, table) for key, item in value.items() if key != "ConsumedCapacity"}
    if isinstance(value, list):
        return [_without(item, table) for item in value]
    return value.replace(table, "<table>") if isinstance(value, str) else value


def _item(key: str, **attributes: Any) -> dict[str, Any]:
    return {"id": {"S": key}, **attributes}


_RECORD = _item(
    "postback#1",
    status={"S": "INPROGRESS"},
    expiration={"N": "1900000000"},
    in_progress_expiration={"N": "1900000000000"},
    data={"S": '{"status": 200}'},
    tags={"L": [{"S": "a"}, {"N": "1.5"}, {"BOOL": True}, {"NULL": True}]},
    nested={"M": {"campaign": {"S": "spring"}}},
)
# Powertools idempotency's conditional put (aws_lambda_powertools/utilities/idempotency/persistence/dynamodb.py).
_POWERTOOLS_CONDITION = {
    "ConditionExpression": (
        "attribute_not_exists(#id) OR #expiry < :now OR "
        "(#status = :inprogress AND attribute_exists(#in_progress_expiry) AND #in_progress_expiry < :now_in_millis)"
    ),
    "ExpressionAttributeNames": {
        "#id": "id",
        "#expiry": "expiration",
        "#in_progress_expiry": "in_progress_expiration",
        "#status": "status",
    },
    "ExpressionAttributeValues": {
        ":now": {"N": "1800000000"},
        ":now_in_millis": {"N": "1800000000000"},
        ":inprogress": {"S": "INPROGRESS"},
    },
    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
}

# (what it shows, operation, parameters): run in order, each on both tables.
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("a first conditional put succeeds", "put_item", {"Item": _RECORD, **_POWERTOOLS_CONDITION}),
    ("the same put again fails, with the stored item", "put_item", {"Item": _RECORD, **_POWERTOOLS_CONDITION}),
    (
        "a failed condition without ALL_OLD",
        "put_item",
        {"Item": _RECORD, "ConditionExpression": "attribute_not_exists(id)"},
    ),
    ("get an item", "get_item", {"Key": {"id": {"S": "postback#1"}}, "ConsistentRead": True}),
    ("get a projection", "get_item", {"Key": {"id": {"S": "postback#1"}}, "ProjectionExpression": "nested.campaign"}),
    ("get a missing item", "get_item", {"Key": {"id": {"S": "nobody"}}}),
    (
        "update with SET and ALL_NEW",
        "update_item",
        {
            "Key": {"id": {"S": "postback#1"}},
            "UpdateExpression": "SET #response_data = :response_data, #expiry = :expiry, #status = :status",
            "ExpressionAttributeNames": {"#response_data": "data", "#expiry": "expiration", "#status": "status"},
            "ExpressionAttributeValues": {
                ":response_data": {"S": '{"status": 202}'},
                ":expiry": {"N": "1900000001"},
                ":status": {"S": "COMPLETED"},
            },
            "ReturnValues": "ALL_NEW",
        },
    ),
    (
        "update whose condition fails",
        "update_item",
        {
            "Key": {"id": {"S": "postback#1"}},
            "UpdateExpression": "SET #status = :status",
            "ConditionExpression": "#status = :expected",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":status": {"S": "EXPIRED"}, ":expected": {"S": "INPROGRESS"}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
    ),
    (
        "update creating an item, ADD and REMOVE",
        "update_item",
        {
            "Key": {"id": {"S": "postback#2"}},
            "UpdateExpression": "ADD attempts :one REMOVE gone",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
            "ReturnValues": "UPDATED_NEW",
        },
    ),
    ("an invalid expression", "put_item", {"Item": _item("x"), "ConditionExpression": "attribute_not_exists("}),
    ("an unused attribute name", "put_item", {"Item": _item("x"), "ExpressionAttributeNames": {"#unused": "a"}}),
    ("a key of the wrong type", "get_item", {"Key": {"id": {"N": "1"}}}),
    ("a binary attribute (moto's usual path on both)", "put_item", {"Item": _item("blob", body={"B": b"\x00\x01"})}),
    ("read the binary back", "get_item", {"Key": {"id": {"S": "blob"}}}),
    ("delete returning the old item", "delete_item", {"Key": {"id": {"S": "postback#1"}}, "ReturnValues": "ALL_OLD"}),
    (
        "delete whose condition fails",
        "delete_item",
        {"Key": {"id": {"S": "postback#2"}}, "ConditionExpression": "attribute_not_exists(id)"},
    ),
    ("delete a missing item", "delete_item", {"Key": {"id": {"S": "nobody"}}}),
]


def test_each_call_answers_as_moto_does(clients: dict[str, Any]) -> None:
    for what, operation, params in CASES:
        direct, usual = (_outcome(clients[table], operation, table, params) for table in TABLES)
        assert direct == usual, what


def test_a_missing_table_is_the_same_error(clients: dict[str, Any]) -> None:
    outcomes = [_outcome(client, "put_item", "no-such-table", {"Item": _item("x")}) for client in clients.values()]
    assert outcomes[0] == outcomes[1]
    assert outcomes[0]["Error"]["Code"] == "ResourceNotFoundException"


def test_the_direct_path_is_taken(clients: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above means something only if the first client really skips moto's stub."""
    from moto.core.models import botocore_stubber

    taken: list[str] = []
    original = botocore_stubber.process_request

    def noting(request: Any) -> Any:
        taken.append("stub")
        return original(request)

    monkeypatch.setattr(botocore_stubber, "process_request", noting)
    clients[TABLES[0]].get_item(TableName=TABLES[0], Key={"id": {"S": "x"}})
    assert taken == []
    clients[TABLES[1]].get_item(TableName=TABLES[1], Key={"id": {"S": "x"}})
    assert taken == ["stub"]


@pytest.mark.filterwarnings("ignore:Couldn't determine the remaining time")  # no Lambda context here
def test_powertools_idempotency_on_the_direct_path(clients: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The relay's use of the table: the first call runs, a repeat gets the stored result, a call
    that finds the record in progress is refused."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    persistence = DynamoDBPersistenceLayer(table_name=TABLES[0], boto3_client=clients[TABLES[0]])
    runs: list[str] = []

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="request", persistence_store=persistence, config=IdempotencyConfig("key")
    )
    def work(request: dict[str, str]) -> dict[str, str]:
        runs.append(request["key"])
        if request["key"] == "nested":
            return work(request={"key": "nested"})  # type: ignore[no-any-return]
        return {"done": request["key"]}

    assert work(request={"key": "a"}) == {"done": "a"}
    assert work(request={"key": "a"}) == {"done": "a"}
    assert runs == ["a"]
    with pytest.raises(IdempotencyAlreadyInProgressError):
        work(request={"key": "nested"})


def test_sqs_retention_still_drops_expired_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """The retention check reads one attribute now; a message past MessageRetentionPeriod is still
    never received."""
    import time_machine

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    moto_speedups.apply()
    with mock_aws(), time_machine.travel(1_800_000_000, tick=False) as clock:
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="old")
        clock.shift(59)
        sqs.send_message(QueueUrl=url, MessageBody="new")
        clock.shift(2)
        # moto stops a receive at the first expired message (and hides it): "new" comes on the next.
        received = [
            message["Body"]
            for _ in range(3)
            for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        ]
        assert received == ["new"]
        assert time.time() == pytest.approx(1_800_000_061)


# -- SQS ------------------------------------------------------------------------------------------
# The same comparison for the SQS operations the relay and the local stack make (queues.py,
# local/stack.py). Each path has its own queue in the same state, at the same (frozen) instant;
# message ids and receipt handles are random on either path, so they are compared by the order in
# which they first appear.

QUEUES = ("direct-path-queue", "moto-path-queue")
# Headers that differ by nature between any two answers.
_VOLATILE_HEADERS = frozenset({"x-amzn-requestid", "date"})


class _Path:
    """One side of the comparison: its client, its queue, and the ids it has seen so far."""

    def __init__(self, client: Any, queue: str) -> None:
        self.client, self.queue = client, queue
        self.url: str = client.create_queue(QueueName=queue, Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
        self.labels: dict[str, str] = {}
        self.handles: list[str] = []  # receipt handles in the order receives gave them

    def label(self, value: str, kind: str) -> str:
        if value not in self.labels:
            self.labels[value] = f"<{kind} {sum(label.startswith(f'<{kind} ') for label in self.labels.values())}>"
        return self.labels[value]


@pytest.fixture
def sqs_paths(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[_Path, _Path, Any]]:
    """A client on the direct path and one on moto's usual path, each with a queue of its own, and
    a clock that moves only when a case moves it."""
    import time_machine

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    moto_speedups.apply()
    with mock_aws(), time_machine.travel(1_800_000_000, tick=False) as clock:
        direct = boto3.client("sqs", region_name=REGION)
        usual = boto3.client("sqs", region_name=REGION)
        usual.meta.events.unregister("before-call.sqs", moto_speedups._sqs_before_call)
        yield _Path(direct, QUEUES[0]), _Path(usual, QUEUES[1]), clock


def _sqs_outcome(path: _Path, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """What the caller sees: the answer, or the error (its class, code and message), with the HTTP
    status, headers and retry count."""
    try:
        answer = dict(getattr(path.client, operation)(**params))
    except ClientError as error:
        answer = dict(error.response)
        answer["raised"] = type(error).__name__
    metadata = answer.pop("ResponseMetadata", {})
    answer["status"] = metadata.get("HTTPStatusCode")
    answer["retries"] = metadata.get("RetryAttempts")
    answer["headers"] = {k: v for k, v in metadata.get("HTTPHeaders", {}).items() if k not in _VOLATILE_HEADERS}
    path.handles.extend(message["ReceiptHandle"] for message in answer.get("Messages", []))
    normalized: dict[str, Any] = _normalized(answer, path)
    return normalized


def _normalized(value: Any, path: _Path) -> Any:
    if isinstance(value, dict):
        kinds = {"MessageId": "message", "ReceiptHandle": "handle"}
        return {
            key: path.label(item, kinds[key]) if key in kinds else _normalized(item, path)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_normalized(item, path) for item in value]
    if isinstance(value, str):
        for handle in path.handles:
            value = value.replace(handle, path.label(handle, "handle"))
        return value.replace(path.url, "<url>").replace(path.queue, "<queue>")
    return value


_ATTRIBUTES = {
    "partner": {"DataType": "String", "StringValue": "appsflyer"},
    "attempt": {"DataType": "Number", "StringValue": "3"},
    "digest": {"DataType": "Binary", "BinaryValue": b"\x00\xff\x10"},
    "campaign": {"DataType": "String.custom", "StringValue": "spring ☀"},
}
_RECEIVE = {"MaxNumberOfMessages": 10, "WaitTimeSeconds": 0, "MessageSystemAttributeNames": ["All"]}
_DEPTH = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]
_BAD_HANDLE = "not-a-receipt-handle"


def _batch(handles: list[str], **extra: Any) -> list[dict[str, Any]]:
    return [{"Id": str(i), "ReceiptHandle": handle, **extra} for i, handle in enumerate(handles)]


# (what it shows, operation, its parameters from the path: queue URL, receipt handles received so
# far), run in order on both paths; ("clock", seconds) moves the clock.
SQS_CASES: list[tuple[str, str, Any]] = [
    ("a retry message", "send_message", lambda p: {"QueueUrl": p.url, "MessageBody": '{"attempt": 1}'}),
    (
        "message attributes, binary among them",
        "send_message",
        lambda p: {"QueueUrl": p.url, "MessageBody": "with attributes", "MessageAttributes": _ATTRIBUTES},
    ),
    ("a delayed message", "send_message", lambda p: {"QueueUrl": p.url, "MessageBody": "later", "DelaySeconds": 60}),
    (
        "a trace header",
        "send_message",
        lambda p: {
            "QueueUrl": p.url,
            "MessageBody": "traced",
            "MessageSystemAttributes": {
                "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}
            },
        },
    ),
    ("a send to a missing queue", "send_message", lambda p: {"QueueUrl": p.url + "-gone", "MessageBody": "x"}),
    (
        "an attribute of an unknown type",
        "send_message",
        lambda p: {
            "QueueUrl": p.url,
            "MessageBody": "x",
            "MessageAttributes": {"a": {"DataType": "Float", "StringValue": "1"}},
        },
    ),
    ("the depth `dlq` commands read", "get_queue_attributes", lambda p: {"QueueUrl": p.url, "AttributeNames": _DEPTH}),
    ("every attribute", "get_queue_attributes", lambda p: {"QueueUrl": p.url, "AttributeNames": ["All"]}),
    ("no attribute named", "get_queue_attributes", lambda p: {"QueueUrl": p.url}),
    ("an empty attribute name", "get_queue_attributes", lambda p: {"QueueUrl": p.url, "AttributeNames": [""]}),
    ("attributes of a missing queue", "get_queue_attributes", lambda p: {"QueueUrl": p.url + "-gone"}),
    (
        "Queue.receive: everything visible, with every attribute",
        "receive_message",
        lambda p: {**_RECEIVE, "QueueUrl": p.url, "VisibilityTimeout": 60, "MessageAttributeNames": ["All"]},
    ),
    ("nothing left visible", "receive_message", lambda p: {**_RECEIVE, "QueueUrl": p.url}),
    ("eleven at once", "receive_message", lambda p: {**_RECEIVE, "QueueUrl": p.url, "MaxNumberOfMessages": 11}),
    (
        "a visibility past 12 h",
        "receive_message",
        lambda p: {**_RECEIVE, "QueueUrl": p.url, "VisibilityTimeout": 43_201},
    ),
    ("a receive from a missing queue", "receive_message", lambda p: {**_RECEIVE, "QueueUrl": p.url + "-gone"}),
    (
        "a failed item back at once (serve in real time)",
        "change_message_visibility",
        lambda p: {"QueueUrl": p.url, "ReceiptHandle": p.handles[0], "VisibilityTimeout": 0},
    ),
    ("clock", "", 1),  # moto shows a message once its visibility has *passed*
    (
        "the event source's receive: it is back, received twice",
        "receive_message",
        lambda p: {**_RECEIVE, "QueueUrl": p.url, "MessageSystemAttributeNames": ["ApproximateReceiveCount"]},
    ),
    (
        "an invalid receipt handle",
        "change_message_visibility",
        lambda p: {"QueueUrl": p.url, "ReceiptHandle": _BAD_HANDLE, "VisibilityTimeout": 0},
    ),
    (
        "a visibility past 12 h, on one message",
        "change_message_visibility",
        lambda p: {"QueueUrl": p.url, "ReceiptHandle": p.handles[1], "VisibilityTimeout": 43_201},
    ),
    ("delete a handled message", "delete_message", lambda p: {"QueueUrl": p.url, "ReceiptHandle": p.handles[2]}),
    (
        "a visibility change on the deleted message",
        "change_message_visibility",
        lambda p: {"QueueUrl": p.url, "ReceiptHandle": p.handles[2], "VisibilityTimeout": 0},
    ),
    ("delete it again", "delete_message", lambda p: {"QueueUrl": p.url, "ReceiptHandle": p.handles[2]}),
    (
        "delete with an invalid receipt handle",
        "delete_message",
        lambda p: {"QueueUrl": p.url, "ReceiptHandle": _BAD_HANDLE},
    ),
    ("delete from a missing queue", "delete_message", lambda p: {"QueueUrl": p.url + "-gone", "ReceiptHandle": "x"}),
    (
        "Queue.release: a batch with one invalid handle",
        "change_message_visibility_batch",
        lambda p: {
            "QueueUrl": p.url,
            "Entries": _batch([p.handles[1], _BAD_HANDLE, p.handles[3]], VisibilityTimeout=0),
        },
    ),
    (
        "the event source's delete: a batch with one invalid handle",
        "delete_message_batch",
        lambda p: {"QueueUrl": p.url, "Entries": _batch([p.handles[1], _BAD_HANDLE])},
    ),
    (
        "a batch naming one handle twice",
        "delete_message_batch",
        lambda p: {"QueueUrl": p.url, "Entries": _batch([p.handles[3], p.handles[3]])},
    ),
    ("an empty batch", "delete_message_batch", lambda p: {"QueueUrl": p.url, "Entries": []}),
    (
        "a batch to a missing queue",
        "delete_message_batch",
        lambda p: {"QueueUrl": p.url + "-gone", "Entries": _batch(["x"])},
    ),
    ("clock", "", 61),
    ("the delayed message is due", "receive_message", lambda p: {**_RECEIVE, "QueueUrl": p.url}),
    (
        "a visibility change a minute after the send",
        "change_message_visibility_batch",
        lambda p: {"QueueUrl": p.url, "Entries": _batch(p.handles[-1:], VisibilityTimeout=0)},
    ),
    ("clock", "", 12 * 3600),
    (
        "a visibility change 12 h after the send (moto counts from the send)",
        "change_message_visibility_batch",
        lambda p: {"QueueUrl": p.url, "Entries": _batch(p.handles[-1:], VisibilityTimeout=0)},
    ),
    ("the depth after all that", "get_queue_attributes", lambda p: {"QueueUrl": p.url, "AttributeNames": _DEPTH}),
    (
        "a long poll with messages waiting (moto's usual path on both)",
        "receive_message",
        lambda p: {**_RECEIVE, "QueueUrl": p.url, "WaitTimeSeconds": 1},
    ),
    (
        "a receive left to the queue's wait time (moto's usual path on both)",
        "receive_message",
        lambda p: {"QueueUrl": p.url, "VisibilityTimeout": 0},
    ),
    ("every attribute at the end", "get_queue_attributes", lambda p: {"QueueUrl": p.url, "AttributeNames": ["All"]}),
]


def test_each_sqs_call_answers_as_moto_does(sqs_paths: tuple[_Path, _Path, Any]) -> None:
    *paths, clock = sqs_paths
    seen: dict[str, dict[str, Any]] = {}
    for what, operation, params in SQS_CASES:
        if what == "clock":
            clock.shift(params)
            continue
        direct, usual = (_sqs_outcome(path, operation, params(path)) for path in paths)
        assert direct == usual, what
        seen[what] = direct
    # The comparison means something only if the cases reach what they say they do.
    assert seen["a send to a missing queue"]["raised"] == "QueueDoesNotExist"
    assert seen["a send to a missing queue"]["headers"]["x-amzn-query-error"].startswith("AWS.SimpleQueueService.")
    assert "MD5OfMessageAttributes" in seen["message attributes, binary among them"]
    assert seen["the depth `dlq` commands read"]["Attributes"] == {
        "ApproximateNumberOfMessages": "3",
        "ApproximateNumberOfMessagesNotVisible": "0",
        "ApproximateNumberOfMessagesDelayed": "1",
    }
    received = seen["Queue.receive: everything visible, with every attribute"]["Messages"]
    assert [m["Body"] for m in received] == ['{"attempt": 1}', "with attributes", "traced"]
    assert received[1]["MessageAttributes"]["digest"]["BinaryValue"] == b"\x00\xff\x10"
    assert received[2]["Attributes"]["AWSTraceHeader"].startswith("Root=1-")
    assert "Messages" not in seen["nothing left visible"]
    assert seen["the event source's receive: it is back, received twice"]["Messages"][0]["Attributes"] == {
        "ApproximateReceiveCount": "2"
    }
    assert seen["an invalid receipt handle"]["Error"]["Code"] == "ReceiptHandleIsInvalid"
    release = seen["Queue.release: a batch with one invalid handle"]
    assert [e["Id"] for e in release["Successful"]] == ["0", "2"]
    assert [e["Id"] for e in release["Failed"]] == ["1"]
    assert [e["Id"] for e in seen["the event source's delete: a batch with one invalid handle"]["Failed"]] == ["1"]
    assert seen["the delayed message is due"]["Messages"][-1]["Body"] == "later"
    # What Queue.release tolerates: moto refuses the whole batch, 12 h after the send.
    late = seen["a visibility change 12 h after the send (moto counts from the send)"]
    assert late["Error"]["Code"] == "InvalidParameterValue"
    assert not seen["a visibility change a minute after the send"].get("Failed")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _stub_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The operations that reach moto's stub (the usual path) from now on."""
    from moto.core.models import botocore_stubber

    taken: list[str] = []
    original = botocore_stubber.process_request

    def noting(request: Any) -> Any:
        taken.append(_text(request.headers.get("X-Amz-Target", "")).split(".")[-1])
        return original(request)

    monkeypatch.setattr(botocore_stubber, "process_request", noting)
    return taken


def test_the_relay_sqs_calls_skip_moto_stub(
    sqs_paths: tuple[_Path, _Path, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison above means something only if the direct client really skips moto's stub,
    for each operation the relay makes, and only for those."""
    direct, usual, clock = sqs_paths
    fifo = direct.client.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    taken = _stub_calls(monkeypatch)
    sqs, url = direct.client, direct.url
    sqs.send_message(QueueUrl=url, MessageBody="a", DelaySeconds=0)
    sqs.get_queue_attributes(QueueUrl=url, AttributeNames=_DEPTH)
    handles = [m["ReceiptHandle"] for m in sqs.receive_message(QueueUrl=url, **_RECEIVE)["Messages"]]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handles[0], VisibilityTimeout=0)
    clock.shift(1)
    handles = [m["ReceiptHandle"] for m in sqs.receive_message(QueueUrl=url, **_RECEIVE)["Messages"]]
    sqs.change_message_visibility_batch(QueueUrl=url, Entries=_batch(handles, VisibilityTimeout=0))
    clock.shift(1)
    handles = [m["ReceiptHandle"] for m in sqs.receive_message(QueueUrl=url, **_RECEIVE)["Messages"]]
    sqs.delete_message_batch(QueueUrl=url, Entries=_batch(handles))
    sqs.send_message(QueueUrl=url, MessageBody="b")
    sqs.delete_message(QueueUrl=url, ReceiptHandle=sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"])
    assert taken == ["ReceiveMessage"]  # the last receive named no WaitTimeSeconds: the queue's default
    del taken[:]
    sqs.send_message(QueueUrl=url, MessageBody="c")
    sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    sqs.send_message(QueueUrl=fifo, MessageBody="d", MessageGroupId="g", MessageDeduplicationId="d")
    sqs.purge_queue(QueueUrl=url)
    usual.client.get_queue_attributes(QueueUrl=usual.url)
    assert taken == ["ReceiveMessage", "SendMessage", "PurgeQueue", "GetQueueAttributes"]


def test_after_call_handlers_still_run(sqs_paths: tuple[_Path, _Path, Any]) -> None:
    """botocore's after-call handler for SQS turns the JSON protocol's error code back into the
    Query one, so the relay can catch the modeled exception; botocore checks no MD5 of SQS
    messages, so the digests moto computed are the answer's to check, and they are right."""
    import hashlib

    direct, _, _ = sqs_paths
    with pytest.raises(direct.client.exceptions.QueueDoesNotExist) as raised:
        direct.client.send_message(QueueUrl=direct.url + "-gone", MessageBody="x")
    assert raised.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    sent = direct.client.send_message(QueueUrl=direct.url, MessageBody="☀ postback")
    received = direct.client.receive_message(QueueUrl=direct.url, **_RECEIVE)["Messages"][0]
    assert (
        sent["MD5OfMessageBody"]
        == received["MD5OfBody"]
        == hashlib.md5("☀ postback".encode(), usedforsecurity=False).hexdigest()
    )


def test_the_relay_queues_on_the_direct_path(
    sqs_paths: tuple[_Path, _Path, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """queues.Queue, as `dlq list`, replay, export and forget use it, over the direct path only."""
    from postback_relay import queues

    direct, _, clock = sqs_paths
    queues.reset_clients()  # clients made from now on carry the hook
    monkeypatch.setattr(queues, "_tooling_sqs", lambda: direct.client)
    monkeypatch.setattr(queues, "sqs_client", lambda: direct.client)
    taken = _stub_calls(monkeypatch)
    queue = queues.Queue(direct.url, "dead-letter queue")
    ids = [queue.send_body(f'{{"n": {n}}}') for n in range(12)] + [queue.send_body("later", delay_s=5000)]
    assert queue.depth() == {"visible": 12, "in_flight": 0, "delayed": 1}
    drained = list(queue.drain(visibility_s=60))
    assert sorted(m.message_id for m in drained) == sorted(ids[:12])
    assert queue.depth() == {"visible": 0, "in_flight": 12, "delayed": 1}
    queue.release([m.receipt_handle for m in drained[:11]])
    queue.delete(drained[11].receipt_handle)
    clock.shift(1)
    assert queue.depth() == {"visible": 11, "in_flight": 0, "delayed": 1}
    clock.shift(queues.MAX_SQS_DELAY_S + 1)
    assert queue.depth()["delayed"] == 0  # the delay was capped at SQS's 15 minutes
    assert taken == []
