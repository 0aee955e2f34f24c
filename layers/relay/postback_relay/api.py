"""The partner-facing HTTP handler: Powertools routing over API Gateway HTTP API (v2) events."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from .aws import error_code
from .config import PARTNER_FUNCTION, ConfigurationError, Settings
from .core import ErrorAnswer, PostbackAnswer, accept_postback
from .errors import InternalError, NotFound, RelayError
from .inbound import authenticate, check_source, read_postback
from .observability import count, flush_metrics, logger, traced
from .partners import PartnerAdapter
from .partners.registry import CUSTOM_ROUTE_PREFIX
from .runtime import Runtime, current_runtime
from .secrets import network_tokens, partner_tokens

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# Leave the Lambda this much time to answer after the immediate attempt.
_ANSWER_MARGIN_MS = 300

LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


# Retry-After on a 503 we answer because SQS could not take the postback.
QUEUE_RETRY_AFTER_S = 30


def json_response(status: int, body: dict[str, Any], retry_after_s: int | None = None) -> Response[str]:
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
    return Response(status_code=status, content_type="application/json", body=json.dumps(body), headers=headers)


def _budget_s(settings: Settings, context: LambdaContext | None) -> float:
    budget_ms = settings.sync_budget_ms
    if context is not None:
        budget_ms = min(budget_ms, context.get_remaining_time_in_millis() - _ANSWER_MARGIN_MS)
    return max(0.0, budget_ms / 1000)


def _authenticate(
    app: APIGatewayHttpResolver, valid_tokens: Callable[[], Sequence[str]], headers: Sequence[str] = ()
) -> None:
    """The caller's address (when the partner's ranges are set), then its token: one of this
    route's own tokens, never another partner's. Tokens are read after the address check, so a
    stranger's request costs no secret-store call."""
    event = app.current_event
    settings = current_runtime().settings
    check_source(event, settings.allowed_networks)
    if settings.partner_token_header:
        headers = (*headers, settings.partner_token_header)
    authenticate(event, valid_tokens(), headers)


def _receive(app: APIGatewayHttpResolver, adapter: PartnerAdapter, deadline: float) -> Response[str]:
    """Read, map, attempt, answer, once the caller is authenticated: the same for every partner."""
    runtime = current_runtime()
    raw = read_postback(app.current_event, runtime.settings.max_body_bytes)
    status, body = accept_postback(
        adapter,
        raw,
        delivery=runtime.delivery,
        deadline=deadline,
        idempotency=runtime.idempotency,
        archive=runtime.archive,
        context=app.lambda_context,
    )
    return json_response(status, body)


def _deadline(app: APIGatewayHttpResolver) -> float:
    # One deadline for the whole invocation, from its start: secrets, idempotency, archive and the
    # Amplitude attempt all come out of it; what does not fit is queued, never answered late.
    return time.monotonic() + _budget_s(current_runtime().settings, app.lambda_context)


def _raised_at(error: BaseException) -> str:
    """Where `error` was raised, as the relay's innermost frame on its way: file, line and function
    (a library's own frames say less to on-call). A location, never a value."""
    trace = error.__traceback__
    found: str | None = None
    while trace is not None:
        code = trace.tb_frame.f_code
        if _PACKAGE_DIR in code.co_filename or found is None:
            found = f"{os.path.basename(code.co_filename)}:{trace.tb_lineno} in {code.co_name}"
        trace = trace.tb_next
    return found or "unknown"


def _answer_errors(app: APIGatewayHttpResolver, partner: str) -> None:
    """Every refusal as a JSON body naming the problem; never a bare 500 for bad input.

    Exceptions are logged by type and place only (no message, no traceback): a message can quote
    the value that caused it, and that value can be an advertising id, a user id or a token.
    """

    @app.exception_handler(RelayError)  # type: ignore[untyped-decorator]
    def refuse(error: RelayError) -> Response[str]:
        logger.info("postback refused", extra={"partner": partner, "status": error.status, "code": error.code})
        count("rejected", partner)
        # By status too (rejected_401, rejected_422, ...): a token gone wrong and a mapping that
        # lost its ids are alarmed on separately, per partner (template.yaml: <Partner>Rejected401Alarm, ...422Alarm).
        count(f"rejected_{error.status}", partner)
        return json_response(error.status, error.body(), error.retry_after_s)

    @app.exception_handler(ConfigurationError)  # type: ignore[untyped-decorator]
    def misconfigured(error: ConfigurationError) -> Response[str]:
        logger.error("relay misconfigured", extra={"problem": str(error)})
        return json_response(
            500, {"error": "the relay is misconfigured; its operators have been alerted", "code": "misconfigured"}
        )

    @app.exception_handler([BotoCoreError, ClientError])  # type: ignore[untyped-decorator]
    def queue_unavailable(error: Exception) -> Response[str]:
        # We could not take ownership of the postback: say so, so the partner can resend.
        logger.error(
            "retry queue unavailable",
            extra={
                "partner": partner,
                "error_type": type(error).__name__,
                "aws_error_code": error_code(error),
                "error_at": _raised_at(error),
            },
        )
        return json_response(
            503, {"error": "the relay could not queue this postback; resend it later"}, QUEUE_RETRY_AFTER_S
        )

    @app.exception_handler(ServiceError)  # type: ignore[untyped-decorator]
    def powertools_answer(error: ServiceError) -> Response[str]:
        # Powertools' own refusals, chiefly NotFoundError when no route matches (a custom network
        # name the route pattern refuses): without this handler the catch-all below would take them.
        status = error.status_code if 400 <= error.status_code < 600 else 500
        try:
            phrase = HTTPStatus(status).phrase.lower()
        except ValueError:
            phrase = "error"
        return json_response(status, {"error": phrase, "code": phrase.replace(" ", "_")})

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def failed(error: Exception) -> Response[str]:
        # Powertools picks the most specific handler by the exception's MRO, so this one only
        # sees what no other handles: a bug. A JSON 500, counted and alarmed on (Api5xxAlarm).
        logger.error(
            "unexpected error",
            extra={"partner": partner, "error_type": type(error).__name__, "error_at": _raised_at(error)},
        )
        count("internal_error", partner)
        # Read defensively: this handler must answer whatever the event looked like.
        context = app.current_event.raw_event.get("requestContext")
        request_id = context.get("requestId") if isinstance(context, dict) else None
        answer = InternalError(request_id=request_id) if isinstance(request_id, str) else InternalError()
        return json_response(answer.status, answer.body())


