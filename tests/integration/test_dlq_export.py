"""`dlq export` keeps dead letters in S3 beyond SQS's retention; `dlq replay --from` sends them back."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from postback_relay.messages import RetryMessage
from postback_relay.queues import DeadLetterQueue
from postback_relay_tools.cli import main
from postback_relay_tools.local.amplitude_sink import AmplitudeSink
from tests.conftest import queue_bodies
from tests.integration.support import (
    assert_one_line_error,
    call,
    cli,
    listed,
    local_stack,
    objects,
    post,
    put_letters,
    realistic_postbacks,
    run,
)


@pytest.fixture
def flags(relay_env: dict[str, str], aws: dict[str, str]) -> list[str]:
    return ["--dlq-url", aws["dlq"], "--retry-queue-url", aws["retry"]]


def by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Records by message id, less an unreadable letter's dead_lettered_at_ms (the time it is read)."""
    return {
        record["message_id"]: {
            k: v for k, v in record.items() if not (k == "dead_lettered_at_ms" and record["raw_body"] is not None)
        }
        for record in records
    }


def test_export_writes_every_letter_once_and_leaves_the_queue_unchanged(
    capsys: pytest.CaptureFixture[str], flags: list[str], aws: dict[str, str]
) -> None:
    put_letters(aws["dlq"])
    before = listed(capsys, flags)
    code, out, _ = run(capsys, "dlq", "export", "--to", f"s3://{aws['bucket']}/keep/", "--json", *flags)
    assert code == 0
    summary = json.loads(out)
    [(key, lines)] = objects(aws["bucket"]).items()
    assert summary == {"exported": 3, "uri": f"s3://{aws['bucket']}/{key}"}
    assert re.fullmatch(r"keep/date=\d{4}-\d{2}-\d{2}/\d{13}-3\.jsonl\.gz", key)
    assert key.split("date=")[1][:10] == time.strftime("%Y-%m-%d", time.gmtime())
    # The same records as `dlq list --json`, each once.
    assert len(lines) == 3
    assert by_id(lines) == by_id(before)
    assert {line["reason"] for line in lines} == {"rejected", "max_attempts", "unreadable_message"}
    assert by_id(listed(capsys, flags)).keys() == by_id(before).keys()


def test_export_says_where_and_uses_the_default_prefix(
    capsys: pytest.CaptureFixture[str], flags: list[str], aws: dict[str, str]
) -> None:
    put_letters(aws["dlq"])
    code, out, _ = run(capsys, "dlq", "export", "--to", f"s3://{aws['bucket']}", *flags)
    assert code == 0
    [key] = objects(aws["bucket"])
    assert key.startswith("dead-letters/date=")
    assert out.strip() == f"exported 3 dead letter(s) to s3://{aws['bucket']}/{key}; the queue is unchanged."


def test_export_delete_empties_the_queue_after_writing(
    capsys: pytest.CaptureFixture[str], flags: list[str], aws: dict[str, str]
) -> None:
    put_letters(aws["dlq"])
    before = listed(capsys, flags)
    code, out, _ = run(capsys, "dlq", "export", "--to", f"s3://{aws['bucket']}", "--delete", "--json", *flags)
    assert code == 0
    assert json.loads(out)["deleted"] == 3
    [lines] = objects(aws["bucket"]).values()
    assert by_id(lines) == by_id(before)
    assert queue_bodies(aws["dlq"]) == []


def test_a_failed_write_deletes_nothing_even_with_delete(
    capsys: pytest.CaptureFixture[str], flags: list[str], aws: dict[str, str]
) -> None:
    put_letters(aws["dlq"])
    code, out, err = run(capsys, "dlq", "export", "--to", "s3://no-such-bucket/x", "--delete", *flags)
    assert (code, out) == (2, "")
    assert_one_line_error(err, "NoSuchBucket")
    assert len(listed(capsys, flags)) == 3  # released at once, not hidden until the visibility timeout


def test_an_empty_queue_writes_nothing(
    capsys: pytest.CaptureFixture[str], flags: list[str], aws: dict[str, str]
) -> None:
    code, out, _ = run(capsys, "dlq", "export", "--to", f"s3://{aws['bucket']}", *flags)
    assert (code, out.strip()) == (0, "The dead-letter queue is empty: nothing exported.")
    code, out, _ = run(capsys, "dlq", "export", "--to", f"s3://{aws['bucket']}", "--json", "--delete", *flags)
    assert (code, json.loads(out)) == (0, {"exported": 0, "uri": None, "deleted": 0})
    assert objects(aws["bucket"]) == {}


