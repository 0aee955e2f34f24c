"""Erasure records: who was forgotten and when, as keyed hashes only, in the archive bucket.

    erasures/<person hash>/<erased_at_ms>.json    what `forget` erased (counts, search window); no id
    erasures/key-check.json                       a keyed hash of a fixed text: every record was made
                                                  under the RELAY_HASH_SALT in use now

`replay` and `dlq replay` read the records (one LIST per 1,000; the times are in the keys, so no
GET) and skip every postback or dead letter about a forgotten person that was received before that
person's erasure. A postback received after it is new data and is not skipped.

The records never expire: the bucket's lifecycle rules (template.yaml) expire `raw/`
(ArchiveRetention) and `dead-letters/` (DeadLetterExportRetention) after ArchiveRetentionDays, and
under `erasures/` only an overwritten version, after ArchiveNoncurrentVersionDays. A record is the
proof that an erasure was done, and keeps skipping the person in a copy of the archive restored
from elsewhere; it holds keyed hashes and counts only.

The retry consumer does not read these (a LIST per message would be too dear): `forget` also marks
the person in the idempotency table, where it checks (fence.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from postback_relay.aws import client
from postback_relay.privacy import carried_hashes, keyed_hash, postback_hash, postback_ids

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from postback_relay.archive import ArchivedPostback
    from postback_relay.models.postback import Postback

PREFIX = "erasures"
KEY_CHECK = f"{PREFIX}/key-check.json"
_CHECK_TEXT = "postback-relay erasure records"
_RECORD = re.compile(rf"{PREFIX}/([0-9a-f]{{40}})/(\d+)\.json")


class ErasureError(Exception):
    """Erasure records that cannot be trusted or read: said in one line, and nothing is replayed."""


def _s3() -> S3Client:
    s3: S3Client = client("s3", "tooling")  # operators' commands only: never the hot path
    return s3


def _key_check(key: str) -> str:
    return keyed_hash(key, _CHECK_TEXT)


def _wrong_key(bucket: str) -> ErasureError:
    return ErasureError(
        f"the erasure records in s3://{bucket}/{PREFIX}/ were made under another RELAY_HASH_SALT: set the one "
        "the stack uses (its TrackerHashSalt parameter, or the stack id when that is empty)"
    )


def _stored_check(bucket: str) -> str | None:
    from botocore.exceptions import ClientError

    try:
        body = _s3().get_object(Bucket=bucket, Key=KEY_CHECK)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    try:
        check = json.loads(body).get("check")
    except (ValueError, AttributeError):
        check = None
    return check if isinstance(check, str) else ""


def ensure_key_check(bucket: str, key: str, *, write: bool = True) -> None:
    """Before any erasure: the records already there must be under `key`; the first one writes the check."""
    stored = _stored_check(bucket)
    if stored is None:
        if not write:
            return
        body = json.dumps({"check": _key_check(key), "what": "HMAC-SHA-256 of a fixed text under RELAY_HASH_SALT"})
        _s3().put_object(Bucket=bucket, Key=KEY_CHECK, Body=body.encode(), ContentType="application/json")
    elif stored != _key_check(key):
        raise _wrong_key(bucket)


def write_record(bucket: str, person_hash: str, erased_at_ms: int, summary: dict[str, Any]) -> str:
    """One erasure record; its key. Written before the work (so a crash half-way still counts) and after it."""
    key = f"{PREFIX}/{person_hash}/{erased_at_ms}.json"
    body = json.dumps({"person_hash": person_hash, "erased_at_ms": erased_at_ms, **summary}, sort_keys=True)
    _s3().put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")
    return key


@dataclass(frozen=True)
class Erasures:
    """Every erasure recorded in a bucket: person hash -> the latest erasure's time (epoch ms)."""

    bucket: str
    key: str
    erased_at_ms: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, bucket: str, key: str) -> Erasures:
        erased: dict[str, int] = {}
        for page in _s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{PREFIX}/"):
            for entry in page.get("Contents", []):
                found = _RECORD.fullmatch(entry["Key"])
                if found:
                    person, at_ms = found.group(1), int(found.group(2))
                    erased[person] = max(at_ms, erased.get(person, 0))
        if erased:
            stored = _stored_check(bucket)
            if stored is None:
                raise ErasureError(
                    f"s3://{bucket}/{KEY_CHECK} is missing: cannot tell whether RELAY_HASH_SALT is the one "
                    "the erasure records were made under"
                )
            if stored != _key_check(key):
                raise _wrong_key(bucket)
        return cls(bucket, key, erased)

    def __len__(self) -> int:
        return len(self.erased_at_ms)

    def covers_archived(self, item: ArchivedPostback, postback: Postback | None) -> bool:
        """Whether an archived postback (mapped again as `postback`, None when it no longer parses)
        is about a person erased since: by the ids its raw fields and its mapping carry, and its key."""
        if not self.erased_at_ms:
            return False
        found = carried_hashes(self.key, item.raw, postback_ids(postback) if postback else ())
        found.add(postback_hash(self.key, item.postback_id))
        return self.covers(found, item.received_at_ms)

    def covers(self, hashes: Iterable[str], received_at_ms: int | None) -> bool:
        """Whether a record carrying `hashes`, received at `received_at_ms`, is about a person erased
        since. No time known: erased (the safe side)."""
        for person in hashes:
            erased_at = self.erased_at_ms.get(person)
            if erased_at is not None and (received_at_ms is None or received_at_ms <= erased_at):
                return True
        return False
