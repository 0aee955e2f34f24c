"""The raw archive: every accepted postback, as received, in S3, partitioned by partner and date,
so any day can be replayed through the same mapping (and queried with SQL: docs/operations.md#sql-over-the-archive).

Written through an Amazon Data Firehose delivery stream (`FirehoseArchive`, RELAY_ARCHIVE_STREAM):
one JSON line per postback, batched by Firehose into gzip objects under
`raw/partner=<its function's partition>/date=YYYY-MM-DD/`, so a partner function holds no S3 write
permission and pays no S3 PUT per postback. Without a stream (an older deployment, some tests) a
function writes one gzip object per postback itself (`Archive.put`), under the same prefixes.
`Archive.read` reads both: every object is gzip JSON lines, one line or many.

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
    from mypy_boto3_firehose import FirehoseClient
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
    def from_object(cls, body: bytes) -> list[ArchivedPostback]:
        """Every postback in an archive object: gzip JSON lines (a Firehose batch), or one document."""
        text = gzip.decompress(body).decode()
        return [cls.from_document(json.loads(line)) for line in text.splitlines() if line.strip()]

    def document(self) -> dict[str, Any]:
        document = dict(self.__dict__)
        document["redacted"] = list(self.redacted)
        if not self.shadowed:
            del document["shadowed"]  # a live postback's record stays as it always was
        return document

    def line(self) -> bytes:
        """The postback as one JSON line: what Firehose batches (and what SQL engines read)."""
        return json.dumps(self.document(), separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


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


# The partition of the mapping-file networks' one delivery stream (template.yaml): its records name
# their network.
SHARED_PARTITION = "custom"


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
        """One object for one postback: the writer of a function without a delivery stream."""
        key = self.key_for(item.partner, item.received_at_ms, item.postback_id)
        s3_client().put_object(
            Bucket=self.bucket,
            Key=key,
            Body=gzip.compress(item.line()),
            ContentType="application/json",
            ContentEncoding="gzip",
        )
        return key

    def read(self, partner: str, since: date, until: date, shared: bool = False) -> Iterator[ArchivedPostback]:
        """Archived postbacks of `partner` received from `since` to `until` (inclusive, UTC days of
        their `received_at_ms`), folder by folder.

        Firehose names a batch's folder after its OLDEST record's arrival, so a postback received
        just after midnight can sit in the previous day's folder: the day before `since` is read
        too, and every record is kept by its own receipt day. `shared`: `partner` is archived
        through a stream several partners share (a mapping-file network, SHARED_PARTITION): that
        partition's records of `partner` are read too. A postback archived twice (its partner
        resent it after a 503) is read once: the Attribution API does not de-duplicate, so a
        replay must not send it twice."""
        s3: S3Client = client("s3", "tooling")  # replay reads: an operator's command, not the hot path
        partitions = [partner, SHARED_PARTITION] if shared and partner != SHARED_PARTITION else [partner]
        wanted = {(since + timedelta(days=n)).isoformat() for n in range((until - since).days + 1)}
        seen: dict[str, str] = {}  # postback id -> its day; days more than one behind are forgotten
        day = since - timedelta(days=1)
        while day <= until:
            current = day.isoformat()
            seen = {postback_id: seen_on for postback_id, seen_on in seen.items() if seen_on >= _before(current)}
            for partition in partitions:
                prefix = self.partner_prefix(partition, day)
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                    for entry in page.get("Contents", []):
                        body = s3.get_object(Bucket=self.bucket, Key=entry["Key"])["Body"].read()
                        for item in ArchivedPostback.from_object(body):
                            received = _day(item.received_at_ms)
                            if item.partner != partner or received not in wanted or item.postback_id in seen:
                                continue
                            seen[item.postback_id] = current
                            yield item
            day += timedelta(days=1)


def _before(day: str) -> str:
    """The day before `day` (ISO dates)."""
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()


class FirehoseArchive:
    """The archive writer of a function with a delivery stream: one record per postback. Firehose
    buffers, compresses and writes the objects (template.yaml, ArchiveStream resources)."""

    def __init__(self, stream: str) -> None:
        self.stream = stream

    def put(self, item: ArchivedPostback) -> str:
        answer = firehose_client().put_record(DeliveryStreamName=self.stream, Record={"Data": item.line()})
        return str(answer["RecordId"])


def firehose_client() -> FirehoseClient:
    # The same short timeouts as the archive's S3 client: its wait overlaps the Amplitude attempt.
    firehose: FirehoseClient = client("firehose", "archive")
    return firehose


ArchiveWriter = Archive | FirehoseArchive
