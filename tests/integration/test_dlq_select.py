"""`dlq list`, `dlq replay` and `dlq purge` on some dead letters only: by partner, reason or id, in the
queue and in exports; `purge` asks for the count, exports what it deletes first, and deletes nothing else.

Over moto's SQS and S3, through the CLI as an operator runs it.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from postback_relay.messages import DeadLetter, DeadLetterReason
from postback_relay.queues import DeadLetterQueue
from postback_relay_tools import cli as cli_module
from postback_relay_tools.cli import main
from postback_relay_tools.dlq_export import S3Location
from tests.conftest import queue_bodies
from tests.integration.support import (
    assert_one_line_error,
    call,
    listed,
    objects,
    put_letters,
    run,
)

Capsys = pytest.CaptureFixture[str]


@pytest.fixture
def flags(relay_env: dict[str, str], aws: dict[str, str]) -> list[str]:
    return ["--dlq-url", aws["dlq"], "--retry-queue-url", aws["retry"]]


def insert_ids(records: list[dict[str, Any]]) -> list[str]:
    """The calls' insert_ids, sorted (an unreadable letter has no call)."""
    return sorted(str(record["call"]["insert_id"]) for record in records if record["call"])


def by_insert_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {record["call"]["insert_id"]: record for record in records if record["call"]}


def put_branch_letter(dlq_url: str) -> None:
    DeadLetterQueue(dlq_url).put(
        DeadLetter(
            reason=DeadLetterReason.REJECTED,
            status=400,
            error="HTTP 400",
            attempts=1,
            partner="branch",
            call=call("rejected-2"),
            received_at_ms=5_000,
            dead_lettered_at_ms=6_000,
        )
    )


# ------------------------------------------------------------------------------ list


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["--partner", "adjust"], ["exhausted-1"]),
        (["--partner", "adjust", "--partner", "appsflyer"], ["exhausted-1", "rejected-1"]),
        (["--reason", "rejected"], ["rejected-1", "rejected-2"]),
        (["--reason", "rejected", "--partner", "branch"], ["rejected-2"]),
        (["--id", "exhausted-1"], ["exhausted-1"]),  # a call's insert_id
        (["--partner", "nobody"], []),
    ],
)
def test_list_shows_only_the_letters_that_match(
    capsys: Capsys, flags: list[str], aws: dict[str, str], filters: list[str], expected: list[str]
) -> None:
    put_letters(aws["dlq"])
    put_branch_letter(aws["dlq"])
    code, out, _ = run(capsys, "dlq", "list", "--json", *filters, *flags)
    assert code == 0
    assert insert_ids(json.loads(out)) == expected
    assert len(listed(capsys, flags)) == 4  # listing consumes nothing


def test_list_by_the_message_id_it_prints_first_and_says_how_many_matched(
    capsys: Capsys, flags: list[str], aws: dict[str, str]
) -> None:
    put_letters(aws["dlq"])
    message_ids = {record["message_id"]: record for record in listed(capsys, flags)}
    unreadable = next(m for m, record in message_ids.items() if record["reason"] == "unreadable_message")
    code, out, _ = run(capsys, "dlq", "list", "--id", unreadable, *flags)
    assert code == 0
    [line, summary] = out.splitlines()
    assert line.startswith(f"{unreadable}  unreadable_message")
    assert summary == f"1 of 3 dead letter(s) matching id {unreadable}."
    # The text listing shows the insert_id too: either id can be given back to --id.
    code, out, _ = run(capsys, "dlq", "list", "--reason", "max_attempts", *flags)
    assert "insert_id=exhausted-1" in out.splitlines()[0]


def test_list_from_an_export_filters_the_same_way(capsys: Capsys, flags: list[str], aws: dict[str, str]) -> None:
    put_letters(aws["dlq"])
    put_branch_letter(aws["dlq"])
    before = by_insert_id(listed(capsys, flags))
    code, out, _ = run(capsys, "dlq", "export", "--to", f"s3://{aws['bucket']}", "--delete", "--json", *flags)
    uri = json.loads(out)["uri"]
    code, out, _ = run(capsys, "dlq", "list", "--from", uri, "--reason", "rejected", "--json", *flags)
    assert code == 0
    exported = by_insert_id(json.loads(out))
    assert exported == {key: before[key] for key in ("rejected-1", "rejected-2")}  # message ids kept
    # Exports keep the message id, so the first column of an earlier `dlq list` still finds its letter.
    message_id = before["rejected-2"]["message_id"]
    code, out, _ = run(capsys, "dlq", "list", "--from", uri, "--id", message_id, *flags)
    assert out.splitlines()[-1] == f"1 of 4 dead letter(s) in {uri} matching id {message_id}."


