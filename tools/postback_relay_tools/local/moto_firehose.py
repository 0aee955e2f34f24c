"""moto's Firehose, taught to write S3 objects as Amazon Data Firehose does, for `serve` and tests.

moto delivers a PutRecord to an S3 destination at once (no buffering: an archived postback is
readable by `replay` within the call), but it keeps a prefix's expressions literally, appends
`YYYY/MM/DD/HH/` and never compresses. Amazon's rules
(https://docs.aws.amazon.com/firehose/latest/dev/s3-prefixes.html): `!{timestamp:<pattern>}` is the
time Firehose received the records (UTC, Java DateTimeFormatter pattern), and with an expression in
the prefix nothing is appended; `CompressionFormat: GZIP` gzips the batch; `FileExtension` ends the
object's name. Patched here, so the relay's own code path (firehose.put_record) is the one AWS runs
and the objects have the layout `replay` and SQL engines read. Not shipped in the Lambda layer.
"""

from __future__ import annotations

import gzip
import re
from datetime import UTC, datetime
from typing import Any

# Java DateTimeFormatter letters the templates use → strftime.
_JAVA_TO_STRFTIME = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}
_EXPRESSION = re.compile(r"!\{(?P<namespace>timestamp|firehose):(?P<value>[^}]*)\}")
_installed = False


def _timestamp(pattern: str, moment: datetime) -> str:
    for java, strftime in _JAVA_TO_STRFTIME.items():
        pattern = pattern.replace(java, strftime)
    return moment.strftime(pattern)


def evaluate_prefix(prefix: str, moment: datetime, random_string: str) -> str:
    """A destination prefix with its expressions evaluated, as Firehose names an object's folder."""

    def value(match: re.Match[str]) -> str:
        if match["namespace"] == "timestamp":
            return _timestamp(match["value"], moment)
        return random_string if match["value"] == "random-string" else match["value"]

    return _EXPRESSION.sub(value, prefix)


def install() -> None:
    """Patch moto's Firehose backend (idempotent): AWS's prefixes, compression and file extension."""
    global _installed
    if _installed:
        return
    from moto.core.utils import utcnow
    from moto.firehose.models import FirehoseBackend
    from moto.moto_api._internal import mock_random
    from moto.s3.models import s3_backends

    def put_s3_records(
        self: FirehoseBackend,
        delivery_stream_name: str,
        version_id: str,
        s3_destination: dict[str, Any],
        records: list[dict[str, bytes]],
    ) -> list[dict[str, str]]:
        bucket_name = s3_destination["BucketARN"].split(":")[-1]
        moment = utcnow().replace(tzinfo=UTC)
        random_string = str(mock_random.uuid4())
        prefix = s3_destination.get("Prefix", "")
        if _EXPRESSION.search(prefix):
            folder = evaluate_prefix(prefix, moment, random_string)
        else:
            folder = f"{prefix}{moment.strftime('%Y/%m/%d/%H')}/"
        name = (
            f"{delivery_stream_name}-{version_id}-{moment.strftime('%Y-%m-%d-%H-%M-%S')}-{random_string}"
            f"{s3_destination.get('FileExtension', '')}"
        )
        data = b"".join(record["Data"] for record in records)
        if s3_destination.get("CompressionFormat") == "GZIP":
            data = gzip.compress(data)
        s3_backends[self.account_id][self.partition].put_object(bucket_name, folder + name, data)
        return [{"RecordId": str(mock_random.uuid4())} for _ in records]

    FirehoseBackend.put_s3_records = put_s3_records  # type: ignore[method-assign]
    _installed = True


def delivery_stream_arguments(name: str, bucket: str, destination: dict[str, Any]) -> dict[str, Any]:
    """CreateDeliveryStream's arguments for a template's stream, its bucket resolved locally."""
    extended = {
        "BucketARN": f"arn:aws:s3:::{bucket}",
        "RoleARN": "arn:aws:iam::123456789012:role/archive-delivery",
        "Prefix": destination.get("Prefix", ""),
        "CompressionFormat": destination.get("CompressionFormat", "UNCOMPRESSED"),
    }
    if destination.get("FileExtension"):
        extended["FileExtension"] = destination["FileExtension"]
    return {
        "DeliveryStreamName": name,
        "DeliveryStreamType": "DirectPut",
        "ExtendedS3DestinationConfiguration": extended,
    }
