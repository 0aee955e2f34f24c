"""From an API Gateway HTTP API (v2) request to the raw postback dict, with clear refusals.

GET postbacks carry their fields in the query string; POST ones as a JSON object or form fields
(query-string fields fill in what the body leaves out). Our token is never part of the data.

Every string that gets past here can be encoded (no lone surrogate, no bytes that are not UTF-8)
and is within the shape limits; refusals name the field, never its value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any
from urllib.parse import parse_qsl

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from .errors import BadRequest, Forbidden, PayloadTooLarge, Unauthorized, UnsupportedMediaType
from .ids import unencodable

TOKEN_PARAM = "token"  # noqa: S105 - a parameter name, not a secret
TOKEN_HEADER = "x-relay-token"  # noqa: S105 - a header name
MAX_PRESENTED_TOKENS = 4
# Shape limits: far above any real postback, low enough that no input costs us more than it should.
MAX_DEPTH = 10
MAX_FIELDS = 500
MAX_KEY_LENGTH = 256
MAX_STRING_LENGTH = 8192
_INT64 = 2**63
_FORM = "application/x-www-form-urlencoded"
_JSON_TYPES = ("application/json", "text/json", "text/plain")
_NOT_TEXT = "is not valid Unicode text (a lone UTF-16 surrogate, or bytes that are not UTF-8)"


def _header(event: APIGatewayProxyEventV2, name: str) -> str | None:
    value: str | None = event.headers.get(name)  # Powertools headers are case-insensitive
    return value


def presented_tokens(event: APIGatewayProxyEventV2, extra_headers: Sequence[str] = ()) -> list[str]:
    """What the caller presents as a token: `token=` values, X-Relay-Token, and the partner's own
    headers; at most MAX_PRESENTED_TOKENS, so a flood of `token=` keys costs no more than a few."""
    query = parse_qsl(event.raw_query_string or "", keep_blank_values=True)
    tokens = [value for key, value in query if key == TOKEN_PARAM and value][:MAX_PRESENTED_TOKENS]
    for header in (TOKEN_HEADER, *extra_headers):
        value = _header(event, header)
        if value and header.lower() == "authorization" and value[:7].lower() == "bearer ":
            value = value[7:].strip()  # AppsFlyer sends the value as set; an operator may set "Bearer <token>"
        if value:
            tokens.append(value)
    return tokens


def _digest(token: str) -> bytes:
    # surrogatepass: a token holding a lone surrogate (a hand-built Lambda event) is a wrong token,
    # not an encoding error.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def authenticate(event: APIGatewayProxyEventV2, valid_tokens: Sequence[str], extra_headers: Sequence[str] = ()) -> None:
    """401 unless a presented token is one of `valid_tokens`: the tokens of this route's partner
    alone, so another partner's token is refused exactly as a wrong one is (same answer, same body).

    Constant time: every presented token is compared with every valid one, as equal-length
    digests (neither a match nor a token's length shows in the time taken)."""
    presented = presented_tokens(event, extra_headers)
    if not presented:
        raise Unauthorized("missing relay token: send it as query parameter 'token' or header 'X-Relay-Token'")
    expected = [_digest(token) for token in valid_tokens]
    matched = False
    for candidate in map(_digest, presented):
        for token in expected:
            # No early exit: the time taken does not depend on which token matched.
            matched |= hmac.compare_digest(candidate, token)
    if not matched:
        raise Unauthorized("invalid relay token")


def _first_values(encoded: str, where: str) -> dict[str, str]:
    """Decoded key/value pairs; a repeated key keeps its first value. Shape limits apply.

    Percent-escapes that are not UTF-8 decode to lone surrogates (surrogateescape) so that
    `check_shape` refuses them naming the field, as it does for a JSON body's `\\ud800` escapes,
    instead of replacing them silently.
    """
    try:
        pairs = parse_qsl(encoded, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="surrogateescape")
    except ValueError as error:
        raise BadRequest(f"{where} has more than {MAX_FIELDS} fields") from error
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key != TOKEN_PARAM:
            fields.setdefault(key, value)
    check_shape(fields, where)
    return fields


def check_source(event: APIGatewayProxyEventV2, allowed: Sequence[IPv4Network | IPv6Network]) -> None:
    """403 unless the caller's address is in the partner's published ranges (when any are set)."""
    if not allowed:
        return
    try:
        source = ip_address(event.request_context.http.source_ip)
    except ValueError as error:
        raise Forbidden("source address not allowed") from error
    if not any(source in network for network in allowed):
        raise Forbidden("source address not allowed for this partner")


def _query_fields(event: APIGatewayProxyEventV2) -> dict[str, str]:
    return _first_values(event.raw_query_string or "", "query string")


def _out_of_range(number: Any) -> bool:
    if isinstance(number, bool):
        return False
    if isinstance(number, int):
        return not -_INT64 <= number < _INT64
    return isinstance(number, float) and not math.isfinite(number)


def _path(where: str, link: tuple[Any, Any] | None) -> str:
    """The dotted path of a node, rebuilt from its (parent, key) links only when an error names it."""
    parts: list[str] = []
    while link is not None:
        link, key = link
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    return where + "".join(reversed(parts))


def check_shape(value: Any, where: str) -> None:
    """Refuse (400) nesting, sizes and numbers no postback has, naming where the problem is.

    Iterative, and paths are only spelled out for an error: this runs on every postback.
    """
    count = 0
    stack: list[tuple[Any, tuple[Any, Any] | None, int]] = [(value, None, 0)]
    while stack:
        node, link, depth = stack.pop()
        kind = type(node)
        if kind is str:
            if len(node) > MAX_STRING_LENGTH:
                path = _path(where, link)
                raise BadRequest(f"{path} is longer than {MAX_STRING_LENGTH} characters", field=path)
            if unencodable(node):
                path = _path(where, link)
                raise BadRequest(f"{path} {_NOT_TEXT}", field=path)
            continue
        if kind is dict or kind is list:
            if depth >= MAX_DEPTH:
                path = _path(where, link)
                raise BadRequest(f"{path} is nested deeper than {MAX_DEPTH} levels", field=path)
            items: Any = node.items() if kind is dict else enumerate(node)
            for key, child in items:
                count += 1
                if count > MAX_FIELDS:
                    raise BadRequest(f"{where} has more than {MAX_FIELDS} fields")
                if kind is dict and (len(key) > MAX_KEY_LENGTH or unencodable(key)):
                    # Named by its parent: the key itself is what is wrong, so it is not echoed.
                    path = _path(where, link)
                    problem = f"is longer than {MAX_KEY_LENGTH} characters" if len(key) > MAX_KEY_LENGTH else _NOT_TEXT
                    raise BadRequest(f"a field name in {path} {problem}", field=path)
                # Most postbacks are flat ASCII strings and nulls: settle those here instead of stacking them.
                child_kind = type(child)
                if (
                    child is None
                    or child_kind is bool
                    or (child_kind is str and len(child) <= MAX_STRING_LENGTH and child.isascii())
                ):
                    continue
                stack.append((child, (link, key), depth + 1))
        elif _out_of_range(node):
            path = _path(where, link)
            raise BadRequest(f"{path} is a number too large to process", field=path)


def _reject_constant(name: str) -> Any:
    raise BadRequest(f"JSON body holds {name}, which is not a number")


def _body_bytes(event: APIGatewayProxyEventV2, max_bytes: int) -> bytes:
    raw = event.body or ""
    # Base64 inflates by 4/3: refuse early before decoding a huge body.
    if len(raw) > max_bytes * 4 // 3 + 4:
        raise PayloadTooLarge(f"request body exceeds {max_bytes} bytes")
    try:
        data = base64.b64decode(raw, validate=True) if event.is_base64_encoded else raw.encode("utf-8")
    except binascii.Error as error:
        raise BadRequest("base64-encoded body is not valid base64") from error
    except UnicodeEncodeError as error:  # a raw lone surrogate in the event's own text
        raise BadRequest(f"request body {_NOT_TEXT}") from error
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"request body exceeds {max_bytes} bytes")
    return data