def test_replay_from_an_export_prefix_sends_each_letter_once_with_a_fresh_horizon(
    capsys: pytest.CaptureFixture[str], flags: list[str], aws: dict[str, str]
) -> None:
    put_letters(aws["dlq"])
    prefix = f"s3://{aws['bucket']}/keep"
    assert main(["dlq", "export", "--to", prefix, *flags]) == 0
    # A redriven retry message joins; the second export holds the first three letters again.
    redriven = RetryMessage(partner="branch", call=call("redriven-1"), attempts=4, received_at_ms=5_000)
    DeadLetterQueue(aws["dlq"]).send_body(redriven.model_dump_json())
    assert main(["dlq", "export", "--to", prefix, "--delete", *flags]) == 0
    assert len(objects(aws["bucket"])) == 2
    capsys.readouterr()

    code, out, _ = run(capsys, "dlq", "replay", "--from", prefix, "--dry-run", *flags)
    assert (code, out.strip()) == (
        0,
        f"would replay 3 dead letter(s) from {prefix} through the retry queue; 1 unreadable skipped.",
    )
    assert queue_bodies(aws["retry"]) == []

    started_ms = int(time.time() * 1000)
    code, out, _ = run(capsys, "dlq", "replay", "--from", prefix, *flags)
    assert code == 0
    assert out.startswith("replayed 3 dead letter(s)")
    sent = {body["call"]["insert_id"]: body for body in queue_bodies(aws["retry"])}
    assert sorted(sent) == ["exhausted-1", "redriven-1", "rejected-1"]
    assert {insert_id: body["received_at_ms"] for insert_id, body in sent.items()} == {
        "rejected-1": 1_000,
        "exhausted-1": 3_000,
        "redriven-1": 5_000,
    }
    for body in sent.values():
        assert body["attempts"] == 0
        assert started_ms <= body["horizon_from_ms"] <= int(time.time() * 1000)
    assert queue_bodies(aws["dlq"]) == []  # replaying an export leaves the queue alone


def test_replay_from_one_exported_object(
    capsys: pytest.CaptureFixture[str], flags: list[str], aws: dict[str, str]
) -> None:
    put_letters(aws["dlq"])
    code, out, _ = run(capsys, "dlq", "export", "--to", f"s3://{aws['bucket']}", "--delete", "--json", *flags)
    uri = json.loads(out)["uri"]
    code, out, _ = run(capsys, "dlq", "replay", "--from", uri, *flags)
    assert (code, out.strip()) == (
        0,
        f"replayed 2 dead letter(s) from {uri} through the retry queue; 1 unreadable skipped.",
    )
    assert sorted(body["call"]["insert_id"] for body in queue_bodies(aws["retry"])) == ["exhausted-1", "rejected-1"]


@pytest.mark.parametrize("uri", ["postback-archive/x", "s3:///x", "https://postback-archive/x", "s3://b/x?versionId=1"])
@pytest.mark.parametrize("command", [["export", "--to"], ["replay", "--from"]])
def test_a_bad_uri_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], flags: list[str], aws: dict[str, str], uri: str, command: list[str]
) -> None:
    put_letters(aws["dlq"])
    code, out, err = run(capsys, "dlq", *command, uri, *flags)
    assert (code, out) == (2, "")
    assert err == f"error: {uri!r} is not s3://BUCKET[/PREFIX]\n"
    assert len(listed(capsys, flags)) == 3


@pytest.mark.parametrize(
    ("uri", "message"),
    [("s3://no-such-bucket/keep", "NoSuchBucket"), ("s3://postback-archive/nothing-here", "no exported dead letters")],
)
def test_replay_from_nothing_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], flags: list[str], uri: str, message: str
) -> None:
    code, out, err = run(capsys, "dlq", "replay", "--from", uri, *flags)
    assert (code, out) == (2, "")
    assert_one_line_error(err, message)


def test_export_needs_a_bucket_without_serve(
    capsys: pytest.CaptureFixture[str], flags: list[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "dlq", "export", *flags, "--state-file", str(tmp_path / "none.json"))
    assert code == 2
    assert "--to s3://BUCKET[/PREFIX] is required" in err


def test_against_serve_export_defaults_to_its_archive_bucket(tmp_path: Path, sink: AmplitudeSink) -> None:
    [postback] = realistic_postbacks(1)
    with local_stack(tmp_path, sink, AMPLITUDE_API_KEY="revoked-key") as stack:
        assert post(stack, postback).json()["status"] == "dead_lettered"
        summary = json.loads(cli(tmp_path, "dlq", "export", "--delete", "--json").stdout)
        bucket = stack.physical_ids["ArchiveBucket"]
        assert summary["exported"] == summary["deleted"] == 2  # attribution and identify
        assert summary["uri"].startswith(f"s3://{bucket}/dead-letters/date=")
        assert json.loads(cli(tmp_path, "dlq", "list", "--json").stdout) == []
        replay = cli(tmp_path, "dlq", "replay", "--from", summary["uri"], "--dry-run")
        assert replay.stdout.startswith("would replay 2 dead letter(s)")
