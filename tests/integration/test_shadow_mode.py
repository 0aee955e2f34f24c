"""RELAY_MODE=shadow: the partner functions accept, archive (marked shadowed) and map as in live mode,
and send nothing to Amplitude and queue nothing; the retry consumer goes on delivering what live mode
queued; a switch live → shadow → live loses nothing that was accepted live, and `replay --send`
backfills the shadowed days. The Lambda handlers on moto (SQS, DynamoDB, S3) and the stand-in Amplitude."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config

from postback_relay import archive, core
from postback_relay.runtime import reset_runtime
from postback_relay_tools.cli import main
from postback_relay_tools.local.amplitude_sink import AmplitudeSink, FaultPlan
from tests.conftest import queue_bodies
from tests.integration.support import consume, invoke, sample

INSTALL = "appsflyer-install-ios-post.json"


def install(index: int, campaign: str = "PB_iOS_US_Search_Brand") -> dict[str, Any]:
    """The AppsFlyer install sample for person `index`: its own IDFV, IDFA and user id (two calls:
    /attribution and /identify)."""
    event = sample(INSTALL)
    body = json.loads(event["body"])
    body["idfv"] = f"{body['idfv'][:-4]}{index:04d}"
    body["idfa"] = f"{body['idfa'][:-4]}{index:04d}"
    body["customer_user_id"] = f"user-{index}"
    body["campaign"] = campaign
    event["body"] = json.dumps(body)
    return event


def switch(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """A redeploy with RelayMode=<mode>: fresh containers read the new environment."""
    monkeypatch.setenv("RELAY_MODE", mode)
    reset_runtime()


def drain(queue_url: str) -> None:
    """The retry consumer, batch after batch, until the queue is empty (delays are 0 here)."""
    attributes = boto3.client("sqs").get_queue_attributes
    while int(attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]["ApproximateNumberOfMessages"]):
        consume(queue_url)


def archived(bucket: str) -> list[dict[str, Any]]:
    s3 = boto3.client("s3")
    objects = s3.list_objects_v2(Bucket=bucket, Prefix="raw/").get("Contents", [])
    return [json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())) for o in objects]


def sent_for(sink: AmplitudeSink, index: int) -> list[str]:
    """The endpoints Amplitude accepted a call on for person `index`."""
    return [
        item.endpoint
        for item in sink.received()
        if item.payload.get("user_id") == f"user-{index}" or str(item.payload.get("idfv", "")).endswith(f"{index:04d}")
    ]


def test_shadow_answers_accepted_archives_marked_and_sends_nothing(
    env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted: list[tuple[str, str | None]] = []
    monkeypatch.setattr(core, "count", lambda metric, partner, value=1: counted.append((metric, partner)))
    switch(monkeypatch, "shadow")
    status, body = invoke("AppsFlyerFunction", install(1))

    assert status == 202
    assert body["status"] == "shadow"
    assert [(r["endpoint"], r["status"]) for r in body["requests"]] == [
        ("attribution", "shadow"),
        ("identify", "shadow"),
    ]
    assert sink.requests_seen() == 0
    assert queue_bodies(env["RELAY_RETRY_QUEUE_URL"]) == []
    assert queue_bodies(env["RELAY_DLQ_URL"]) == []
    [document] = archived(env["RELAY_ARCHIVE_BUCKET"])
    assert document["shadowed"] is True
    assert document["postback_id"] == body["postback_id"]
    assert counted == [("received", "appsflyer"), ("shadowed", "appsflyer")]

    # Live, the same postback maps to the same insert_ids: the shadow answer names what a replay sends.
    switch(monkeypatch, "live")
    assert invoke("AppsFlyerFunction", install(2))[1]["status"] in ("delivered", "queued")  # queued: a slow machine
    assert "shadowed" not in archived(env["RELAY_ARCHIVE_BUCKET"])[-1]  # live objects as they always were


def test_live_to_shadow_to_live_drops_nothing_accepted_live(
    env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Live, Amplitude failing: person 1 is accepted onto the retry queue.
    sink.faults = FaultPlan.script(["503", "503"])
    status, queued = invoke("AppsFlyerFunction", install(1))
    assert (status, queued["status"]) == (202, "queued")

    # The switch to shadow while it is owed. New postbacks are held back; the retry consumer keeps
    # draining what live mode queued, and a resend of person 1 gets its first answer, not a shadow one.
    switch(monkeypatch, "shadow")
    assert invoke("AppsFlyerFunction", install(2))[1]["status"] == "shadow"
    assert invoke("AppsFlyerFunction", install(1)) == (202, queued)
    drain(env["RELAY_RETRY_QUEUE_URL"])
    assert sorted(sent_for(sink, 1)) == ["attribution", "identify"]

    # Back to live: new postbacks are delivered; person 2's resend keeps its shadow answer (a replay
    # owns it now), so nothing of it is sent twice when the backfill runs.
    switch(monkeypatch, "live")
    assert invoke("AppsFlyerFunction", install(3))[1]["status"] in ("delivered", "queued")  # queued: a slow machine
    assert invoke("AppsFlyerFunction", install(2))[1]["status"] == "shadow"
    drain(env["RELAY_RETRY_QUEUE_URL"])

    assert sorted(sent_for(sink, 1)) == ["attribution", "identify"]  # once, though queued across the switch
    assert sent_for(sink, 2) == []
    assert sorted(sent_for(sink, 3)) == ["attribution", "identify"]
    assert queue_bodies(env["RELAY_DLQ_URL"]) == []
    documents = {d["raw"]["customer_user_id"]: d for d in archived(env["RELAY_ARCHIVE_BUCKET"])}
    assert {user: d.get("shadowed", False) for user, d in documents.items()} == {
        "user-1": False,
        "user-2": True,
        "user-3": False,
    }


def test_replay_send_backfills_a_shadowed_day_with_the_insert_ids_shadow_mode_answered(
    env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    switch(monkeypatch, "shadow")
    answers = [invoke("AppsFlyerFunction", install(index))[1] for index in (1, 2)]
    assert sink.requests_seen() == 0
    day = datetime.now(UTC).date().isoformat()

    code = main(
        [
            "replay", "--from", f"s3://{env['RELAY_ARCHIVE_BUCKET']}/raw", "--partner", "appsflyer",
            "--since", day, "--send", "--retry-queue-url", env["RELAY_RETRY_QUEUE_URL"],
            "--dlq-url", env["RELAY_DLQ_URL"],
        ]
    )  # fmt: skip

    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["archived"], summary["delivered"]) == (2, 4)
    attribution_ids = {item.payload["event_properties"]["postback_id"] for item in sink.received("attribution")}
    answered_ids = {r["insert_id"] for answer in answers for r in answer["requests"] if r["endpoint"] == "attribution"}
    assert attribution_ids == answered_ids


def test_replay_shadowed_backfills_only_what_shadow_mode_held_back_on_a_switch_day(
    env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The switch day: person 1 arrived live (sent then, or queued and retried on a loaded machine),
    # person 2 in shadow (held back).
    assert invoke("AppsFlyerFunction", install(1))[1]["status"] in ("delivered", "queued")
    drain(env["RELAY_RETRY_QUEUE_URL"])
    assert sorted(sent_for(sink, 1)) == ["attribution", "identify"]
    switch(monkeypatch, "shadow")
    assert invoke("AppsFlyerFunction", install(2))[1]["status"] == "shadow"
    day = datetime.now(UTC).date().isoformat()

    code = main(
        [
            "replay", "--from", f"s3://{env['RELAY_ARCHIVE_BUCKET']}/raw", "--partner", "appsflyer",
            "--since", day, "--send", "--shadowed", "--retry-queue-url", env["RELAY_RETRY_QUEUE_URL"],
            "--dlq-url", env["RELAY_DLQ_URL"],
        ]
    )  # fmt: skip

    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["archived"], summary["live_skipped"], summary["delivered"]) == (2, 1, 2)
    # The Attribution API does not de-duplicate: person 1's install must not arrive a second time.
    assert sorted(sent_for(sink, 1)) == ["attribution", "identify"]
    assert sorted(sent_for(sink, 2)) == ["attribution", "identify"]


def test_shadow_without_an_archive_is_refused_as_misconfigured_before_anything(
    env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RELAY_ARCHIVE_BUCKET")
    switch(monkeypatch, "shadow")
    status, body = invoke("AppsFlyerFunction", install(1))
    assert (status, body["code"]) == (500, "misconfigured")
    assert sink.requests_seen() == 0


def test_an_unknown_mode_is_a_misconfiguration_naming_the_variable(
    env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    switch(monkeypatch, "Shadow")
    status, body = invoke("AppsFlyerFunction", install(1))
    assert (status, body["code"]) == (500, "misconfigured")
    assert sink.requests_seen() == 0


def test_shadow_with_the_archive_down_answers_503_so_the_partner_resends(
    env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shadowed, the archive is the postback's only copy: no 2xx without it, and the resend is whole."""
    switch(monkeypatch, "shadow")
    dead = boto3.client(
        "s3", endpoint_url="http://127.0.0.1:9", config=Config(retries={"max_attempts": 1}, connect_timeout=0.5)
    )
    working = archive.s3_client
    monkeypatch.setattr(archive, "s3_client", lambda: dead)
    status, body = invoke("AppsFlyerFunction", install(1))
    assert status == 503
    assert "resend" in body["error"]

    monkeypatch.setattr(archive, "s3_client", working)  # the archive is back
    assert invoke("AppsFlyerFunction", install(1))[1]["status"] == "shadow"  # not an idempotent replay of the 503
    assert sink.requests_seen() == 0


