"""The local stack's faster moto answers exactly as moto does.

`moto_speedups` hands DynamoDB's PutItem, UpdateItem, GetItem and DeleteItem straight to moto's
handler (no signing, URL matching or request rebuilding) and reads moto's SQS retention with one
attribute instead of all of them. Each case below runs the same call on a client that takes the
direct path and on one that takes moto's usual path, against two tables in the same state, and
compares what the relay's code would see: the parsed answer, or the error's code, message and the
fields botocore adds to it (the Item of a failed condition, which Powertools idempotency reads).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from postback_relay.local import moto_speedups

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