def test_an_unknown_reason_is_refused_with_the_valid_ones(capsys: Capsys, flags: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["dlq", "list", "--reason", "bounced", *flags])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'bounced'" in err
    assert "max_attempts" in err


# ------------------------------------------------------------------------------ replay


def test_replay_by_partner_sends_only_that_partners_letters_and_leaves_the_rest(
    capsys: Capsys, flags: list[str], aws: dict[str, str]
) -> None:
    put_letters(aws["dlq"])
    put_branch_letter(aws["dlq"])
    code, out, _ = run(capsys, "dlq", "replay", "--partner", "adjust", "--partner", "branch", *flags)
    assert code == 0
    assert out.strip() == (
        "replayed 2 dead letter(s) matching partner adjust or branch through the retry queue; "
        "0 unreadable left in place; 2 not matching left in place."
    )
    assert sorted(body["call"]["insert_id"] for body in queue_bodies(aws["retry"])) == ["exhausted-1", "rejected-2"]
    left = listed(capsys, flags)
    assert insert_ids(left) == ["rejected-1"]
    assert {record["reason"] for record in left} == {"rejected", "unreadable_message"}


def test_replay_dry_run_by_id_changes_nothing(capsys: Capsys, flags: list[str], aws: dict[str, str]) -> None:
    put_letters(aws["dlq"])
    code, out, _ = run(capsys, "dlq", "replay", "--id", "rejected-1", "--dry-run", *flags)
    assert code == 0
    assert out.startswith("would replay 1 dead letter(s) matching id rejected-1 ")
    assert queue_bodies(aws["retry"]) == []
    assert len(listed(capsys, flags)) == 3


def test_replay_from_an_export_by_reason(capsys: Capsys, flags: list[str], aws: dict[str, str]) -> None:
    put_letters(aws["dlq"])
    code, out, _ = run(capsys, "dlq", "export", "--to", f"s3://{aws['bucket']}", "--delete", "--json", *flags)
    uri = json.loads(out)["uri"]
    code, out, _ = run(capsys, "dlq", "replay", "--from", uri, "--reason", "max_attempts", *flags)
    assert code == 0
    assert out.strip() == (
        f"replayed 1 dead letter(s) matching reason max_attempts from {uri} through the retry queue; "
        "0 unreadable skipped; 2 not matching skipped."
    )
    [sent] = queue_bodies(aws["retry"])
    assert (sent["partner"], sent["call"]["insert_id"]) == ("adjust", "exhausted-1")


# ------------------------------------------------------------------------------ purge


def test_purge_exports_then_deletes_only_the_matched_letters(
    capsys: Capsys, flags: list[str], aws: dict[str, str]
) -> None:
    put_letters(aws["dlq"])
    put_branch_letter(aws["dlq"])
    before = by_insert_id(listed(capsys, flags))
    target = f"s3://{aws['bucket']}/purged"
    code, out, _ = run(capsys, "dlq", "purge", "--reason", "rejected", "--to", target, "--yes", *flags)
    assert code == 0
    [(key, lines)] = objects(aws["bucket"]).items()
    assert (
        out.strip()
        == f"deleted 2 dead letter(s) matching reason rejected; exported first to s3://{aws['bucket']}/{key}."
    )
    assert key.startswith("purged/date=")
    # The export holds exactly what was deleted, as `dlq list --json` showed it: replayable later.
    assert by_insert_id(lines) == {key: before[key] for key in ("rejected-1", "rejected-2")}
    left = listed(capsys, flags)
    assert insert_ids(left) == ["exhausted-1"]
    assert len(left) == 2  # and the unreadable one
    assert queue_bodies(aws["retry"]) == []


