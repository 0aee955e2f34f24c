"""X-Ray tracing (RELAY_TRACING, template parameter XRayTracing): off, the SDK is never loaded; on,
each invocation is a trace whose subsegments are the Amplitude calls, without postback data.

Each case runs the function in a child process (traced_function.py): X-Ray patches are process-wide.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from postback_relay_tools.local.amplitude_sink import AmplitudeSink, FaultPlan
from postback_relay_tools.local.xray import XRayDaemonStandIn, traced_env
from tests.conftest import API_KEY, EVERY_ROUTE_TOKEN, ROOT, TOKEN

CHILD = Path(__file__).with_name("traced_function.py")


@pytest.fixture
def daemon() -> Iterator[XRayDaemonStandIn]:
    with XRayDaemonStandIn() as stand_in:
        yield stand_in


def base_env(sink: AmplitudeSink) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "AMPLITUDE_API_URL": sink.url,
        "AMPLITUDE_API_KEY": API_KEY,
        "RELAY_TOKENS": EVERY_ROUTE_TOKEN,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "postback-relay",
    }


def run_function(function: str, event: dict[str, Any], env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    done = subprocess.run(  # noqa: S603 - our own child script
        [sys.executable, str(CHILD), function, str(path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def partner_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "appsflyer-install-ios-post.json").read_text())
    event["rawQueryString"] = f"token={TOKEN}"
    return event


def remote_calls(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in documents if d.get("namespace") == "remote"]


def test_tracing_off_by_default_never_loads_the_xray_sdk(sink: AmplitudeSink, tmp_path: Path) -> None:
    result = run_function("appsflyer", partner_event(), base_env(sink), tmp_path)

    assert result["answer"]["statusCode"] == 200
    assert result["xray_loaded"] is False


def test_traced_partner_function_records_each_amplitude_call(
    sink: AmplitudeSink, daemon: XRayDaemonStandIn, tmp_path: Path
) -> None:
    env = traced_env(base_env(sink), daemon, ROOT / "functions" / "appsflyer")
    result = run_function("appsflyer", partner_event(), env, tmp_path)

    assert result["answer"]["statusCode"] == 200
    assert result["xray_loaded"] is True
    # The install with a user id: one /attribution and one /identify call, each a subsegment.
    documents = daemon.wait_for("## handler")
    calls = remote_calls(documents)
    assert sorted(c["http"]["request"]["url"] for c in calls) == [f"{sink.url}/attribution", f"{sink.url}/identify"]
    assert {c["http"]["response"]["status"] for c in calls} == {200}
    [handler] = [d for d in documents if d["name"] == "## handler"]
    assert {c["parent_id"] for c in calls} == {handler["id"]}
    assert handler["annotations"]["ColdStart"] is True
    # The idempotency record and the raw archive are AWS subsegments of the same invocation.
    assert {d["name"] for d in documents if d.get("namespace") == "aws"} >= {"dynamodb", "s3"}
    # No key, token, device id or user id is in the trace, and neither is the response.
    text = json.dumps(documents)
    for secret in (API_KEY, TOKEN, "A7071198-3848", "868049A3-4B2F", "user-100245", "203.0.113.42", "statusCode"):
        assert secret not in text


def test_traced_retry_function_records_the_redelivery(
    sink: AmplitudeSink, daemon: XRayDaemonStandIn, tmp_path: Path
) -> None:
    event = json.loads((ROOT / "events" / "retry-sqs.json").read_text())
    env = traced_env(base_env(sink), daemon, ROOT / "functions" / "retry")
    result = run_function("retry", event, env, tmp_path)

    assert result["answer"] == {"batchItemFailures": []}
    assert len(sink.received()) == 1
    [call] = remote_calls(daemon.wait_for("## handler"))
    assert call["http"]["request"] == {"method": "POST", "url": f"{sink.url}/attribution"}
    assert call["http"]["response"]["status"] == 200


def test_traced_call_that_amplitude_throttles_is_flagged_and_queued(
    sink: AmplitudeSink, daemon: XRayDaemonStandIn, tmp_path: Path
) -> None:
    sink.faults = FaultPlan.script(["429", "drop"])
    env = traced_env(base_env(sink), daemon, ROOT / "functions" / "appsflyer")
    result = run_function("appsflyer", partner_event(), {**env, "RELAY_SYNC_BUDGET_MS": "1500"}, tmp_path)

    assert result["answer"]["statusCode"] == 202
    assert result["queued"] == 2
    throttled, unanswered = sorted(remote_calls(daemon.wait_for("## handler")), key=lambda c: c["start_time"])
    assert throttled["http"]["response"]["status"] == 429
    assert throttled["throttle"] is True
    assert "response" not in unanswered["http"]
    assert unanswered["fault"] is True
