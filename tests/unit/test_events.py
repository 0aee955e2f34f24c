"""The sample events in events/ (`sam local invoke -e`) are what `make events` writes, never edited by hand.

GIVEN tools/postback_relay_tools/sample_events.py, the fixtures and template.yaml, THEN every file in
events/ is exactly what it writes, each partner sample carries its fixture unchanged, each HTTP sample
is a valid API Gateway HTTP API (payload 2.0) event on a route of the template, the SQS sample a valid
batch of retry messages, and env.json gives every route the samples' token. The handlers run on the
samples in tests/integration/test_handlers.py and tests/tracker/test_tracker_samples.py.
"""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model, SqsModel

from postback_relay.messages import RetryMessage
from postback_relay_tools.local.stack import route_tokens
from postback_relay_tools.local.template import load_template
from postback_relay_tools.sample_events import (
    COMMAND,
    ENV_FILE,
    MODULE_COMMAND,
    PARTNER_SAMPLES,
    RETRY_FILE,
    TOKEN,
    PartnerSample,
    render,
    sample_events,
)
from tests.conftest import ROOT

EVENTS = ROOT / "events"
TEMPLATE = load_template(ROOT / "template.yaml")
REGENERATE = f"run `{COMMAND}` ({MODULE_COMMAND}); change the fixture or sample_events.py, not events/"


@cache
def generated() -> dict[str, dict[str, Any]]:
    return sample_events(ROOT)


def on_disk(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


HTTP_FILES = sorted(name for name in generated() if name not in (ENV_FILE, RETRY_FILE))


@pytest.mark.parametrize("name", sorted(generated()))
def test_each_sample_is_what_make_events_writes(name: str) -> None:
    path = EVENTS / name
    assert path.exists(), f"events/{name} is missing: {REGENERATE}"
    assert path.read_text() == render(generated()[name]), f"events/{name} differs from the generator's: {REGENERATE}"


def test_events_holds_only_generated_samples() -> None:
    unknown = sorted(path.name for path in EVENTS.glob("*.json") if path.name not in generated())
    assert not unknown, f"{unknown}: add them to tools/postback_relay_tools/sample_events.py, then {REGENERATE}"


@pytest.mark.parametrize("sample", PARTNER_SAMPLES, ids=[sample.file for sample in PARTNER_SAMPLES])
def test_partner_sample_carries_its_fixture(sample: PartnerSample) -> None:
    """POST: the fixture is the body. GET: its fields are the query, null ones left out, as strings."""
    fixture: dict[str, Any] = json.loads((ROOT / sample.fixture_path).read_text())
    event = on_disk(sample.file)
    query = parse_qsl(event["rawQueryString"], keep_blank_values=True)
    assert query[0] == ("token", TOKEN)
    if sample.method == "POST":
        assert json.loads(event["body"]) == fixture
        assert query == [("token", TOKEN)]
    else:
        assert "body" not in event
        expected = {
            key: ("true" if value else "false") if isinstance(value, bool) else str(value)
            for key, value in fixture.items()
            if value is not None
        }
        assert dict(query[1:]) == expected


@pytest.mark.parametrize("name", HTTP_FILES)
def test_http_sample_is_an_api_gateway_v2_event_on_a_template_route(name: str) -> None:
    event = on_disk(name)
    model = APIGatewayProxyEventV2Model.model_validate(event)
    method, path = model.requestContext.http.method, model.rawPath
    [route] = [route for route in TEMPLATE.routes if route.route_key == model.routeKey]
    assert route.match(method, path) == (model.pathParameters or {})
    assert model.requestContext.routeKey == model.routeKey
    assert model.requestContext.http.path == path
    # API Gateway joins a repeated key's values with commas; the samples repeat none.
    query = dict(parse_qsl(model.rawQueryString, keep_blank_values=True))
    assert (model.queryStringParameters or {}) == query
    if "body" in event:
        body = base64.b64decode(event["body"]) if model.isBase64Encoded else event["body"].encode()
        json.loads(body)


def test_retry_sample_is_an_sqs_batch_of_retry_messages_for_the_retry_consumer() -> None:
    event = on_disk(RETRY_FILE)
    batch = SqsModel.model_validate(event)
    queues = {consumer.queue_logical_id for consumer in TEMPLATE.consumers}
    for record, raw in zip(batch.Records, event["Records"], strict=True):
        RetryMessage.model_validate_json(raw["body"])
        # The queue's name as a deploy of the stack "postback-relay" gives it: <stack>-<logical id>.
        assert record.eventSourceARN.rsplit("-", 1)[-1] in queues


def test_env_sample_gives_every_route_the_samples_token() -> None:
    parameters: dict[str, str] = on_disk(ENV_FILE)["Parameters"]
    # `sam local invoke --env-vars` sets only variables the template's functions declare.
    assert set(parameters) <= set(TEMPLATE.environment)
    tokens = route_tokens(json.loads(parameters["RELAY_TOKENS"]))
    assert set(tokens.values()) == {TOKEN}
    assert {sample.partner for sample in PARTNER_SAMPLES} <= set(tokens)
