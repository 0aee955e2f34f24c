"""`postback-relay forget`: one person's postbacks leave the archive (every version), the dead-letter
exports, both queues, the idempotency table and the tracker's tables; everyone else's stay; `replay`
and `dlq replay` skip the person afterwards, and the retry consumer drops their retries that were
out of forget's reach (the erasure fence); a dry run changes nothing; no raw id is ever printed."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
import time_machine

from postback_relay.archive import Archive, ArchivedPostback
from postback_relay.fence import PREFIX as FENCE_PREFIX
from postback_relay.messages import DeadLetter, DeadLetterReason, RetryMessage
from postback_relay.models.amplitude import AmplitudeCall
from postback_relay.privacy import person_hash, postback_hash
from postback_relay.queues import DeadLetterQueue, Queue, RetryQueue
from postback_relay.retry import handle_retry_batch
from postback_relay.tracker.apps import register_app
from postback_relay.tracker.service import Tracker, TrackerSettings
from postback_relay.tracker.store import TrackerStore
from postback_relay_tools import forget
from postback_relay_tools.dlq_export import S3Location, letter_record, write_export
from postback_relay_tools.forget import idempotency_record_hash
from postback_relay_tools.local.amplitude_sink import AmplitudeSink
from postback_relay_tools.local.events import SqsMessage, lambda_context, sqs_event
from postback_relay_tools.local.template import load_template
from tests.conftest import ROOT, TOKEN, fixture_json, stack_with_stand_in
from tests.integration.support import invoke, run, sample

KEY = "forget-test-key"
INSTALL = "appsflyer-install-ios-post.json"


@dataclass(frozen=True)
class Someone:
    user: str
    idfa: str
    idfv: str

    @property
    def raw_ids(self) -> tuple[str, ...]:
        return (self.user, self.idfa, self.idfv, self.idfa.lower(), self.idfv.lower())


ANN = Someone("user-ann-0001", "AAAAAAAA-1111-4111-8111-000000000001", "AAAAAAAA-2222-4222-8222-000000000001")
BOB = Someone("user-bob-0002", "BBBBBBBB-1111-4111-8111-000000000002", "BBBBBBBB-2222-4222-8222-000000000002")


def postback_of(person: Someone, minute: int) -> dict[str, Any]:
    """The AppsFlyer iOS install sample as `person`'s, at its own time (a distinct postback)."""
    event = sample(INSTALL)
    body = json.loads(event["body"])
    body.update(
        customer_user_id=person.user,
        idfa=person.idfa,
        idfv=person.idfv,
        event_time=f"2026-03-14 09:{minute:02d}:00.000",
    )
    event["body"] = json.dumps(body)
    return event


def attribution_call(person: Someone, postback_id: str) -> AmplitudeCall:
    return AmplitudeCall(
        endpoint="attribution",
        insert_id=f"appsflyer-attribution-{postback_id}",
        payload={"event_type": "[AppsFlyer] Install", "platform": "ios", "idfa": person.idfa, "idfv": person.idfv},
    )


def identify_call(person: Someone, postback_id: str) -> AmplitudeCall:
    return AmplitudeCall(
        endpoint="identify",
        insert_id=f"appsflyer-identify-{postback_id}",
        payload={"user_id": person.user, "user_properties": {"$set": {"[AppsFlyer] campaign": "x"}}},
    )


def letter(call: AmplitudeCall, received_at_ms: int) -> DeadLetter:
    return DeadLetter(
        reason=DeadLetterReason.REJECTED,
        status=400,
        error="HTTP 400",
        attempts=1,
        partner="appsflyer",
        call=call,
        received_at_ms=received_at_ms,
        dead_lettered_at_ms=received_at_ms + 1,
    )


# -- what each store holds -------------------------------------------------------------------------
def versions(bucket: str, prefix: str = "") -> dict[tuple[str, str], str | None]:
    """(key, version id) -> the version's text (None for a delete marker), every version in the bucket."""
    s3 = boto3.client("s3")
    found: dict[tuple[str, str], str | None] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
            found[version["Key"], version["VersionId"]] = (
                gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
            ).decode()
        for marker in page.get("DeleteMarkers", []):
            found[marker["Key"], marker["VersionId"]] = None
    return found


