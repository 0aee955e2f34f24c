"""The raw archive: every accepted postback, as received, one gzip JSON object in S3,
partitioned by partner and date, so any day can be replayed through the same mapping.

As received except for IP addresses and user agents, which are kept only as keyed hashes
(privacy.pseudonymise; `redacted` lists the fields). The ids stay: replay needs them, and
`postback-relay forget` erases one person's postbacks (forget.py).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
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
    # Dotted paths of the fields whose values were replaced by keyed hashes (IP, user agent).
    redacted: tuple[str, ...] = field(default=())
    # Received in shadow mode (RELAY_MODE=shadow): archived and mapped, nothing sent to Amplitude;
    # `replay --send` delivers it if the team switches with a backfill.
    shadowed: bool = False

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> ArchivedPostback:
        """An archived object's JSON; objects written before `redacted` or `shadowed` existed have none."""
        return cls(
            partner=document["partner"],
            received_at_ms=int(document["received_at_ms"]),
            postback_id=document["postback_id"],
            raw=document["raw"],
            redacted=tuple(document.get("redacted") or ()),
            shadowed=document.get("shadowed") is True,
        )

    @classmethod
    def from_object(cls, body: bytes) -> ArchivedPostback:
        return cls.from_document(json.loads(gzip.decompress(body)))


@dataclass(frozen=True)
class ObjectVersion:
    """One version of an S3 object (a delete marker has no body)."""

    key: str
    version_id: str
    is_delete_marker: bool = False
    is_latest: bool = True


def _tooling_s3(s3: S3Client | None) -> S3Client:
    tooling: S3Client = s3 or client("s3", "tooling")  # operators' commands: patient timeouts
    return tooling


def object_versions(bucket: str, prefix: str, s3: S3Client | None = None) -> Iterator[tuple[str, list[ObjectVersion]]]:
    """Every key under `prefix` with all its versions and delete markers, key by key, streamed:
    a partner's whole archive does not have to fit in memory. In an unversioned bucket each key
    has one version, "null"."""
    s3 = _tooling_s3(s3)
    pending_key: str | None = None
    pending: list[ObjectVersion] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        entries = [
            ObjectVersion(v["Key"], v.get("VersionId") or "null", is_latest=v.get("IsLatest", True))
            for v in page.get("Versions", [])
        ]
        entries += [
            ObjectVersion(m["Key"], m.get("VersionId") or "null", True, m.get("IsLatest", True))
            for m in page.get("DeleteMarkers", [])
        ]
        # A page lists keys in order; only the last key's versions may go on into the next page.
        for entry in sorted(entries, key=lambda e: e.key):
            if entry.key != pending_key:
                if pending_key is not None:
                    yield pending_key, pending
                pending_key, pending = entry.key, []
            pending.append(entry)
    if pending_key is not None:
        yield pending_key, pending


def read_version(bucket: str, version: ObjectVersion, s3: S3Client | None = None) -> bytes:
    return _tooling_s3(s3).get_object(Bucket=bucket, Key=version.key, VersionId=version.version_id)["Body"].read()


def delete_versions(bucket: str, versions: list[ObjectVersion], s3: S3Client | None = None) -> int:
    """Delete each version for good (a DeleteObject with its VersionId leaves no delete marker)."""
    s3 = _tooling_s3(s3)
    for version in versions:
        s3.delete_object(Bucket=bucket, Key=version.key, VersionId=version.version_id)
    return len(versions)


def _day(moment_ms: int) -> str:
    return datetime.fromtimestamp(moment_ms / 1000, UTC).strftime("%Y-%m-%d")


class Archive:
    def __init__(self, bucket: str, prefix: str = "raw") -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def partners(self) -> list[str]:
        """The partners the archive holds anything for, even only noncurrent versions."""
        s3: S3Client = client("s3", "tooling")
        found: set[str] = set()
        marker = f"{self.prefix}/partner="
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=marker, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                found.add(common["Prefix"].removeprefix(marker).rstrip("/"))
        return sorted(found)

    def partner_prefix(self, partner: str, day: date | None = None) -> str:
        base = f"{self.prefix}/partner={partner}/"
        return base if day is None else f"{base}date={day.isoformat()}/"

    def key_for(self, partner: str, received_at_ms: int, postback_id: str) -> str:
        return f"{self.prefix}/partner={partner}/date={_day(received_at_ms)}/{received_at_ms}-{postback_id}.json.gz"

    def put(self, item: ArchivedPostback) -> str:
        key = self.key_for(item.partner, item.received_at_ms, item.postback_id)
        document = dict(item.__dict__)
        if not item.shadowed:
            del document["shadowed"]  # a live postback's object stays as it always was
        body = gzip.compress(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode())
        s3_client().put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", ContentEncoding="gzip"
        )
        return key

    def read(self, partner: str, since: date, until: date) -> Iterator[ArchivedPostback]:
        """Archived postbacks of `partner` received from `since` to `until` (inclusive), oldest first."""
        day = since
        while day <= until:
            prefix = self.partner_prefix(partner, day)
            s3: S3Client = client("s3", "tooling")  # replay reads: an operator's command, not the hot path
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for entry in page.get("Contents", []):
                    body = s3.get_object(Bucket=self.bucket, Key=entry["Key"])["Body"].read()
                    yield ArchivedPostback.from_object(body)
            day += timedelta(days=1)
