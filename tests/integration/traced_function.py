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

from postback_relay_tools.local.events import lambda_context
from postback_relay_tools.local.template import FunctionSpec
from postback_relay_tools.local.xray import start_trace

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
sys.path.insert(0, str(ROOT))  # run as a script: the tests package is importable from the repo root

from tests.conftest import make_aws_resources  # noqa: E402


def invoke(folder: str, event: dict[str, Any]) -> dict[str, Any]:
    handler = FunctionSpec("Traced", FUNCTIONS / folder, "app.handler", 30, 256).load()
    start_trace()
    answer: dict[str, Any] = handler(event, lambda_context("traced", 30.0, 256))
    return answer


def main() -> None:
    function, event = sys.argv[1], json.loads(Path(sys.argv[2]).read_text())
    with mock_aws():
        resources = make_aws_resources()
        os.environ["RELAY_RETRY_QUEUE_URL"] = resources["retry"]
        os.environ["RELAY_DLQ_URL"] = resources["dlq"]
        os.environ["RELAY_IDEMPOTENCY_TABLE"] = resources["table"]
        os.environ["RELAY_ARCHIVE_BUCKET"] = resources["bucket"]
        answer = invoke(function, event)
        queued = int(
            boto3.client("sqs").get_queue_attributes(
                QueueUrl=resources["retry"], AttributeNames=["ApproximateNumberOfMessagesDelayed"]
            )["Attributes"]["ApproximateNumberOfMessagesDelayed"]
        )
    print(json.dumps({"answer": answer, "queued": queued, "xray_loaded": "aws_xray_sdk" in sys.modules}))


if __name__ == "__main__":
    main()