def queue_bodies(url: str) -> list[str]:
    """Every message body on a queue, left in place."""
    queue = Queue(url, "queue")
    messages = list(queue.drain())
    queue.release([message.receipt_handle for message in messages])
    return sorted(message.body for message in messages)


def table_ids(table: str) -> set[str]:
    """The idempotency records (the erasure fence's marks, which hold keyed hashes only, apart)."""
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    return {item["id"]["S"] for item in items if not item["id"]["S"].startswith(FENCE_PREFIX)}


def fence_marks(table: str) -> dict[str, int]:
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    return {
        item["id"]["S"].removeprefix(FENCE_PREFIX): int(item["erased_at_ms"]["N"])
        for item in items
        if item["id"]["S"].startswith(FENCE_PREFIX)
    }


TRACKER_TABLES = {
    "AppsTable": "RELAY_APPS_TABLE",
    "ClicksTable": "RELAY_CLICKS_TABLE",
    "InstallsTable": "RELAY_INSTALLS_TABLE",
}


def tracker_rows(env: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Every row of the tracker's clicks and installs tables."""
    dynamodb = boto3.client("dynamodb")
    return {
        name: dynamodb.scan(TableName=env[variable])["Items"]
        for name, variable in (("clicks", "RELAY_CLICKS_TABLE"), ("installs", "RELAY_INSTALLS_TABLE"))
    }


def consume_retries(url: str, visibility_s: int = 0) -> tuple[list[SqsMessage], dict[str, Any]]:
    """Everything the retry consumer can receive now, through the retry handler, deleted when settled
    (as the SQS event source does). With `visibility_s`, only received: held in flight, and returned
    with an empty result, to be handled later by `handle`."""
    sqs = boto3.client("sqs")
    batch: list[SqsMessage] = []
    while received := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=visibility_s or 30
    ).get("Messages", []):
        batch += [SqsMessage(m["MessageId"], m["ReceiptHandle"], m["Body"]) for m in received]
    return batch, ({} if visibility_s else handle(url, batch))


def handle(url: str, batch: list[SqsMessage]) -> dict[str, Any]:
    result = handle_retry_batch(sqs_event(batch, "arn:aws:sqs:us-east-1:1:retry"), lambda_context("RetryFunction", 60))
    failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
    for message in batch:
        if message.message_id not in failed:
            boto3.client("sqs").delete_message(QueueUrl=url, ReceiptHandle=message.receipt_handle)
    return result


def about(text: str | None, person: Someone) -> bool:
    return text is not None and any(value in text for value in person.raw_ids)


@dataclass
class World:
    env: dict[str, str]
    postback_ids: dict[str, list[str]]  # person's user id -> the ids of their postbacks, as answered

    @property
    def bucket(self) -> str:
        return self.env["RELAY_ARCHIVE_BUCKET"]

    def snapshot(self) -> tuple[Any, ...]:
        return (
            versions(self.bucket),
            queue_bodies(self.env["RELAY_DLQ_URL"]),
            queue_bodies(self.env["RELAY_RETRY_QUEUE_URL"]),
            table_ids(self.env["RELAY_IDEMPOTENCY_TABLE"]),
            fence_marks(self.env["RELAY_IDEMPOTENCY_TABLE"]),
            tracker_rows(self.env),
        )