def test_replay_send_applies_the_routes_pass_through_rules_when_told_them(
    env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rules live in the partner function's environment: `replay --pass-through` sends the
    backfill with the properties the route would have sent."""
    switch(monkeypatch, "shadow")
    event = install(1)
    event["body"] = json.dumps(json.loads(event["body"]) | {"af_sub1": "spring-promo"})
    invoke("AppsFlyerFunction", event)
    day = datetime.now(UTC).date().isoformat()

    code = main(
        [
            "replay", "--from", f"s3://{env['RELAY_ARCHIVE_BUCKET']}/raw", "--partner", "appsflyer",
            "--since", day, "--send", "--pass-through", "af_sub*", "--retry-queue-url", env["RELAY_RETRY_QUEUE_URL"],
            "--dlq-url", env["RELAY_DLQ_URL"],
        ]
    )  # fmt: skip

    assert code == 0
    capsys.readouterr()
    [attribution] = sink.received("attribution")
    assert attribution.payload["event_properties"]["[AppsFlyer] af_sub1"] == "spring-promo"


def test_replay_refuses_unusable_pass_through_rules(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    day = datetime.now(UTC).date().isoformat()
    source = f"s3://{env['RELAY_ARCHIVE_BUCKET']}/raw"
    code = main(["replay", "--from", source, "--partner", "appsflyer", "--since", day, "--pass-through", "!x"])
    assert code == 2
    assert "allow none" in capsys.readouterr().err
