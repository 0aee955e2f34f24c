"""The tracker's HTTP routes (docs/tracker.md), at /v1/... and /api/v1/... alike so existing SDKs work."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ValidationError

from ..api import LambdaHandler, lambda_entry
from ..config import TRACKER_FUNCTION, ConfigurationError
from ..errors import BadRequest, RelayError
from ..inbound import read_postback
from ..observability import count, logger
from ..runtime import Runtime, current_runtime

PREFIXES = ("/v1", "/api/v1")
ModelT = TypeVar("ModelT", bound=BaseModel)


def _answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[str]:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body), headers=headers)


def _validated(model: type[ModelT], fields: dict[str, Any]) -> ModelT:
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or 'body'}: {e['msg']}" for e in error.errors()[:10]
        )
        raise BadRequest(f"invalid request: {problems}") from error


def _default_location() -> str:
    from .redirects import first_fallback

    try:
        configured: str | None = current_runtime().settings.default_redirect_url
    except Exception:  # unreadable settings: the built-in fallback still answers the click
        configured = None
    return first_fallback([configured])


def tracker_resolver() -> APIGatewayHttpResolver:
    from .models import EventsAnswer, EventsRequest, InstallAnswer, InstallRequest, TrackerError

    app = APIGatewayHttpResolver()

    def click() -> Response[str]:
        # Always a 302: the person clicking an ad reaches a store whatever fails here.
        try:
            event = app.current_event
            query = {key: value for key, value in (event.query_string_parameters or {}).items()}
            location = current_runtime().tracker.click(
                query, event.request_context.http.source_ip, event.headers.get("user-agent") or ""
            )
        except Exception as error:
            logger.warning("click: answered with the default redirect", extra={"error": type(error).__name__})
            location = _default_location()
        return Response(status_code=302, headers={"Location": location, "Cache-Control": "no-store"}, body="")

    def install() -> Response[str]:
        event = app.current_event
        runtime = current_runtime()
        request = _validated(InstallRequest, read_postback(event, runtime.settings.max_body_bytes))
        tracker = runtime.tracker
        application = tracker.authenticate(request.app_id, event.headers.get("x-api-key"))
        result = tracker.install(
            application, request, event.request_context.http.source_ip, event.headers.get("user-agent") or ""
        )
        count("installs", "tracker")
        return _answer(201, result.answer())

    def events() -> Response[str]:
        event = app.current_event
        runtime = current_runtime()
        fields = read_postback(event, runtime.settings.max_body_bytes)
        request = _validated(EventsRequest, fields)
        tracker = runtime.tracker
        application = tracker.authenticate(request.app_id, event.headers.get("x-api-key") or request.api_key)
        accepted = tracker.events(application, request)
        count("events", "tracker", accepted)
        return _answer(200, {"success": True, "data": {"accepted": accepted}})

    def answer(model: type[BaseModel], description: str) -> OpenAPIResponse:
        return {"description": description, "content": {"application/json": {"model": model}}}

    errors: dict[int, OpenAPIResponse] = {
        400: answer(TrackerError, "Invalid request"),
        401: answer(TrackerError, "Missing API key, or not this app's key (one answer for every wrong key)"),
        413: answer(TrackerError, "Body too large, or events too large once each carries the install's campaign"),
        503: answer(TrackerError, "DynamoDB or SQS unavailable: nothing was taken, resend later"),
    }
    for prefix in PREFIXES:
        app.route(
            f"{prefix}/clicks",
            method="GET",
            summary="Track an ad click and redirect to the store",
            tags=["tracker"],
            responses={302: {"description": "Always: to redirect_url (allowed domains only) or the store"}},
        )(click)
        app.route(
            f"{prefix}/installs",
            method="POST",
            summary="Attribute an install (SDK first launch)",
            tags=["tracker"],
            responses={201: answer(InstallAnswer, "Attributed (or organic)"), **errors},
        )(install)
        app.route(
            f"{prefix}/events",
            method="POST",
            summary="Track in-app events",
            tags=["tracker"],
            responses={200: answer(EventsAnswer, "Accepted"), **errors},
        )(events)

    @app.exception_handler(RelayError)  # type: ignore[untyped-decorator]
    def refuse(error: RelayError) -> Response[str]:
        count("rejected", "tracker")
        return _answer(error.status, {"success": False, **error.body()})

    @app.exception_handler(ConfigurationError)  # type: ignore[untyped-decorator]
    def misconfigured(error: ConfigurationError) -> Response[str]:
        logger.error("tracker misconfigured", extra={"problem": str(error)})
        return _answer(500, {"success": False, "error": "the tracker is misconfigured"})

    @app.exception_handler([BotoCoreError, ClientError])  # type: ignore[untyped-decorator]
    def unavailable(error: Exception) -> Response[str]:
        # DynamoDB or SQS failed: nothing was taken, so the SDK may resend. Type only: AWS error
        # texts can quote the key values (app ids, hashes) of the request.
        logger.error("tracker dependency unavailable", extra={"error": type(error).__name__})
        return _answer(
            503, {"success": False, "error": "the tracker is unavailable; resend later"}, {"Retry-After": "10"}
        )

    @app.exception_handler(ServiceError)  # type: ignore[untyped-decorator]
    def routing(error: ServiceError) -> Response[str]:
        # Powertools' own answers (404 for an unknown path): kept, not taken for the catch-all below.
        return _answer(error.status_code, {"success": False, "error": str(error.msg)})

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def unexpected(error: Exception) -> Response[str]:
        # A bug, not the caller's fault: its text may hold request values, so neither the answer
        # nor the log line carries it.
        logger.error("tracker failed", extra={"error": type(error).__name__})
        return _answer(500, {"success": False, "error": "internal error"})

    return app


def tracker_handler() -> LambdaHandler:
    """The tracker function's entry point; its settings are checked here, at cold start."""
    return lambda_entry(tracker_resolver(), Runtime(TRACKER_FUNCTION))
