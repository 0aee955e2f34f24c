"""What more than one tracker test module uses: a clock the test moves, and the tracker's tables
on moto's DynamoDB. Not a test module: pytest collects nothing here."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from postback_relay.tracker.store import TrackerStore

T0 = 1_795_181_820.0
GAID = "9c9a82fb-d5de-4cd1-90c3-527441c11828"
IP = "203.0.113.42"
CHROME = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def create_tables() -> TrackerStore:
    client = boto3.client("dynamodb")
    for name, keys in (("apps", ["app_id"]), ("clicks", ["match_key", "sort"]), ("installs", ["install_key"])):
        schema: list[Any] = [{"AttributeName": keys[0], "KeyType": "HASH"}]
        schema += [{"AttributeName": key, "KeyType": "RANGE"} for key in keys[1:]]
        client.create_table(
            TableName=name,
            KeySchema=schema,
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in keys],
            BillingMode="PAY_PER_REQUEST",
        )
    return TrackerStore("apps", "clicks", "installs")


def create_tables_for_the_handler(monkeypatch: pytest.MonkeyPatch) -> TrackerStore:
    """create_tables(), named in the environment as the template names them for TrackerFunction."""
    store = create_tables()
    for name, table in (
        ("RELAY_APPS_TABLE", "apps"),
        ("RELAY_CLICKS_TABLE", "clicks"),
        ("RELAY_INSTALLS_TABLE", "installs"),
    ):
        monkeypatch.setenv(name, table)
    return store
