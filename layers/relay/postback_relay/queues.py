"""SQS behind two small names: the retry queue and the dead-letter queue.

The boto3 client is created lazily, once per container, and only where a queue is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .aws import client
from .aws import reset_clients as reset_aws_clients
from .config import ConfigurationError, get_settings
from .messages import DeadLetter, RetryMessage

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# SQS refuses DelaySeconds above 15 minutes.
MAX_SQS_DELAY_S = 900


def sqs_client() -> SQSClient:
    # The sends that make a postback ours: a few quick tries, bounded (aws.py).
    sqs: SQSClient = client("sqs", "must_succeed")
    return sqs


def _tooling_sqs() -> SQSClient:
    # Receives, deletes and visibility changes are the operators' commands (`dlq list`, replay,
    # export). Never the quick-timeout client: a receive that times out still hides its messages,
    # and botocore's retry then finds none, so `dlq export` once reported 0 of 2 letters.
    sqs: SQSClient = client("sqs", "tooling")
    return sqs


def reset_clients() -> None:
    reset_aws_clients()


@dataclass(frozen=True)
class QueuedMessage:
    message_id: str
    receipt_handle: str
    body: str


class Queue:
    def __init__(self, url: str, role: str) -> None:
        if not url:
            raise ConfigurationError(f"the {role} URL is not configured")
        self.url = url

    def send_body(self, body: str, delay_s: int = 0) -> str:
        delay = max(0, min(MAX_SQS_DELAY_S, int(delay_s)))
        answer = sqs_client().send_message(QueueUrl=self.url, MessageBody=body, DelaySeconds=delay)
        return answer["MessageId"]

    def receive(self, max_messages: int = 10, wait_s: int = 0, visibility_s: int = 30) -> list[QueuedMessage]:
        answer = _tooling_sqs().receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_s,
            VisibilityTimeout=visibility_s,
            MessageSystemAttributeNames=["All"],
        )
        return [QueuedMessage(m["MessageId"], m["ReceiptHandle"], m["Body"]) for m in answer.get("Messages", [])]

    def delete(self, receipt_handle: str) -> None:
        _tooling_sqs().delete_message(QueueUrl=self.url, ReceiptHandle=receipt_handle)

    def release(self, receipt_handles: list[str]) -> None:
        """Make received messages visible again at once."""
        from botocore.exceptions import ClientError

        for start in range(0, len(receipt_handles), 10):
            entries: list[Any] = [
                {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for i, handle in enumerate(receipt_handles[start : start + 10])
            ]
            try:
                _tooling_sqs().change_message_visibility_batch(QueueUrl=self.url, Entries=entries)
            except ClientError as error:
                # moto refuses any visibility change 12 h after a message was *sent* (AWS counts from
                # its receipt). Nothing is lost: these reappear when the drain's visibility ends.
                if error.response.get("Error", {}).get("Code") != "InvalidParameterValue":
                    raise

    def drain(self, visibility_s: int = 60) -> Iterator[QueuedMessage]:
        """Every message currently visible, each once, hidden for `visibility_s` while you work."""
        seen: set[str] = set()
        while True:
            batch = [m for m in self.receive(visibility_s=visibility_s) if m.message_id not in seen]
            if not batch:
                return
            for message in batch:
                seen.add(message.message_id)
                yield message

    def depth(self) -> dict[str, int]:
        attributes = _tooling_sqs().get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return {
            "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
            "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
        }


class RetryQueue(Queue):
    def __init__(self, url: str | None = None) -> None:
        super().__init__(url if url is not None else get_settings().retry_queue_url, "retry queue")

    def put(self, message: RetryMessage, delay_s: int) -> str:
        return self.send_body(message.model_dump_json(), delay_s)


class DeadLetterQueue(Queue):
    def __init__(self, url: str | None = None) -> None:
        super().__init__(url if url is not None else get_settings().dlq_url, "dead-letter queue")

    def put(self, letter: DeadLetter) -> str:
        return self.send_body(letter.model_dump_json())