def tracker_of_ann_and_bob(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The template's tracker tables in moto, and in them an app with a click (under its device and
    its fingerprint) and an install each for Ann's and Bob's IDFA, as the tracker stores them."""
    tables = load_template(ROOT / "template.yaml").tables
    dynamodb = boto3.client("dynamodb")
    for logical_id, variable in TRACKER_TABLES.items():
        properties = tables[logical_id]
        dynamodb.create_table(
            TableName=logical_id,
            KeySchema=properties["KeySchema"],
            AttributeDefinitions=properties["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",
        )
        monkeypatch.setenv(variable, logical_id)
        env[variable] = logical_id
    store = TrackerStore("AppsTable", "ClicksTable", "InstallsTable")
    tracker = Tracker(store, delivery=None, settings=TrackerSettings("https://example.com/", KEY, True))  # type: ignore[arg-type]
    app, _ = register_app(store, "Ann and Bob's app", ios_store_url="https://apps.apple.com/app/id1")
    register_app(store, "another app")  # every app is looked in
    user_agent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"
    for index, person in enumerate((ANN, BOB)):
        query = {"app_id": app.app_id, "c": "spring", "pid": "meta", "advertising_id": person.idfa}
        tracker.click(query, f"203.0.113.{index + 1}", user_agent)
        attribution = tracker.install(app, _install_request(app.app_id, person), f"203.0.113.{index + 1}", user_agent)
        assert attribution.match_type == "device_id"
    return env


def _install_request(app_id: str, person: Someone) -> Any:
    from postback_relay.tracker.models import InstallRequest

    # No user id, and the store's own only: the tracker sends nothing for an install it cannot match.
    return InstallRequest(app_id=app_id, device_id=person.idfa, platform="web", sdk_version="1.0.0")


@pytest.fixture
def world(env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch) -> World:
    """Ann's and Bob's postbacks in every store: archived through the AppsFlyer function (two each,
    one of Ann's overwritten and one deleted, so noncurrent versions and a delete marker exist), a
    Branch postback each, dead letters, retries and an export."""
    monkeypatch.setenv("RELAY_HASH_SALT", KEY)
    # moto answers every receive from all of the queue: no long poll needed to be sure here.
    monkeypatch.setattr(forget, "CONFIRM_WAIT_S", 0)
    tracker_of_ann_and_bob(env, monkeypatch)
    bucket = env["RELAY_ARCHIVE_BUCKET"]
    s3 = boto3.client("s3")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    ids: dict[str, list[str]] = {}
    for person, minutes in ((ANN, (1, 2, 3)), (BOB, (4, 5))):
        for minute in minutes:
            status, body = invoke("AppsFlyerFunction", postback_of(person, minute))
            assert status == 200, body
            ids.setdefault(person.user, []).append(body["postback_id"])
    ann_keys = sorted(key for key, _ in versions(bucket) if ids[ANN.user][0] in key or ids[ANN.user][1] in key)
    s3.put_object(Bucket=bucket, Key=ann_keys[0], Body=s3.get_object(Bucket=bucket, Key=ann_keys[0])["Body"].read())
    s3.delete_object(Bucket=bucket, Key=ann_keys[1])  # a delete marker over a version that still holds Ann

    archive = Archive(bucket)
    now_ms = int(time.time() * 1000)
    for index, person in enumerate((ANN, BOB)):
        raw = deepcopy(fixture_json("branch", "install_ios.json"))
        raw["user_data"].update(developer_identity=person.user, idfa=person.idfa, idfv=person.idfv)
        archive.put(ArchivedPostback("branch", now_ms, f"{index:040d}", raw))

    dlq, retry = DeadLetterQueue(env["RELAY_DLQ_URL"]), RetryQueue(env["RELAY_RETRY_QUEUE_URL"])
    records = []
    for person in (ANN, BOB):
        postback_id = ids[person.user][-1]
        for call in (attribution_call(person, postback_id), identify_call(person, postback_id)):
            dead = letter(call, now_ms)
            dlq.put(dead)
            records.append(letter_record(f"exported-{call.insert_id}", dead))
        retry.put(
            RetryMessage(partner="appsflyer", call=attribution_call(person, postback_id), received_at_ms=now_ms), 0
        )
    dlq.send_body(json.dumps({"unreadable": True, "user": ANN.user}))  # a body no model reads, still Ann's
    write_export(S3Location(bucket, "dead-letters"), records, now_ms)
    return World(env, ids)


def assert_no_raw_id(*texts: str) -> None:
    for text in texts:
        for person in (ANN, BOB):
            assert not about(text, person), text


def test_forget_removes_exactly_one_persons_postbacks_from_every_store(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket, table = world.bucket, world.env["RELAY_IDEMPOTENCY_TABLE"]
    before = versions(bucket)
    records_before = table_ids(table)
    ann_records = {f"appsflyer:{postback_id}" for postback_id in world.postback_ids[ANN.user]}
    ann_hashes = {idempotency_record_hash(key) for key in ann_records}
    # The records Powertools wrote end in the hash forget computes (the prefix names the function).
    assert len({record for record in records_before if record.rpartition("#")[2] in ann_hashes}) == 3

    code, out, err = run(capsys, "forget", "--user", ANN.user, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert_no_raw_id(out, err)
    assert report["person_hash"] == person_hash(KEY, "user", ANN.user)
    assert report["archive"]["matched"] == 4  # three AppsFlyer postbacks (one only a noncurrent version), one Branch
    assert report["archive"]["deleted_versions"] == 6  # 2 + 2 (version and marker) + 1 + 1
    assert (report["dlq"]["deleted"], report["retry_queue"]["deleted"]) == (3, 1), (
        report["dlq"],
        report["retry_queue"],
    )
    assert report["dead_letter_exports"]["matched_letters"] == 2
    assert report["idempotency"]["deleted"] == 3
    # Her devices (named by her postbacks) in both apps: her click, its fingerprint copy, her install.
    assert report["tracker"] == {"apps": 2, "devices": 2, "clicks": 1, "click_rows": 2, "installs": 1}
    assert report["complete"] is True

    after = versions(bucket)
    # Nothing of Ann's in any version of anything; every version of everyone else's untouched.
    assert not [key for key, text in after.items() if about(text, ANN)]
    anns = {key for (key, _), text in before.items() if about(text, ANN)}
    unchanged = {(key, version): text for (key, version), text in before.items() if key not in anns}
    assert unchanged.items() <= after.items()
    assert sum(about(text, BOB) for key, text in after.items() if key[0].startswith("raw/")) == 3
    [export] = [text or "" for (key, _), text in after.items() if key.startswith("dead-letters/")]
    assert [json.loads(line)["call"]["payload"].get("user_id", BOB.user) for line in export.splitlines()] == [
        BOB.user,
        BOB.user,
    ]
    assert [about(body, BOB) for body in queue_bodies(world.env["RELAY_DLQ_URL"])] == [True, True]
    assert [about(body, BOB) for body in queue_bodies(world.env["RELAY_RETRY_QUEUE_URL"])] == [True]
    assert table_ids(table) == {record for record in records_before if record.rpartition("#")[2] not in ann_hashes}
    # The tracker keeps Bob's click (both rows) and install, and nothing keyed by Ann's device.
    rows = tracker_rows(world.env)
    ann_device = person_hash(KEY, "device", ANN.idfa)
    assert not [row for row in rows["clicks"] + rows["installs"] if ann_device in json.dumps(row)]
    assert sorted(row["match_key"]["S"].split("#")[1] for row in rows["clicks"]) == ["device", "fingerprint"]
    assert [row["install_key"]["S"].split("#")[1] for row in rows["installs"]] == [person_hash(KEY, "device", BOB.idfa)]
    # The fence: her hash, her postbacks' and her devices', with the erasure's time; no id.
    marks = fence_marks(table)
    expected = {report["person_hash"], ann_device, person_hash(KEY, "device", ANN.idfv)}
    expected |= {postback_hash(KEY, postback_id) for postback_id in [*world.postback_ids[ANN.user], "0" * 40]}
    assert set(marks) == expected
    assert report["fence"] == {"marks": len(expected)}

    # The erasure is recorded under the keyed hash only.
    records = [(key, text) for (key, _), text in after.items() if key.startswith("erasures/")]
    erased_postbacks = {postback_hash(KEY, postback_id) for postback_id in [*world.postback_ids[ANN.user], "0" * 40]}
    assert {key.split("/")[1] for key, _ in records} == {report["person_hash"], "key-check.json", *erased_postbacks}
    assert_no_raw_id(*(text or "" for _, text in records))


def test_a_device_id_is_found_whatever_its_case(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "forget", "--device", BOB.idfv.lower(), "--json")
    assert code == 0, err
    report = json.loads(out)
    # The tracker keyed his click and install by his IDFA, which his postbacks name with the IDFV.
    assert (report["tracker"]["clicks"], report["tracker"]["installs"]) == (1, 1)
    assert len(tracker_rows(world.env)["installs"]) == 1  # Ann's
    assert (report["archive"]["matched"], report["dlq"]["deleted"], report["retry_queue"]["deleted"]) == (
        3,
        2,
        1,
    )  # his identify too: same postback
    assert not [key for key, text in versions(world.bucket, "raw/").items() if about(text, BOB)]
    assert_no_raw_id(out, err)


def test_a_dry_run_changes_nothing_and_says_what_it_would_erase(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    before = world.snapshot()
    code, out, err = run(capsys, "forget", "--user", ANN.user, "--dry-run")
    assert code == 0, err
    assert world.snapshot() == before
    assert out.startswith("dry run, nothing changed: forget user ")
    assert "would delete 6 version(s)" in out
    assert_no_raw_id(out, err)


def test_the_search_is_bounded_by_partner_and_day(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "forget", "--user", ANN.user, "--partner", "branch", "--json")
    assert code == 0
    assert json.loads(out)["archive"] | {} == {
        "partners": 1,
        "objects": 2,
        "versions_read": 2,
        "matched": 1,
        "deleted_versions": 1,
    }
    assert sum(about(text, ANN) for key, text in versions(world.bucket, "raw/partner=appsflyer/").items()) == 4
    # --since D also searches D-1's folder (Firehose files a batch under its oldest record's day):
    # the day after tomorrow reaches no object of today's.
    after_tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    code, out, err = run(capsys, "forget", "--user", BOB.user, "--since", after_tomorrow, "--json")
    assert code == 0
    assert json.loads(out)["archive"]["objects"] == 0
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    code, out, _ = run(capsys, "forget", "--user", BOB.user, "--since", tomorrow, "--dry-run", "--json")
    assert json.loads(out)["archive"]["matched"] > 0  # today's folder, the day before tomorrow
    assert "archive: partner appsflyer done (0 object(s) read, 0 matched)" in err  # progress, on stderr


def test_replay_and_dlq_replay_skip_a_forgotten_person_afterwards(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "forget", "--user", ANN.user)[0] == 0
    bucket = world.bucket
    # What escaped the erasure (received before it): an archived postback, a dead letter, an export.
    escaped_ms = int(time.time() * 1000) - 1_000
    raw = json.loads(postback_of(ANN, 9)["body"])
    Archive(bucket).put(ArchivedPostback("appsflyer", escaped_ms, "e" * 40, raw))
    # ... and a postback of Ann's received after it: new data, not skipped.
    Archive(bucket).put(ArchivedPostback("appsflyer", escaped_ms + 60_000, "f" * 40, raw))
    day = datetime.fromtimestamp(escaped_ms / 1000, UTC).date().isoformat()

    code, out, err = run(capsys, "replay", "--from", f"s3://{bucket}/raw", "--partner", "appsflyer", "--since", day)
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert (summary["archived"], summary["erased"]) == (4, 1)  # Bob's two, Ann's escaped one and her new one
    assert "e" * 40 not in out
    assert "f" * 40 in out
    assert_no_raw_id(out, err)

    dlq = DeadLetterQueue(world.env["RELAY_DLQ_URL"])
    dlq.put(letter(identify_call(ANN, "e" * 40), escaped_ms))  # names her
    dlq.put(letter(attribution_call(ANN, world.postback_ids[ANN.user][0]), escaped_ms))  # an erased postback's
    queue_bodies(world.env["RELAY_RETRY_QUEUE_URL"])
    code, out, err = run(capsys, "dlq", "replay")
    assert code == 0, err
    assert out.strip() == (
        "replayed 2 dead letter(s) through the retry queue; 0 unreadable left in place; "
        "2 about forgotten persons deleted."
    )
    assert queue_bodies(world.env["RELAY_DLQ_URL"]) == []
    retried = queue_bodies(world.env["RELAY_RETRY_QUEUE_URL"])
    assert len(retried) == 3  # Bob's retry, and his two replayed letters
    assert not [body for body in retried if about(body, ANN)]

    records = [letter_record("m-ann", letter(identify_call(ANN, "e" * 40), escaped_ms))]
    records.append(letter_record("m-bob", letter(attribution_call(BOB, "b" * 40), escaped_ms)))
    write_export(S3Location(bucket, "later"), records, escaped_ms)
    code, out, err = run(capsys, "dlq", "replay", "--from", f"s3://{bucket}/later", "--dry-run")
    assert code == 0, err
    assert out.strip() == (
        f"would replay 1 dead letter(s) from s3://{bucket}/later through the retry queue; "
        "0 unreadable skipped; 1 about forgotten persons skipped."
    )
    assert_no_raw_id(out, err)


def sent_to_amplitude(sink: AmplitudeSink) -> str:
    """Everything Amplitude was sent, accepted or refused, as one text to look for ids in."""
    return json.dumps([item.payload for item in [*sink.received(), *sink.rejected()]])


def test_a_delayed_retry_is_out_of_reach_and_dropped_unsent_when_due(
    world: World, sink: AmplitudeSink, capsys: pytest.CaptureFixture[str]
) -> None:
    """SQS hides a delayed message from every receive: forget cannot inspect it and says so; when it
    comes due, the retry consumer drops it unsent. This one names Ann only by her devices and by a
    postback forget never saw: it is fenced by the devices her other postbacks name."""
    url = world.env["RELAY_RETRY_QUEUE_URL"]
    received_ms = int(time.time() * 1000)
    RetryQueue(url).put(
        RetryMessage(partner="appsflyer", call=attribution_call(ANN, "d" * 40), received_at_ms=received_ms), 60
    )
    code, out, err = run(capsys, "forget", "--user", ANN.user)
    assert code == 0, err  # nothing left to do by hand
    assert (
        "retry queue: 2 message(s) inspected, 1 about this person: deleted 1; about 1 delayed or in flight, not "
        "inspected: the retry function drops those about this person unsent when they come due"
    ) in out
    assert_no_raw_id(out, err)

    sink.clear()
    with time_machine.travel(time.time() + 61, tick=False):  # the delay is over
        batch, result = consume_retries(url)
    assert (len(batch), result) == (2, {"batchItemFailures": []})  # Bob's retry and Ann's delayed one
    sent = sent_to_amplitude(sink)
    assert BOB.idfa in sent
    assert not about(sent, ANN)
    assert queue_bodies(url) == []  # deleted, not left to be redriven
    assert not [body for body in queue_bodies(world.env["RELAY_DLQ_URL"]) if about(body, ANN)]
    emitted = capsys.readouterr().out
    assert '"erased_in_flight"' in emitted
    assert not about(emitted, ANN)


def test_a_retry_in_flight_during_forget_is_never_sent(
    world: World, sink: AmplitudeSink, capsys: pytest.CaptureFixture[str]
) -> None:
    """The retry consumer holds Ann's retries (received, so invisible to every other receive) while
    forget runs; it goes on with them afterwards, and the fence keeps them from Amplitude. One names
    her; one, an attribution call, names only her devices and one of her archived postbacks."""
    url, table = world.env["RELAY_RETRY_QUEUE_URL"], world.env["RELAY_IDEMPOTENCY_TABLE"]
    received_ms = int(time.time() * 1000)
    RetryQueue(url).put(
        RetryMessage(partner="appsflyer", call=identify_call(ANN, "c" * 40), received_at_ms=received_ms), 0
    )
    held, _ = consume_retries(url, visibility_s=300)
    assert len(held) == 3  # Ann's two, Bob's one

    code, out, err = run(capsys, "forget", "--user", ANN.user, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["retry_queue"] == {"inspected": 0, "matched": 0, "deleted": 0, "not_inspected": 3}
    assert report["complete"] is True
    marks = fence_marks(table)
    assert marks[person_hash(KEY, "user", ANN.user)] >= received_ms
    assert postback_hash(KEY, world.postback_ids[ANN.user][-1]) in marks
    assert_no_raw_id(out, err, json.dumps(marks))

    sink.clear()
    assert handle(url, held) == {"batchItemFailures": []}  # the consumer carries on with what it held
    sent = sent_to_amplitude(sink)
    assert BOB.idfa in sent
    assert not about(sent, ANN)
    assert queue_bodies(url) == []
    # No dead letter for what was dropped: the DLQ holds Bob's two letters, as forget left it.
    assert [about(body, BOB) for body in queue_bodies(world.env["RELAY_DLQ_URL"])] == [True, True]
    emitted = capsys.readouterr().out
    assert emitted.count('"erased_in_flight"') >= 1
    assert not about(emitted, ANN)

    # A postback of Ann's received after the erasure is new data: its retry is sent.
    after_ms = max(marks.values()) + 1
    RetryQueue(url).put(
        RetryMessage(partner="appsflyer", call=identify_call(ANN, "f" * 40), received_at_ms=after_ms), 0
    )
    _, result = consume_retries(url)
    assert result == {"batchItemFailures": []}
    assert ANN.user in sent_to_amplitude(sink)


def test_dlq_export_leaves_a_forgotten_persons_letters_out(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "forget", "--user", ANN.user)[0] == 0
    dlq = DeadLetterQueue(world.env["RELAY_DLQ_URL"])
    dlq.put(letter(identify_call(ANN, "e" * 40), int(time.time() * 1000) - 1_000))
    code, out, err = run(capsys, "dlq", "export", "--to", f"s3://{world.bucket}/kept", "--delete", "--json")
    assert code == 0, err
    assert json.loads(out) | {"uri": None} == {"exported": 2, "uri": None, "deleted": 3, "erased": 1}
    [export] = [text or "" for (key, _), text in versions(world.bucket, "kept/").items()]
    assert [about(line, BOB) for line in export.splitlines()] == [True, True]
    assert not about(export, ANN)
    assert queue_bodies(world.env["RELAY_DLQ_URL"]) == []


def test_records_under_another_key_stop_replay_and_forget(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(capsys, "forget", "--user", ANN.user)[0] == 0
    monkeypatch.setenv("RELAY_HASH_SALT", "another-key")
    day = datetime.now(UTC).date().isoformat()
    code, out, err = run(
        capsys, "replay", "--from", f"s3://{world.bucket}/raw", "--partner", "appsflyer", "--since", day
    )
    assert (code, out) == (2, "")
    assert err.startswith("error: the erasure records in ")
    assert err.count("\n") == 1
    before = world.snapshot()
    code, out, err = run(capsys, "forget", "--user", BOB.user)
    assert (code, out, world.snapshot() == before) == (2, "", True)
    assert "another RELAY_HASH_SALT" in err


def test_dlq_replay_needs_to_know_where_erasures_are(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RELAY_ARCHIVE_BUCKET")
    code, out, err = run(capsys, "dlq", "replay", "--dlq-url", env["RELAY_DLQ_URL"])
    assert (code, out) == (2, "")
    assert "--bucket" in err


def test_forget_reaches_every_store_or_none(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RELAY_IDEMPOTENCY_TABLE")
    monkeypatch.setenv("RELAY_HASH_SALT", KEY)
    code, out, err = run(capsys, "forget", "--user", ANN.user)
    assert (code, out) == (2, "")
    assert "also pass --table (IdempotencyTableName; or RELAY_IDEMPOTENCY_TABLE)" in err
    assert "--clicks-table (ClicksTableName; or RELAY_CLICKS_TABLE)" in err  # the tracker's tables too
    monkeypatch.setenv("RELAY_IDEMPOTENCY_TABLE", env["RELAY_IDEMPOTENCY_TABLE"])
    for variable in TRACKER_TABLES.values():
        monkeypatch.setenv(variable, variable.lower())
    monkeypatch.delenv("RELAY_HASH_SALT")
    code, out, err = run(capsys, "forget", "--user", ANN.user)
    assert (code, out) == (2, "")
    assert "set RELAY_HASH_SALT" in err
    assert_no_raw_id(err)


def test_the_id_can_come_from_standard_input(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(ANN.user + "\n"))
    code, out, _ = run(capsys, "forget", "--user", "-", "--json")
    assert (code, json.loads(out)["person_hash"]) == (0, person_hash(KEY, "user", ANN.user))


# -- against serve ----------------------------------------------------------------------------------
def forget_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`forget` in another shell: none of the stack's variables, only its state file."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("RELAY_", "AWS_"))}
    return subprocess.run(  # noqa: S603 - our own CLI
        [
            sys.executable,
            "-m",
            "postback_relay_tools.cli",
            "forget",
            *args,
            "--state-file",
            str(tmp_path / "serve.json"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Any, AmplitudeSink]]:
    with stack_with_stand_in(tmp_path / "serve.json") as pair:
        yield pair


def test_forget_finds_serves_stores_through_its_state_file(served: tuple[Any, AmplitudeSink], tmp_path: Path) -> None:
    stack, _ = served
    for person, minute in ((ANN, 1), (BOB, 2)):
        body = json.loads(postback_of(person, minute)["body"])
        answer = requests.post(f"{stack.url}/v1/postbacks/appsflyer", params={"token": TOKEN}, json=body, timeout=10)
        assert answer.status_code == 200, answer.text
    dlq = DeadLetterQueue(stack.queue_urls["DeadLetterQueue"])
    for person, postback_id in ((ANN, "1" * 40), (BOB, "2" * 40)):
        dlq.put(letter(attribution_call(person, postback_id), int(time.time() * 1000)))
    bucket, table = stack.physical_ids["ArchiveBucket"], stack.physical_ids["IdempotencyTable"]
    assert len(table_ids(table)) == 2

    result = forget_cli(tmp_path, "--device", ANN.idfa, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert_no_raw_id(result.stdout, result.stderr)
    assert (report["archive"]["matched"], report["dlq"]["deleted"], report["idempotency"]["deleted"]) == (1, 1, 1)
    archived = versions(bucket, "raw/")
    assert [about(text, BOB) for text in archived.values()] == [True]
    [bob] = [json.loads(text or "") for text in archived.values()]
    assert bob["raw"]["ip"].startswith("hmac-sha256:")  # serve's archive keeps no raw IP either
    assert [about(body, BOB) for body in queue_bodies(stack.queue_urls["DeadLetterQueue"])] == [True]
    assert len(table_ids(table)) == 1


def test_a_firehose_batch_loses_only_the_persons_lines(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """An object Firehose wrote holds many people's postbacks (gzip JSON lines): forgetting Ann
    rewrites it with Bob's lines alone and deletes its old version; Bob loses nothing."""
    body = json.loads(sample(INSTALL)["body"])
    batch = [
        ArchivedPostback(
            "appsflyer", 1_773_480_000_000, f"batched-{person.user}", body | {"customer_user_id": person.user}
        )
        for person in (ANN, BOB)
    ]
    key = "raw/partner=appsflyer/date=2026-03-14/local-AppsFlyerArchiveStream-1-2026-03-14-09-30-00-x.json.gz"
    s3 = boto3.client("s3")
    s3.put_object(Bucket=world.bucket, Key=key, Body=gzip.compress(b"".join(item.line() for item in batch)))

    code, _, err = run(capsys, "forget", "--user", ANN.user, "--json")

    assert code == 0, err
    [version] = s3.list_object_versions(Bucket=world.bucket, Prefix=key)["Versions"]
    assert version["IsLatest"]
    kept = ArchivedPostback.from_object(s3.get_object(Bucket=world.bucket, Key=key)["Body"].read())
    assert [item.postback_id for item in kept] == [f"batched-{BOB.user}"]
