"""From an API Gateway v2 request to postback fields: what is accepted and the clear 4xx for the rest."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from postback_relay.errors import BadRequest, PayloadTooLarge, Unauthorized, UnsupportedMediaType
from postback_relay.inbound import authenticate, read_postback
from postback_relay_tools.local.events import http_api_event

PATH = "/v1/postbacks/appsflyer"
LIMIT = 64 * 1024


def event(
    method: str = "POST",
    query: str = "",
    body: bytes = b"",
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> APIGatewayProxyEventV2:
    all_headers = {"content-type": content_type, **(headers or {})} if body else dict(headers or {})
    return APIGatewayProxyEventV2(http_api_event(method, PATH, query=query, body=body, headers=all_headers))


def test_get_postback_reads_the_query_string_without_the_token() -> None:
    fields = read_postback(event("GET", "token=s3cret&idfa=ABC&campaign=bf%20sale&campaign=second"), LIMIT)
    assert fields == {"idfa": "ABC", "campaign": "bf sale"}


def test_post_json_object_with_query_fields_filling_in() -> None:
    body = json.dumps({"idfa": "ABC", "token": "leaked?", "nested": {"a": 1}}).encode()
    fields = read_postback(event(query="token=t&app=x", body=body), LIMIT)
    assert fields == {"app": "x", "idfa": "ABC", "nested": {"a": 1}}


def test_post_form_fields() -> None:
    fields = read_postback(
        event(
            body=b"idfa=ABC&token=t&event_revenue=9.99", content_type="application/x-www-form-urlencoded; charset=utf-8"
        ),
        LIMIT,
    )
    assert fields == {"idfa": "ABC", "event_revenue": "9.99"}


def test_binary_body_arrives_base64_and_is_decoded() -> None:
    raw = http_api_event(
        "POST", PATH, body=json.dumps({"idfa": "ABC"}).encode(), headers={"content-type": "application/json"}
    )
    raw["body"] = base64.b64encode(raw["body"].encode()).decode()
    raw["isBase64Encoded"] = True
    assert read_postback(APIGatewayProxyEventV2(raw), LIMIT) == {"idfa": "ABC"}


@pytest.mark.parametrize(
    ("body", "content_type", "error", "message"),
    [
        (b"{not json", "application/json", BadRequest, "not valid JSON"),
        (b"[1, 2]", "application/json", BadRequest, "must be an object"),
        (b'{"revenue": NaN}', "application/json", BadRequest, "NaN"),
        (b"\xff\xfe", "application/json", BadRequest, "UTF-8"),
        (b"<xml/>", "application/xml", UnsupportedMediaType, "application/xml"),
        (b"x" * (LIMIT + 1), "application/json", PayloadTooLarge, "exceeds"),
    ],
)
def test_malformed_bodies_get_a_clear_error(
    body: bytes, content_type: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        read_postback(event(body=body, content_type=content_type), LIMIT)


def test_errors_render_as_json_bodies_naming_the_problem() -> None:
    error = UnsupportedMediaType("unsupported Content-Type 'text/csv'", supported=["application/json"])
    body: dict[str, Any] = error.body()
    assert (error.status, body["error"], body["code"]) == (
        415,
        "unsupported Content-Type 'text/csv'",
        "unsupported_media_type",
    )


@pytest.mark.parametrize(
    ("query", "headers"),
    [("token=current", {}), ("", {"X-Relay-Token": "current"}), ("token=previous", {}), ("token=x&token=current", {})],
)
def test_any_valid_token_is_accepted_in_query_or_header(query: str, headers: dict[str, str]) -> None:
    authenticate(event("GET", query, headers=headers), ("current", "previous"))


@pytest.mark.parametrize(
    ("query", "headers", "message"),
    [
        ("", {}, "missing relay token"),
        ("token=wrong", {}, "invalid"),
        ("", {"X-Relay-Token": "curren"}, "invalid"),
        ("token=", {}, "missing"),
    ],
)
def test_missing_or_wrong_tokens_are_refused(query: str, headers: dict[str, str], message: str) -> None:
    with pytest.raises(Unauthorized, match=message):
        authenticate(event("GET", query, headers=headers), ("current",))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (json.dumps({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": {"k": 1}}}}}}}}}}}), "nested deeper"),
        ("[" * 5000 + "]" * 5000, "too large or too deeply nested"),
        (json.dumps({f"k{i}": i for i in range(600)}), "more than 500 fields"),
        (json.dumps({"k" * 300: 1}), "longer than 256"),
        (json.dumps({"campaign": "x" * 9000}), "body.campaign is longer than 8192"),
        ('{"revenue": 1e400}', "body.revenue is a number too large"),
        ('{"revenue": 99999999999999999999999}', "body.revenue is a number too large"),
        ('{"revenue": ' + "9" * 5000 + "}", "too large"),
    ],
    ids=["deep", "deeper-than-parser", "many-fields", "long-key", "long-string", "inf", "int64", "huge-int"],
)
def test_shapes_no_postback_has_are_refused_with_where(body: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        read_postback(event(body=body.encode()), 1024 * 1024)


def test_query_strings_with_too_many_fields_are_refused() -> None:
    with pytest.raises(BadRequest, match="more than 500 fields"):
        read_postback(event("GET", "&".join(f"k{i}=v" for i in range(501))), LIMIT)


def test_form_bodies_keep_the_first_of_repeated_keys() -> None:
    fields = read_postback(
        event(body=b"idfa=FIRST&idfa=SECOND", content_type="application/x-www-form-urlencoded"), LIMIT
    )
    assert fields == {"idfa": "FIRST"}