def test_purge_asks_for_the_count_and_a_wrong_answer_deletes_nothing(
    capsys: Capsys, flags: list[str], aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    put_letters(aws["dlq"])
    target = f"s3://{aws['bucket']}/purged"
    for answer in ("yes\n", "\n", "", "3\n"):  # not the count (2), an Enter, end of input, a wrong count
        monkeypatch.setattr("sys.stdin", io.StringIO(answer))
        code, out, err = run(
            capsys, "dlq", "purge", "--partner", "adjust", "--partner", "appsflyer", "--to", target, *flags
        )
        assert (code, out) == (1, "")
        assert "Delete 2 dead letter(s) matching partner adjust or appsflyer from the queue" in err
        assert f"after exporting them to {target}" in err
        assert "Type 2 to confirm" in err
        assert err.endswith("aborted: nothing deleted.\n")
    assert len(listed(capsys, flags)) == 3
    assert objects(aws["bucket"]) == {}

    monkeypatch.setattr("sys.stdin", io.StringIO("2\n"))
    code, out, _ = run(capsys, "dlq", "purge", "--partner", "adjust", "--partner", "appsflyer", "--to", target, *flags)
    assert code == 0
    assert out.startswith("deleted 2 dead letter(s) matching partner adjust or appsflyer; exported first to ")
    assert [record["reason"] for record in listed(capsys, flags)] == ["unreadable_message"]


def test_purge_deletes_only_what_was_confirmed_not_what_arrived_meanwhile(
    capsys: Capsys, flags: list[str], aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    put_letters(aws["dlq"])

    def confirm_while_a_new_letter_arrives(count: int, matching: str, target: S3Location | None) -> bool:
        put_branch_letter(aws["dlq"])  # rejected too, so it matches: but nobody confirmed it
        return count == 1

    monkeypatch.setattr(cli_module, "_confirm_purge", confirm_while_a_new_letter_arrives)
    code, out, _ = run(capsys, "dlq", "purge", "--reason", "rejected", "--no-export", *flags)
    assert code == 0
    assert out.strip() == "deleted 1 dead letter(s) matching reason rejected; no copy kept (--no-export)."
    assert insert_ids(listed(capsys, flags)) == ["exhausted-1", "rejected-2"]
    assert objects(aws["bucket"]) == {}


def test_purge_needs_somewhere_to_export_or_an_explicit_no_export(
    capsys: Capsys, flags: list[str], aws: dict[str, str], tmp_path: Any
) -> None:
    put_letters(aws["dlq"])
    code, out, err = run(capsys, "dlq", "purge", "--yes", *flags, "--state-file", str(tmp_path / "none.json"))
    assert (code, out) == (2, "")
    assert_one_line_error(err, "pass --to s3://<ArchiveBucketName>/dead-letters, or --no-export")
    code, out, err = run(capsys, "dlq", "purge", "--yes", "--no-export", "--to", f"s3://{aws['bucket']}", *flags)
    assert code == 2
    assert_one_line_error(err, "--to and --no-export contradict")
    assert len(listed(capsys, flags)) == 3


def test_a_failed_export_deletes_nothing(capsys: Capsys, flags: list[str], aws: dict[str, str]) -> None:
    put_letters(aws["dlq"])
    code, out, err = run(capsys, "dlq", "purge", "--yes", "--to", "s3://no-such-bucket/x", *flags)
    assert (code, out) == (2, "")
    assert_one_line_error(err, "NoSuchBucket")
    assert len(listed(capsys, flags)) == 3  # released at once, not hidden until the visibility timeout


def test_purge_with_no_match_says_so_and_touches_nothing(capsys: Capsys, flags: list[str], aws: dict[str, str]) -> None:
    put_letters(aws["dlq"])
    code, out, _ = run(capsys, "dlq", "purge", "--partner", "kochava", "--no-export", *flags)
    assert (code, out.strip()) == (0, "no dead letter matching partner kochava: nothing deleted.")
    assert len(listed(capsys, flags)) == 3


def test_purge_json_summary(capsys: Capsys, flags: list[str], aws: dict[str, str]) -> None:
    put_letters(aws["dlq"])
    code, out, _ = run(capsys, "dlq", "purge", "--yes", "--json", "--to", f"s3://{aws['bucket']}", *flags)
    assert code == 0
    summary = json.loads(out)
    [key] = objects(aws["bucket"])
    assert summary == {"deleted": 3, "exported": 3, "uri": f"s3://{aws['bucket']}/{key}"}
    assert queue_bodies(aws["dlq"]) == []


def test_a_custom_network_is_named_as_its_postback_url_names_it() -> None:
    from postback_relay_tools.dlq_select import LetterFilter

    letter = DeadLetter(reason=DeadLetterReason.REJECTED, attempts=1, partner="unity-ads", dead_lettered_at_ms=1)
    assert LetterFilter.of(["custom/unity-ads"]).matches("m-1", letter)
    assert LetterFilter.of(["unity-ads"]).matches("m-1", letter)
    assert not LetterFilter.of(["custom/liftoff"]).matches("m-1", letter)
