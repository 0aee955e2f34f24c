"""No exception message can carry a raw value into a log line or an answer.

Exceptions are forced deep inside mapping and delivery, each quoting a distinctive user id and the
device's IDFA the way pydantic's ValidationError quotes its input; the partner's function runs as
Lambda runs it. The answer is a JSON 500 (or the 503 of an unavailable queue) naming no value, and
the log names the exception's type and where it was raised, nothing of its message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Annotated, Any

import pytest
from botocore.exceptions import ClientError
from pydantic import Field, TypeAdapter

import postback_relay.mapping as mapping
from postback_relay.delivery import Delivery
from postback_relay.models.postback import Postback
from postback_relay.observability import logger
from postback_relay_tools.local.amplitude_sink import AmplitudeSink
from postback_relay_tools.local.events import LocalLambdaContext
from tests.integration.support import SAMPLE_TOKEN, function, sample

USER_ID = "hostile-user-7f3a9c"
IDFA = "A7071198-3848-40A5-B3D0-94578D9B1234"
IDFV = "868049A3-4B2F-4A11-9B00-CFFC36215678"


def _validation_error(postback: Postback) -> Exception:
    # A real pydantic ValidationError: its text quotes the input (`input_value='hostile-user-...'`).
    try:
        TypeAdapter(Annotated[str, Field(max_length=3)]).validate_python(f"{postback.user_id} {postback.ids.idfa}")
    except Exception as error:
        return error
    raise AssertionError("expected a ValidationError")


def _chained(postback: Postback) -> Exception:
    try:
        raise ValueError(f"user {postback.user_id} on {postback.ids.idfa}")
    except ValueError as cause:
        wrapped = RuntimeError("mapping failed")
        wrapped.__cause__ = cause
        return wrapped


def _unicode(postback: Postback) -> Exception:
    try:
        f"{postback.user_id}\ud800".encode()
    except UnicodeEncodeError as error:
        return error
    raise AssertionError("expected a UnicodeEncodeError")


FAILURES: dict[str, Callable[[Postback], Exception]] = {
    "validation-error": _validation_error,
    "value-error": lambda postback: ValueError(f"cannot map {postback.user_id} / {postback.ids.idfa}"),
    "key-error": lambda postback: KeyError(postback.ids.idfa),
    "chained": _chained,
    "unicode": _unicode,
}


def _captured(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    """Every log record as CloudWatch would get it, and whatever reached stdout and stderr."""
    records = "\n".join(logger.registered_formatter.format(record) for record in caplog.records)
    out, err = capsys.readouterr()
    return "\n".join((records, out, err))


def _invoke() -> tuple[int, dict[str, Any], dict[str, Any]]:
    event = sample("appsflyer-install-ios-post.json")
    body = json.loads(event["body"])
    body["customer_user_id"] = USER_ID
    event["body"] = json.dumps(body)
    result = function("AppsFlyerFunction")(event, LocalLambdaContext("AppsFlyerFunction", timeout_s=5))
    return result["statusCode"], json.loads(result["body"]), result


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_an_exception_deep_in_mapping_answers_500_and_logs_only_its_type(
    env: dict[str, str],
    sink: AmplitudeSink,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
) -> None:
    def explode(postback: Postback, *_args: Any) -> Any:
        raise FAILURES[failure](postback)

    monkeypatch.setattr(mapping, "_attribution_event", explode)
    caplog.set_level(logging.DEBUG)
    status, body, result = _invoke()
    assert status == 500
    assert (body["code"], sorted(body)) == ("internal_error", ["code", "error", "request_id"])
    logs = _captured(caplog, capsys)
    for raw in (USER_ID, IDFA, IDFV, SAMPLE_TOKEN, env["AMPLITUDE_API_KEY"]):
        assert raw not in logs
        assert raw not in json.dumps(result)
    assert "Traceback" not in logs
    [line] = [json.loads(logger.registered_formatter.format(r)) for r in caplog.records if r.levelno >= logging.ERROR]
    assert line["message"] == "unexpected error"
    assert line["error_type"] == type(FAILURES[failure](Postback(partner="x", kind="install"))).__name__
    assert line["error_at"].startswith("mapping.py:")  # the relay's innermost frame, not the test's
    assert sink.requests_seen() == 0


def test_an_unavailable_queue_answers_503_and_logs_the_aws_error_code_not_its_message(
    env: dict[str, str],
    sink: AmplitudeSink,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unavailable(*_args: Any, **_kwargs: Any) -> Any:
        error = {"Error": {"Code": "InvalidParameterValue", "Message": f"message body {USER_ID} {IDFA}"}}
        raise ClientError(error, "SendMessage")  # type: ignore[arg-type]

    monkeypatch.setattr(Delivery, "deliver_postback", unavailable)
    caplog.set_level(logging.DEBUG)
    status, body, result = _invoke()
    assert (status, result["headers"]["Retry-After"]) == (503, "30")
    assert "resend" in body["error"]
    logs = _captured(caplog, capsys)
    assert USER_ID not in logs
    assert IDFA not in logs
    assert "Traceback" not in logs
    assert '"aws_error_code":"InvalidParameterValue"' in logs.replace(" ", "")
