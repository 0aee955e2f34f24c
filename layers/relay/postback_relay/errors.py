"""Errors a partner can be told about: each carries the HTTP status and a message naming the problem."""

from __future__ import annotations

from typing import Any


class RelayError(Exception):
    """A request the relay refuses; `status` is the HTTP answer, `message` names the problem."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "code": self.code, **self.details}


class BadRequest(RelayError):
    status, code = 400, "bad_request"


class Unauthorized(RelayError):
    status, code = 401, "unauthorized"


class Forbidden(RelayError):
    status, code = 403, "forbidden"


class NotFound(RelayError):
    status, code = 404, "not_found"


class PayloadTooLarge(RelayError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(RelayError):
    status, code = 415, "unsupported_media_type"


class Undeliverable(RelayError):
    """The postback parsed, but nothing in it lets Amplitude attribute a user (422)."""

    status, code = 422, "undeliverable"
