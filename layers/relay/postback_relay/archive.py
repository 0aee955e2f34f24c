"""The raw archive: every accepted postback, as received, one gzip JSON object in S3,
partitioned by partner and date, so any day can be replayed through the same mapping."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .aws import client

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def s3_client() -> S3Client:
    # Short timeouts, one try: a slow S3 must not push the partner's answer past its deadline.
    s3: S3Client = client("s3", "archive")
    return s3


@dataclass(frozen=True)
class ArchivedPostback:
    partner: str
    received_at_ms: int
    postback_id: str
    raw: dict[str, Any]


def _day(moment_ms: int) -> str:
    return datetime.fromtimestamp(moment_ms / 1000, UTC).strftime("%Y-%m-%d")


class Archive:
    def __init__(self, bucket: str, prefix: str = "raw") -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def key_for(self, partner: str, received_at_ms: int, postback_id: str) -> str:
        return f"{self.prefix}/partner={partner}/date={_day(received_at_ms)}/{received_at_ms}-{postback_id}.json.gz"

    def put(self, item: ArchivedPostback) -> str:
        key = self.key_for(item.partner, item.received_at_ms, item.postback_id)
        body = gzip.compress(json.dumps(item.__dict__, separators=(",", ":"), ensure_ascii=False).encode())
        s3_client().put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", ContentEncoding="gzip"
        )
        return key

    def read(self, partner: str, since: date, until: date) -> Iterator[ArchivedPostback]:
        """Archived postbacks of `partner` received from `since` to `until` (inclusive), oldest first."""
        day = since
        while day <= until:
            prefix = f"{self.prefix}/partner={partner}/date={day.isoformat()}/"
            s3: S3Client = client("s3", "tooling")  # replay reads: an operator's command, not the hot path
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for entry in page.get("Contents", []):
                    body = s3.get_object(Bucket=self.bucket, Key=entry["Key"])["Body"].read()
                    yield ArchivedPostback(**json.loads(gzip.decompress(body)))
            day += timedelta(days=1)
