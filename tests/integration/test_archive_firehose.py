"""The raw archive through Firehose, as `serve` runs it: every partner function puts its postbacks
into its own delivery stream (moto's, writing as Amazon Data Firehose does: gzip JSON lines under
raw/partner=<partition>/date=<day>/), and holds no bucket of its own. Every accepted postback is
then found by `replay --from` (a dry run, in another process) and by SQL over the same files
(DuckDB, as docs/operations.md#sql-over-the-archive shows)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import duckdb
import pytest
import requests

from postback_relay_tools.local.amplitude_sink import AmplitudeSink
from tests.conftest import API_KEY, TOKEN, fixture_json
from tests.integration.support import cli, local_stack, post, realistic_postbacks

pytestmark = pytest.mark.slow

APPSFLYER_POSTBACKS = 12
ADJUST_POSTBACKS = 5
UNITY_POSTBACKS = 3


@pytest.fixture
def stand_in() -> Iterator[AmplitudeSink]:
    with AmplitudeSink(api_key=API_KEY) as server:
        yield server


def adjust_callbacks(count: int) -> list[dict[str, str]]:
    callbacks = []
    for index in range(count):
        callback = fixture_json("adjust", "install_android.json")
        callback["gps_adid"] = f"{callback['gps_adid'][:-12]}{index:012d}"
        callback["created_at"] = str(1_773_475_501 + index)
        callbacks.append(callback)
    return callbacks


def unity_installs(count: int) -> list[dict[str, str]]:
    installs = []
    for index in range(count):
        install = fixture_json("unity-ads", "install_ios.json")
        install["ifa"] = f"{install['ifa'][:-12]}{index:012d}"
        installs.append(install)
    return installs


def test_every_accepted_postback_is_found_by_replay_and_by_sql(tmp_path: Path, stand_in: AmplitudeSink) -> None:
    with local_stack(tmp_path, stand_in) as stack:
        functions = {route.function.logical_id: route.function for route in stack.template.routes}
        environment = stack.function_environment(functions["AdjustFunction"])
        # Its own stream, and no archive bucket: Firehose is the only writer (template.yaml).
        assert environment["RELAY_ARCHIVE_STREAM"] == stack.physical_ids["AdjustArchiveStream"]
        assert "RELAY_ARCHIVE_BUCKET" not in environment

        answers = [post(stack, postback) for postback in realistic_postbacks(APPSFLYER_POSTBACKS)]
        answers += [
            requests.get(f"{stack.url}/v1/postbacks/adjust", params={"token": TOKEN, **callback}, timeout=10)
            for callback in adjust_callbacks(ADJUST_POSTBACKS)
        ]
        answers += [
            requests.get(f"{stack.url}/v1/postbacks/custom/unity-ads", params={"token": TOKEN, **install}, timeout=10)
            for install in unity_installs(UNITY_POSTBACKS)
        ]
        assert all(answer.status_code in (200, 202) for answer in answers), [a.text for a in answers]
        accepted = {answer.json()["postback_id"] for answer in answers}
        assert len(accepted) == APPSFLYER_POSTBACKS + ADJUST_POSTBACKS + UNITY_POSTBACKS

        bucket = stack.physical_ids["ArchiveBucket"]
        day = datetime.now(UTC).date().isoformat()
        found: set[str] = set()
        for partner, expected in (
            ("appsflyer", APPSFLYER_POSTBACKS),
            ("adjust", ADJUST_POSTBACKS),
            ("custom/unity-ads", UNITY_POSTBACKS),
        ):
            run = cli(tmp_path, "replay", "--from", f"s3://{bucket}/raw", "--partner", partner, "--since", day)
            *postbacks, last = run.stdout.splitlines()
            summary = json.loads(last)
            assert (summary["archived"], summary["undeliverable"]) == (expected, 0), (partner, summary)
            found |= {line.split(":", 1)[0] for line in postbacks}  # "<postback id>: <its calls>"
        assert found == accepted

        # The same files, read with SQL as an operator would after `aws s3 sync s3://<bucket>/raw raw`.
        s3 = boto3.client("s3")
        keys = [entry["Key"] for entry in s3.list_objects_v2(Bucket=bucket, Prefix="raw/").get("Contents", [])]
        assert all(key.endswith(".json.gz") for key in keys)
        for key in keys:
            target = tmp_path / "archive" / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    sql = duckdb.connect()
    rows = sql.execute(archive_query(tmp_path / "archive" / "raw", day)).fetchall()
    by_partner = Counter({partition: count for partition, count in rows})
    assert by_partner == {"appsflyer": APPSFLYER_POSTBACKS, "adjust": ADJUST_POSTBACKS, "custom": UNITY_POSTBACKS}
    # In the shared partition each record names its network (the folder's `partner` would hide it).
    networks = sql.execute(
        f"SELECT DISTINCT partner FROM read_json('{tmp_path / 'archive' / 'raw'}/partner=custom/*/*.json.gz', "  # noqa: S608
        "format = 'newline_delimited', hive_partitioning = false, columns = {'partner': 'VARCHAR'})"
    ).fetchall()
    assert networks == [("unity-ads",)]


def archive_query(root: Path, day: str) -> str:
    """docs/operations.md's DuckDB query: postbacks per partition on a day."""
    return (
        "SELECT partner, count(*) FROM read_json("  # noqa: S608 - a test's own paths
        f"'{root}/partner=*/date=*/*.json.gz', format = 'newline_delimited', hive_partitioning = true, "
        "columns = {'postback_id': 'VARCHAR', 'received_at_ms': 'BIGINT', 'raw': 'JSON'}) "
        f"WHERE date = '{day}' GROUP BY partner"
    )
