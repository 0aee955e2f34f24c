"""Dead letters kept in S3: SQS deletes them after its 14-day retention (a redriven message keeps
its first enqueue time), so `dlq export` writes them out, and `dlq replay --from` sends them back.

One gzip JSON-lines object per export, `<prefix>/date=YYYY-MM-DD/<epoch_ms>-<count>.jsonl.gz`, a line
per letter in the shape `dlq list --json` prints.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from postback_relay.archive import _day
from postback_relay.aws import client
from postback_relay.messages import DeadLetter, RetryMessage
from postback_relay.queues import DeadLetterQueue, QueuedMessage

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DEFAULT_PREFIX = "dead-letters"
SUFFIX = ".jsonl.gz"


class ExportError(Exception):
    """An operator's mistake (a bad URI, nothing to read): said in one line, not a traceback."""


def _s3() -> S3Client:
    return cast("S3Client", client("s3", "tooling"))  # an operator's command: patient timeouts, not the hot path's


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str, default_prefix: str = DEFAULT_PREFIX) -> S3Location:
        parts = urlsplit(uri)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise ExportError(f"{uri!r} is not s3://BUCKET[/PREFIX]")
        return cls(parts.netloc, parts.path.strip("/") or default_prefix)

    def uri(self, key: str | None = None) -> str:
        return f"s3://{self.bucket}/{self.prefix if key is None else key}"


def dead_letters() -> tuple[DeadLetterQueue, list[tuple[QueuedMessage, DeadLetter]]]:
    """Every dead letter now in the queue, each hidden until the caller releases or deletes it."""
    queue = DeadLetterQueue()
    now_ms = int(time.time() * 1000)
    return queue, [(message, DeadLetter.from_queue_body(message.body, now_ms)) for message in queue.drain()]


def letter_record(message_id: str, letter: DeadLetter) -> dict[str, Any]:
    """A letter as `dlq list --json` prints it and an export stores it."""
    return {"message_id": message_id, **letter.model_dump(mode="json")}


def replay_message(letter: DeadLetter, now_ms: int) -> RetryMessage | None:
    """The retry message that sends a letter's call again, or None if it holds no readable call."""
    if letter.call is None or letter.partner is None:
        return None
    return RetryMessage(
        partner=letter.partner,
        call=letter.call,
        attempts=0,
        received_at_ms=letter.received_at_ms or letter.dead_lettered_at_ms,
        # A replay is a new delivery with a fresh retry horizon.
        horizon_from_ms=now_ms,
    )


def write_export(location: S3Location, records: list[dict[str, Any]], now_ms: int) -> str:
    """One object with every record; its s3:// URI."""
    key = f"{location.prefix}/date={_day(now_ms)}/{now_ms}-{len(records)}{SUFFIX}"
    lines = "".join(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n" for record in records)
    _s3().put_object(
        Bucket=location.bucket,
        Key=key,
        Body=gzip.compress(lines.encode()),
        ContentType="application/x-ndjson",
        ContentEncoding="gzip",
    )
    return location.uri(key)


def export_keys(location: S3Location) -> list[str]:
    """The object named, or every export under the prefix taken as a folder, oldest first."""
    folder = location.prefix.rstrip("/") + "/"
    keys = [
        entry["Key"]
        for page in _s3().get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=location.prefix)
        for entry in page.get("Contents", [])
        if entry["Key"] == location.prefix or (entry["Key"].startswith(folder) and entry["Key"].endswith(SUFFIX))
    ]
    if not keys:
        raise ExportError(f"no exported dead letters at {location.uri()}")
    return keys  # listed in key order: by date, then by the export's epoch_ms


def read_export_records(location: S3Location) -> Iterator[tuple[str | None, DeadLetter | None]]:
    """Each exported letter once (a letter in two exports has one SQS message id) with its SQS
    message id (None if the line has none); the letter None for a line that is not a dead letter."""
    seen: set[str] = set()
    for key in export_keys(location):
        body = _s3().get_object(Bucket=location.bucket, Key=key)["Body"].read()
        try:
            lines = gzip.decompress(body).splitlines()
        except (OSError, EOFError) as error:
            raise ExportError(f"{location.uri(key)} is not a gzip JSON-lines export ({error})") from error
        for line in lines:
            if not line.strip():
                continue
            message_id, letter = _parse_line(line)
            if message_id is not None:
                if message_id in seen:
                    continue
                seen.add(message_id)
            yield message_id, letter


def _parse_line(line: bytes) -> tuple[str | None, DeadLetter | None]:
    try:
        record = json.loads(line)
        if isinstance(record, dict):
            message_id = record.pop("message_id", None)
            return (message_id if isinstance(message_id, str) else None), DeadLetter.model_validate(record)
    except ValueError:  # not JSON, or not a dead letter (pydantic's ValidationError is a ValueError)
        pass
    return None, None
