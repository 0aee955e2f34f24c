"""`postback-relay apps create` refuses what would make a broken app: a blank name, a store URL that
is not the platform's store over https, a redirect domain that is not a host name, and a second app
with the same name or store page (unless --allow-duplicate). One line each, exit 1, nothing stored."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from postback_relay.tracker.store import TrackerStore
from postback_relay_tools.cli import main

pytestmark = pytest.mark.slow  # a local stack, servers or many moto calls: not in make test-quick

IOS = "https://apps.apple.com/us/app/paper-boat/id1217828636"
ANDROID = "https://play.google.com/store/apps/details?id=com.example.paperboat"


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("RELAY_APPS_TABLE", raising=False)
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="apps",
            KeySchema=[{"AttributeName": "app_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "app_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield "apps"


def create(capsys: pytest.CaptureFixture[str], table: str, *args: str) -> tuple[int, str, str]:
    code = main(["apps", "create", "--table", table, "--json", *args])
    out, err = capsys.readouterr()
    return code, out, err


def apps(table: str) -> list[str]:
    return sorted(app.name for app in TrackerStore(table, table, table).list_apps())


def test_a_valid_app_is_registered_with_its_urls_as_browsers_read_them(
    capsys: pytest.CaptureFixture[str], table: str
) -> None:
    code, out, _ = create(
        capsys,
        table,
        "--name",
        "  Paper Boat ",
        "--ios-store-url",
        IOS,
        "--android-store-url",
        ANDROID,
        "--redirect-domain",
        "Promo.Example.COM.",
        "--redirect-domain",
        "bücher.example",
    )
    assert code == 0
    app_id = json.loads(out)["app_id"]
    [app] = TrackerStore(table, table, table).list_apps()
    assert (app.app_id, app.name, app.ios_store_url, app.android_store_url) == (app_id, "Paper Boat", IOS, ANDROID)
    assert app.redirect_domains == ["promo.example.com", "xn--bcher-kva.example"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", ""], "--name must be a non-empty name"),
        (["--name", "   "], "--name must be a non-empty name"),
        (["--name", "Paper\nBoat"], "--name must be a non-empty name without control characters"),
        (
            ["--ios-store-url", "http://apps.apple.com/app/id1"],
            "--ios-store-url 'http://apps.apple.com/app/id1' is not an https URL of the App Store",
        ),
        (
            ["--ios-store-url", "https://play.google.com/store/apps/details?id=x"],
            "is not an https URL of the App Store",
        ),
        (["--ios-store-url", "itms-apps://apps.apple.com/app/id1"], "is not an https URL of the App Store"),
        (["--ios-store-url", "https://apps.apple.com.evil.example/app"], "is not an https URL of the App Store"),
        (["--ios-store-url", "https://user@apps.apple.com/app/id1"], "is not an https URL of the App Store"),
        (["--ios-store-url", "apps.apple.com/app/id1"], "--ios-store-url 'apps.apple.com/app/id1' is not a URL"),
        (["--android-store-url", IOS], "is not an https URL of the Play Store: give the app's page there"),
        (["--android-store-url", "https://play.google.com:8443/store"], "is not an https URL of the Play Store"),
        (["--redirect-domain", "https://promo.example"], "--redirect-domain 'https://promo.example' is not a host"),
        (["--redirect-domain", "promo.example/path"], "is not a host name"),
        (["--redirect-domain", "10.0.0.1"], "is not a host name"),
        (["--redirect-domain", "localhost"], "is not a host name"),
        (["--redirect-domain=-promo.example"], "is not a host name"),
        (["--redirect-domain", "promo..example"], "is not a host name"),
        (["--redirect-domain", ""], "is not a host name"),
    ],
)
def test_a_bad_value_is_one_line_exit_1_and_nothing_stored(
    capsys: pytest.CaptureFixture[str], table: str, args: list[str], message: str
) -> None:
    named = args if args[0] == "--name" else ["--name", "Paper Boat", *args]
    code, out, err = create(capsys, table, *named)
    assert (code, out) == (1, "")
    assert err.startswith("error: ")
    assert message in err
    assert err.count("\n") == 1
    assert apps(table) == []


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (["--name", "paper boat"], "an app named 'Paper Boat' is already registered (app_id "),
        (["--name", "Paper Boat Pro", "--ios-store-url", IOS], f"already has the App Store page {IOS}"),
        (["--name", "Paper Boat Pro", "--android-store-url", ANDROID], f"already has the Play Store page {ANDROID}"),
    ],
)
def test_a_duplicate_needs_allow_duplicate(
    capsys: pytest.CaptureFixture[str], table: str, second: list[str], message: str
) -> None:
    assert create(capsys, table, "--name", "Paper Boat", "--ios-store-url", IOS, "--android-store-url", ANDROID)[0] == 0
    code, out, err = create(capsys, table, *second)
    assert (code, out) == (1, "")
    assert message in err
    assert err.strip().endswith(": pass --allow-duplicate to register another anyway")
    assert err.count("\n") == 1
    assert apps(table) == ["Paper Boat"]
    code, _, _ = create(capsys, table, *second, "--allow-duplicate")
    assert code == 0
    assert len(apps(table)) == 2