def read_postback(event: APIGatewayProxyEventV2, max_body_bytes: int) -> dict[str, Any]:
    """The postback's fields as a flat-or-nested dict, or a 400/413/415 naming the problem."""
    fields: dict[str, Any] = dict(_query_fields(event))
    method = event.request_context.http.method.upper()
    if method != "POST":
        return fields
    data = _body_bytes(event, max_body_bytes)
    if not data.strip():
        return fields
    content_type = (_header(event, "content-type") or "").split(";")[0].strip().lower()
    if content_type == _FORM:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise BadRequest("form body is not valid UTF-8") from error
        return {**fields, **_first_values(text, "form body")}
    if content_type in _JSON_TYPES or content_type == "" or content_type.endswith("+json"):
        return {**fields, **_json_object(data)}
    raise UnsupportedMediaType(
        f"unsupported Content-Type {content_type[:100]!r}: send application/json or {_FORM}",
        supported=["application/json", _FORM],
    )


def _json_object(data: bytes) -> Mapping[str, Any]:
    try:
        parsed = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as error:
        raise BadRequest("JSON body is not valid UTF-8") from error
    except json.JSONDecodeError as error:
        raise BadRequest(f"body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from error
    except (ValueError, RecursionError) as error:  # e.g. an integer of thousands of digits, deep nesting
        raise BadRequest("JSON body holds a value too large or too deeply nested to process") from error
    if not isinstance(parsed, dict):
        raise BadRequest(f"JSON body must be an object, not {type(parsed).__name__}")
    parsed.pop(TOKEN_PARAM, None)
    check_shape(parsed, "body")
    return parsed
