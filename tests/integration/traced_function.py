"""Child process of test_tracing.py: one function invoked once, as Lambda would, in a fresh interpreter.

    python traced_function.py appsflyer EVENT.json   (a partner function)
    python traced_function.py retry SQS_EVENT.json   (the retry consumer)

Amplitude is AMPLITUDE_API_URL; the queues, the idempotency table and the archive bucket are moto's,
made here, as the template makes them.

X-Ray's patches are process-wide, so tracing is tried here and never in the pytest process. Prints one
JSON line: the answer and whether aws_xray_sdk was ever imported.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from postback_relay.local.events import lambda_context
from postback_relay.local.template import FunctionSpec
from postback_relay.local.xray import start_trace

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def invoke(folder: str, event: dict[str, Any]) -> dict[str, Any]:
    handler = FunctionSpec("Traced", FUNCTIONS / folder, "app.handler", 30, 256).load()
    start_trace()
    answer: dict[str, Any] = handler(event, lambda_context("traced", 30.0, 256))
    return answer


def main() -> None:
    function, event = sys.argv[1], json.loads(Path(sys.argv[2]).read_text())
    with mock_aws():
        sqs = boto3.client("sqs")
        os.environ["RELAY_RETRY_QUEUE_URL"] = sqs.create_queue(QueueName="retry")["QueueUrl"]
        os.environ["RELAY_DLQ_URL"] = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        boto3.client("dynamodb").create_table(
            TableName="idempotency",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        boto3.client("s3").create_bucket(Bucket="postback-archive")
        os.environ["RELAY_IDEMPOTENCY_TABLE"] = "idempotency"
        os.environ["RELAY_ARCHIVE_BUCKET"] = "postback-archive"
        answer = invoke(function, event)
        queued = int(
            sqs.get_queue_attributes(
                QueueUrl=os.environ["RELAY_RETRY_QUEUE_URL"], AttributeNames=["ApproximateNumberOfMessagesDelayed"]
            )["Attributes"]["ApproximateNumberOfMessagesDelayed"]
        )
    print(json.dumps({"answer": answer, "queued": queued, "xray_loaded": "aws_xray_sdk" in sys.modules}))


if __name__ == "__main__":
    main()
