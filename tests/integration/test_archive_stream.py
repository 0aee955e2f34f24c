"""A partner function archiving through its Firehose delivery stream (RELAY_ARCHIVE_STREAM), as the
template deploys it: one PutRecord per postback and no S3 call of its own; the calls a delivered
postback makes, counted (docs/scaling.md's cost model is built on them); a Firehose failure costs
the archive copy, never the delivery, and is counted for its alarm. The Lambda handler on moto
(SQS, DynamoDB, S3, Firehose) and the stand-in Amplitude."""

from __future__ import annotations

import gzip
import io
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from postback_relay import archive, core
from postback_relay.runtime import reset_runtime
from postback_relay_tools.cli import main
from postback_relay_tools.local import moto_firehose
from postback_relay_tools.local.amplitude_sink import AmplitudeSink
from tests.integration.support import invoke, put_letters, run, sample

STREAM = "appsflyer-archive"
INSTALL_WITH_USER = "appsflyer-install-ios-post.json"  # two calls: /attribution and /identify


@pytest.fixture
def stream_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The AppsFlyer function with its own delivery stream into the archive bucket, as deployed."""
    moto_firehose.install()
    destination = {"Prefix": "raw/partner=appsflyer/date=!{timestamp:yyyy-MM-dd}/", "CompressionFormat": "GZIP"}
    boto3.client("firehose").create_delivery_stream(
        **moto_firehose.delivery_stream_arguments(STREAM, env["RELAY_ARCHIVE_BUCKET"], destination)
    )
    monkeypatch.setenv("RELAY_ARCHIVE_STREAM", STREAM)
    reset_runtime()
    yield env
    reset_runtime()


def count_aws_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every AWS API call made from now on, by any client (the relay's, Powertools'), as
    "service.Operation"."""
    calls: Counter[str] = Counter()
    make_api_call = BaseClient._make_api_call  # type: ignore[attr-defined]

    def counted(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        calls.update([f"{self.meta.service_model.service_name}.{operation_name}"])
        return make_api_call(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    return calls


def test_a_postback_is_one_firehose_record_and_no_s3_call(
    stream_env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_aws_calls(monkeypatch)

    status, body = invoke("AppsFlyerFunction", sample(INSTALL_WITH_USER))

    assert (status, body["status"]) == (200, "delivered")
    # What the cost model counts (docs/scaling.md): the idempotency record written twice (in
    # progress, then completed), one Firehose record; no S3 call, no queue.
    assert calls == Counter({"dynamodb.PutItem": 1, "dynamodb.UpdateItem": 1, "firehose.PutRecord": 1})
    s3 = boto3.client("s3")
    bucket = stream_env["RELAY_ARCHIVE_BUCKET"]
    [stored] = s3.list_objects_v2(Bucket=bucket, Prefix="raw/")["Contents"]
    day = datetime.now(UTC).date().isoformat()
    assert stored["Key"].startswith(f"raw/partner=appsflyer/date={day}/{STREAM}-")
    [line] = gzip.decompress(s3.get_object(Bucket=bucket, Key=stored["Key"])["Body"].read()).splitlines()
    assert json.loads(line)["postback_id"] == body["postback_id"]


def test_a_firehose_failure_costs_the_archive_copy_not_the_delivery(
    stream_env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted: list[tuple[str, str | None]] = []
    monkeypatch.setattr(core, "count", lambda metric, partner, value=1: counted.append((metric, partner)))

    def unavailable(self: archive.FirehoseArchive, item: archive.ArchivedPostback) -> str:
        raise ClientError({"Error": {"Code": "ServiceUnavailableException", "Message": "x"}}, "PutRecord")

    monkeypatch.setattr(archive.FirehoseArchive, "put", unavailable)
    status, body = invoke("AppsFlyerFunction", sample(INSTALL_WITH_USER))

    assert (status, body["status"]) == (200, "delivered")
    assert sorted(item.endpoint for item in sink.received()) == ["attribution", "identify"]
    assert ("archive_failed", "appsflyer") in counted


class Terminal(io.StringIO):
    """stderr as a person's terminal: where the progress bar shows."""

    def isatty(self) -> bool:
        return True


def test_replay_shows_progress_on_a_terminal_and_json_stays_quiet(
    stream_env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each archived postback is read once, though it was archived twice (a resend after a 503)."""
    event = sample(INSTALL_WITH_USER)
    invoke("AppsFlyerFunction", event)
    body = json.loads(event["body"])
    record = archive.ArchivedPostback("appsflyer", int(time.time() * 1000), "same-postback", body)
    for _ in range(2):
        archive.FirehoseArchive(STREAM).put(record)
    day = datetime.now(UTC).date().isoformat()
    replay = ["replay", "--from", f"s3://{stream_env['RELAY_ARCHIVE_BUCKET']}/raw", "--partner", "appsflyer"]
    capsys.readouterr()  # the function's own log line

    assert main([*replay, "--since", day, "--json"]) == 0
    out, err = capsys.readouterr()
    [summary] = out.splitlines()
    assert json.loads(summary)["archived"] == 2  # the invoked postback, and the one archived twice
    assert err == ""

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main([*replay, "--since", day]) == 0
    assert "replay appsflyer" in terminal.getvalue()
    assert "postback" in terminal.getvalue()
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["archived"] == 2


def test_dlq_replay_json_is_one_summary(stream_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    put_letters(stream_env["RELAY_DLQ_URL"])
    code, out, err = run(capsys, "dlq", "replay", "--dry-run", "--json")
    assert code == 0
    assert json.loads(out) == {"dry_run": True, "replayed": 2, "unreadable": 1, "unmatched": 0, "erased": 0}
    assert err == ""


def test_a_batch_is_read_by_its_records_receipt_days_whatever_its_folder(stream_env: dict[str, str]) -> None:
    """Firehose files a batch under its OLDEST record's day: a postback received just after
    midnight can sit in the day before's folder. A day's read takes it, the day before's does not."""
    bucket = stream_env["RELAY_ARCHIVE_BUCKET"]
    before_midnight = int(datetime(2026, 12, 1, 23, 59, 50, tzinfo=UTC).timestamp() * 1000)
    after_midnight = before_midnight + 20_000  # 2026-12-02 00:00:10
    batch = [
        archive.ArchivedPostback("appsflyer", received, f"postback-{received}", {"event_name": "install"})
        for received in (before_midnight, after_midnight)
    ]
    key = "raw/partner=appsflyer/date=2026-12-01/appsflyer-archive-1-2026-12-01-23-59-50-x.json.gz"
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=gzip.compress(b"".join(i.line() for i in batch)))
    reader = archive.Archive(bucket)

    def read(since: date, until: date) -> list[str]:
        return [item.postback_id for item in reader.read("appsflyer", since, until)]

    assert read(date(2026, 12, 2), date(2026, 12, 2)) == [f"postback-{after_midnight}"]
    assert read(date(2026, 12, 1), date(2026, 12, 1)) == [f"postback-{before_midnight}"]
    assert read(date(2026, 12, 1), date(2026, 12, 2)) == [f"postback-{before_midnight}", f"postback-{after_midnight}"]
