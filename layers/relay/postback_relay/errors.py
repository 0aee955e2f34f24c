"""The relay's errors: those a partner can be told about (RelayError: each carries the HTTP status
and a message naming the problem), and a misconfigured deployment (ConfigurationError)."""

from __future__ import annotations

from typing import Any


class ConfigurationError(RuntimeError):
    """The deployment is misconfigured; the message says which variable."""


class RelayError(Exception):
    """A request the relay refuses; `status` is the HTTP answer, `message` names the problem."""

    status: int = 400
    code: str = "bad_request"
    # Set on answers a partner should retry after a while (503): sent as the Retry-After header.
    retry_after_s: int | None = None

    def __init__(self, message: str, *, retry_after_s: int | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if retry_after_s is not None:
            self.retry_after_s = retry_after_s

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


class NotForwarded(RelayError):
    """A postback Amplitude can do nothing with, by its nature: SKAdNetwork and AdAttributionKit
    postbacks are Apple's aggregated install counts, with no user or device id to attribute to.
    Not a refusal: the route answers 200 with status "not_forwarded" and this reason, archives it
    and counts it (core.accept_postback); `try`, `replay` and `compare` show the reason."""

    status, code = 200, "not_forwarded"


class InProgress(RelayError):
    """The same postback is being processed right now (a concurrent resend): resend it shortly.
    503, not 409: partners retry a 5xx, while a 4xx tells them to give up."""

    status, code = 503, "in_progress"
    # An in-progress record expires with the invocation holding it (the function timeout, 5 s).
    retry_after_s = 5


class DependencyUnavailable(RelayError):
    """Something the relay needs to accept a postback safely is down: nothing was accepted (503)."""

    status, code = 503, "dependency_unavailable"
    retry_after_s = 10


class InternalError(RelayError):
    """Something failed that no input should make fail: a bug (500). The answer and the log say
    only that, never the exception's text: an exception's message can quote the value that caused
    it (pydantic's ValidationError does), and that value may be an advertising or user id."""

    status, code = 500, "internal_error"

    def __init__(self, **details: Any) -> None:
        super().__init__("internal error: the relay failed on this request (logged for its operators)", **details)
