"""SKAdNetwork postbacks (Apple's aggregated installs, forwarded by the measurement partners) hold
no id Amplitude can attribute to: the route answers 200 `not_forwarded` with the reason, archives
them and counts them; nothing is sent, queued or dead-lettered, and a resend is answered alike.
The Lambda handler on moto (SQS, DynamoDB, S3) and the stand-in Amplitude."""

from __future__ import annotations

import gzip
import json

import boto3
import pytest

from postback_relay import core
from postback_relay_tools.local.amplitude_sink import AmplitudeSink
from tests.conftest import queue_bodies
from tests.integration.support import invoke, sample
from tests.unit.partner_tables.appsflyer import SKAN_INSTALL


def test_a_skan_message_is_answered_not_forwarded_archived_and_sent_nowhere(
    env: dict[str, str], sink: AmplitudeSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted: list[tuple[str, str | None]] = []
    monkeypatch.setattr(core, "count", lambda metric, partner, value=1: counted.append((metric, partner)))
    event = sample("appsflyer-install-ios-post.json")
    event["body"] = json.dumps(SKAN_INSTALL)

    status, body = invoke("AppsFlyerFunction", event)

    assert status == 200
    assert body["status"] == "not_forwarded"
    assert "SKAdNetwork" in body["reason"]
    assert body["requests"] == []
    assert sink.requests_seen() == 0
    assert queue_bodies(env["RELAY_RETRY_QUEUE_URL"]) == []
    assert queue_bodies(env["RELAY_DLQ_URL"]) == []
    s3 = boto3.client("s3")
    [stored] = s3.list_objects_v2(Bucket=env["RELAY_ARCHIVE_BUCKET"], Prefix="raw/")["Contents"]
    document = json.loads(
        gzip.decompress(s3.get_object(Bucket=env["RELAY_ARCHIVE_BUCKET"], Key=stored["Key"])["Body"].read())
    )
    assert document["postback_id"] == body["postback_id"]
    assert counted == [("not_forwarded", "appsflyer")]

    # A resend: the same key, the same answer; a different message: another key.
    assert invoke("AppsFlyerFunction", event) == (status, body)
    event["body"] = json.dumps({**SKAN_INSTALL, "skad_transaction_id": "0d7a6c1e-0000-4000-8000-000000000001"})
    assert invoke("AppsFlyerFunction", event)[1]["postback_id"] != body["postback_id"]