def _answer(model: type[BaseModel], description: str) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": model}}}


# The partner-facing contract, published in the relay's OpenAPI document.
POSTBACK_RESPONSES: dict[int, OpenAPIResponse] = {
    200: _answer(
        PostbackAnswer, "Delivered to Amplitude; or not_forwarded: nothing Amplitude can use (SKAdNetwork), archived"
    ),
    202: _answer(PostbackAnswer, "Accepted: queued for retry, or dead-lettered for replay"),
    400: _answer(ErrorAnswer, "Malformed postback (bad JSON, shape limits, unknown event kind)"),
    401: _answer(ErrorAnswer, "Missing or wrong relay token"),
    403: _answer(ErrorAnswer, "Source address outside the partner's allowed ranges"),
    413: _answer(ErrorAnswer, "Body too large"),
    415: _answer(ErrorAnswer, "Content type other than JSON or form"),
    422: _answer(ErrorAnswer, "Undeliverable: no usable device id for its platform and no user id"),
    500: _answer(ErrorAnswer, "Internal error (a bug): the answer and the log name no value of the request"),
    503: _answer(
        ErrorAnswer,
        "Not accepted, resend after Retry-After: the queue or the secret store was unavailable,"
        " or the same postback is being processed right now",
    ),
}


def _with_pass_through(adapter: PartnerAdapter) -> PartnerAdapter:
    """The adapter with its function's pass-through rules (RELAY_PASS_THROUGH), if it sets any."""
    rules = current_runtime().settings.pass_through_rules
    return replace(adapter, pass_through=rules) if rules else adapter


def partner_resolver(adapter: PartnerAdapter) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()

    @app.route(
        adapter.route,
        method=["GET", "POST"],
        summary=f"{adapter.display_name} postback",
        description=f"Postback as {adapter.display_name} sends it ({adapter.method} preferred; see docs/partners.md).",
        tags=["postbacks"],
        responses=POSTBACK_RESPONSES,
    )
    def receive_postback() -> Response[str]:
        deadline = _deadline(app)
        _authenticate(app, lambda: partner_tokens(adapter.name), adapter.token_headers)
        return _receive(app, _with_pass_through(adapter), deadline)

    _answer_errors(app, adapter.name)
    return app


def custom_network_resolver(networks: Mapping[str, PartnerAdapter]) -> APIGatewayHttpResolver:
    """One route for every network described by a mapping file: /v1/postbacks/custom/<name>."""
    app = APIGatewayHttpResolver()

    @app.route(
        f"{CUSTOM_ROUTE_PREFIX}/<name>",
        method=["GET", "POST"],
        summary="Ad-network postback described by a mapping file",
        description="A network's S2S postback, mapped by networks/<name>.yaml (404 for an unknown name).",
        tags=["postbacks"],
        responses={**POSTBACK_RESPONSES, 404: _answer(ErrorAnswer, "No mapping file of that name")},
    )
    def receive_network_postback(name: str) -> Response[str]:
        deadline = _deadline(app)
        # Authenticate first, with this network's own tokens: a name without tokens (no such
        # network) is a 401 as a wrong token is, so strangers learn nothing about which exist.
        _authenticate(app, lambda: network_tokens(name, networks))
        adapter = networks.get(name)
        if adapter is None:
            raise NotFound(
                f"unknown network {name[:100]!r}: no mapping file {name[:100]}.yaml",
                known=sorted(networks),
            )
        return _receive(app, adapter, deadline)

    _answer_errors(app, "custom")
    return app


def lambda_entry(app: APIGatewayHttpResolver, runtime: Runtime) -> LambdaHandler:
    """Wrap a resolver as a Lambda handler with structured, correlated logs, each invocation
    under its function's runtime (resolvers read it through `current_runtime`)."""

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            with runtime.active():
                return app.resolve(event, context)
        finally:
            flush_metrics()

    return traced(handler)


def partner_handler(adapter: PartnerAdapter) -> LambdaHandler:
    """The Lambda entry point for one partner's function. Its settings are checked here, at cold
    start: a missing variable fails the init, naming it, before any postback is taken."""
    return lambda_entry(partner_resolver(adapter), Runtime(PARTNER_FUNCTION))


def custom_network_handler() -> LambdaHandler:
    """The Lambda entry point for mapping-file networks. Settings and mapping files are checked
    here, at cold start, so a broken file fails loudly (naming the file and the field) before any
    postback is taken."""
    from .partners.custom import load_networks

    runtime = Runtime(PARTNER_FUNCTION)
    return lambda_entry(custom_network_resolver(load_networks()), runtime)
