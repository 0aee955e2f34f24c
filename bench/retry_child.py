"""Child process of the retry-consumer throughput benchmark.

    python bench/retry_child.py RESULT.json SAMPLE_SQS_EVENT.json MESSAGES

Inside moto's in-process SQS (`mock_aws`): fills a retry queue with MESSAGES RetryMessage bodies (the
sample's call under fresh insert_ids), then does what Lambda's SQS poller does with BatchSize 10 —
receive 10, hand them to the retry function's entry point (`postback_relay.retry.handler`, traced when
RELAY_TRACING=true) as an SQS event, delete the ones not reported failed — until the queue is empty.
Each record is one Amplitude call to the loopback stand-in.
Times both the whole loop (moto's receive/delete included) and the handler alone.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import boto3
from moto import mock_aws

from postback_relay.messages import RetryMessage
from postback_relay_tools.local.events import SqsMessage, lambda_context, sqs_event
from postback_relay_tools.local.xray import start_trace


def main() -> None:
    result_path, sample_path, total = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    sample = RetryMessage.model_validate_json(json.loads(sample_path.read_text())["Records"][0]["body"])
    with mock_aws():
        sqs = boto3.client("sqs")
        retry_url = sqs.create_queue(QueueName="bench-retry", Attributes={"VisibilityTimeout": "180"})["QueueUrl"]
        dlq_url = sqs.create_queue(QueueName="bench-dlq")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=retry_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        os.environ["RELAY_RETRY_QUEUE_URL"] = retry_url
        os.environ["RELAY_DLQ_URL"] = dlq_url
        from postback_relay.config import DELIVERING_FUNCTION
        from postback_relay.retry import retry_handler
        from postback_relay.runtime import Runtime

        # The retry function as deployed, less its idempotency table (off here, as in the baseline).
        handler = retry_handler(Runtime(DELIVERING_FUNCTION))

        for start in range(0, total, 10):
            entries = []
            for n in range(start, min(total, start + 10)):
                call = sample.call.model_copy(update={"insert_id": f"bench-retry-{n}"})
                body = sample.model_copy(update={"call": call, "attempts": 1}).model_dump_json()
                entries.append({"Id": str(n - start), "MessageBody": body})
            sqs.send_message_batch(QueueUrl=retry_url, Entries=entries)

        def one_batch() -> tuple[int, int, int]:
            answer = sqs.receive_message(QueueUrl=retry_url, MaxNumberOfMessages=10, VisibilityTimeout=180)
            received = answer.get("Messages", [])
            if not received:
                return 0, 0, 0
            event = sqs_event([SqsMessage(m["MessageId"], m["ReceiptHandle"], m["Body"]) for m in received], arn)
            context = lambda_context("bench-retry", 30.0, 256)
            start_trace()
            started = time.perf_counter_ns()
            response = handler(event, context)
            handler_ns = time.perf_counter_ns() - started
            failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
            done = [m for m in received if m["MessageId"] not in failed]
            if done:
                sqs.delete_message_batch(
                    QueueUrl=retry_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
            return len(done), len(failed), handler_ns

        one_batch()  # warm-up: first imports, the first connection to the stand-in
        delivered = failed = 0
        batch_ns: list[int] = []
        started = time.perf_counter()
        while True:
            ok, bad, handler_ns = one_batch()
            if ok + bad == 0:
                break
            delivered, failed = delivered + ok, failed + bad
            batch_ns.append(handler_ns)
        wall_s = time.perf_counter() - started
        left = sqs.get_queue_attributes(QueueUrl=retry_url, AttributeNames=["ApproximateNumberOfMessages"])
        requeued = int(left["Attributes"]["ApproximateNumberOfMessages"])
    result_path.write_text(
        json.dumps(
            {
                "delivered": delivered,
                "failed": failed,
                "requeued": requeued,
                "wall_s": wall_s,
                "batch_ns": batch_ns,
            }
        )
    )


if __name__ == "__main__":
    main()
