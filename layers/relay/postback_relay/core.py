"""The relay's core: a raw postback in, Amplitude calls attempted or queued, an answer out."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from .archive import ArchivedPostback, ArchiveWriter
from .aws import error_code
from .delivery import Delivery, Settled, Status
from .errors import ConfigurationError, NotForwarded, RelayError
from .idempotency import Idempotency, NoIdempotency
from .inbound import TOKEN_PARAM
from .mapping import to_amplitude_calls
from .models.amplitude import AmplitudeCall, Endpoint
from .models.postback import Postback, raw_postback_key
from .observability import count, logger
from .partners import Convention, PartnerAdapter, RawPostback
from .partners.fields import MAX_EVENT_PROPERTIES
from .partners.registry import check_format
from .privacy import archive_hash_key, pseudonymise


class RequestOutcome(BaseModel):
    endpoint: Endpoint
    status: Status
    insert_id: str


class PostbackAnswer(BaseModel):
    """What a partner gets back for an accepted postback (200 delivered, 202 queued/dead_lettered,
    202 shadow: with RELAY_MODE=shadow it was archived and mapped, and nothing was sent; or 200
    not_forwarded: a postback Amplitude can do nothing with, archived, with the reason)."""

    status: Status
    postback_id: str = Field(description="stable key of this postback: a resend has the same one")
    requests: list[RequestOutcome] = Field(description="one per Amplitude call")
    reason: str | None = Field(default=None, description="why nothing is sent (status not_forwarded only)")


class ErrorAnswer(BaseModel):
    """What a partner gets back for a refused postback (4xx, or 503 when it could not be queued)."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="the problem, in words")
    code: str | None = Field(default=None, description="machine-readable kind of problem")


@dataclass(frozen=True)
class Plan:
    """One postback, parsed and mapped: what the route, `try`, `replay`, `compare` and the tracker
    act on. `postback_id` is its stable key (a resend has the same one); every insert_id derives
    from it."""

    postback: Postback
    postback_id: str
    calls: list[AmplitudeCall]


def parse(adapter: PartnerAdapter, raw: RawPostback) -> Postback:
    """The adapter's postback, plus the unmapped keys its pass-through rules forward (within the
    cap on the number of event properties, the adapter's own counted first)."""
    postback = adapter.parse(raw)
    if not adapter.pass_through:
        return postback
    room = MAX_EVENT_PROPERTIES - len(postback.event_properties)
    passed = adapter.pass_through.properties(raw, adapter.mapped_keys, adapter.convention.label, room)
    # Never a name the mapping writes itself ("[adjust] network" from an unmapped raw `network`).
    written = adapter.convention.written_names
    passed = {name: value for name, value in passed.items() if name not in written}
    if not passed:
        return postback
    # The adapter's own properties win a clash: they are what it mapped.
    return postback.model_copy(update={"event_properties": passed | postback.event_properties})


def plan(adapter: PartnerAdapter, raw: RawPostback) -> Plan:
    """Format check, parse, key and map one raw postback, as the partner route and `try` do. Pure.
    Raises RelayError for bad input: WrongPartner (400) for another partner's body, the adapter's
    own 400s, Undeliverable (422). Archived postbacks go through `replan` instead."""
    # Another partner's body would map to a wrong event under this partner's name: 400 instead.
    check_format(adapter, raw)
    postback = parse(adapter, raw)
    return plan_postback(postback, adapter.convention, postback.dedup_key(_received(raw)))


def _received(raw: RawPostback) -> dict[str, Any]:
    """What a postback is keyed on: what was received, the token left out (a rotated token is
    the same postback)."""
    return {key: value for key, value in raw.items() if key != TOKEN_PARAM}


def plan_postback(postback: Postback, convention: Convention, postback_id: str | None = None) -> Plan:
    """`plan` for a postback already normalised (the tracker builds its own); raises Undeliverable.

    `postback_id`: an archived postback's key, kept rather than hashed anew, so a replay makes the
    first insert_ids whatever the adapter (or the archive's hashing of IP and user agent) changed
    since; None: `postback.dedup_key()`."""
    key = postback_id or postback.dedup_key()
    return Plan(postback, key, to_amplitude_calls(postback, convention, key))


@dataclass(frozen=True)
class Replanned:
    """An archived postback mapped again: `postback` is None when it no longer parses; `refusal`
    is set when it is refused now (and `calls` is empty)."""

    postback: Postback | None
    calls: list[AmplitudeCall]
    refusal: RelayError | None


def replan(adapter: PartnerAdapter, raw: RawPostback, postback_id: str) -> Replanned:
    """`plan` for an archived postback (`replay`, `compare`), which never raises RelayError.

    No format check: archived postbacks were accepted once (some before the check, or before a
    partner's signature keys grew), and replaying them must not start refusing them. The parsed
    postback is kept even when the mapping refuses it: the erasure check reads its ids.
    """
    try:
        postback = parse(adapter, raw)
    except RelayError as refusal:
        return Replanned(None, [], refusal)
    try:
        return Replanned(postback, plan_postback(postback, adapter.convention, postback_id).calls, None)
    except RelayError as refusal:
        return Replanned(postback, [], refusal)


@dataclass(frozen=True)
class Accepted:
    postback_id: str
    settled: Sequence[Settled]

    @property
    def status(self) -> Status:
        statuses = {item.status for item in self.settled}
        if statuses == {Status.DELIVERED}:
            return Status.DELIVERED
        if statuses == {Status.SHADOW}:
            return Status.SHADOW
        return Status.QUEUED if Status.QUEUED in statuses else Status.DEAD_LETTERED

    @property
    def http_status(self) -> int:
        # 200 only when Amplitude has it; 202 when we own the rest (retry queue or DLQ for replay),
        # or hold it in the archive only (shadow mode).
        return 200 if self.status is Status.DELIVERED else 202

    def body(self) -> dict[str, Any]:
        # Built from the model the OpenAPI document shows, so the answer and its description agree.
        answer = PostbackAnswer(
            status=self.status,
            postback_id=self.postback_id,
            requests=[
                RequestOutcome(endpoint=item.call.endpoint, status=item.status, insert_id=item.call.insert_id)
                for item in self.settled
            ],
        )
        return answer.model_dump(mode="json")


def accept_postback(
    adapter: PartnerAdapter,
    raw: RawPostback,
    *,
    delivery: Delivery,
    deadline: float,
    idempotency: Idempotency | NoIdempotency,
    archive: ArchiveWriter | None = None,
    context: LambdaContext | None = None,
) -> tuple[int, dict[str, Any]]:
    """Parse, map, then once per postback: archive, attempt until `deadline` (a time.monotonic()
    instant shared with everything else this invocation does), queue the rest.

    In shadow mode (RELAY_MODE=shadow) the same, except that nothing is sent or queued: the archive,
    marked `shadowed`, is the postback's only copy, so it must be written (else 503, and the partner
    resends) and `replay --send` can deliver it later.

    Returns the HTTP status and body; a resend gets the first answer, whatever the mode is by then
    (so a postback is never sent by a resend after shadow mode archived it for a replay). Raises
    RelayError for bad input.
    """
    try:
        planned = plan(adapter, raw)
    except NotForwarded as nature:
        return _not_forwarded(adapter, raw, nature, delivery, archive)
    postback, postback_id, calls = planned.postback, planned.postback_id, planned.calls
    shadow = delivery.settings.shadow

    def deliver_once() -> dict[str, Any]:
        count("received", adapter.name)
        if shadow:
            assert archive is not None  # checked below, before the idempotency record
            _archive(archive, adapter.name, raw, postback_id, delivery.now_ms(), shadowed=True)
            count("shadowed", adapter.name)
            accepted = Accepted(postback_id, [Settled(call, Status.SHADOW, 0) for call in calls])
        else:
            # The archive record goes out while Amplitude is tried (it never raises here, and its
            # client's timeouts fit the deadline), so its round trip is not added to the partner's
            # wait; the invocation ends only once it is done.
            archived = _archiving(archive, adapter.name, raw, postback_id, delivery.now_ms())
            try:
                budget_s = max(0.0, deadline - time.monotonic())  # what idempotency left
                accepted = Accepted(postback_id, delivery.deliver_postback(adapter.name, calls, budget_s))
            finally:
                if archived is not None:
                    archived.result()
        # One line per postback; no ids, only what on-call needs to follow it.
        logger.info(
            "postback accepted",
            extra={
                "partner": adapter.name,
                "kind": postback.kind.value,
                "platform": postback.platform,
                "organic": postback.is_organic,
                "status": accepted.status.value,
                "endpoints": [call.endpoint for call in calls],
                "postback_id": postback_id,
            },
        )
        return {"status": accepted.http_status, "body": accepted.body()}

    if shadow and archive is None:
        raise ConfigurationError(
            "RELAY_MODE=shadow needs the archive (RELAY_ARCHIVE_STREAM, or RELAY_ARCHIVE_BUCKET): it is where"
            " shadow mode keeps postbacks"
        )
    answer = idempotency.once(f"{adapter.name}:{postback_id}", deliver_once, context, adapter.name)
    return int(answer["status"]), dict(answer["body"])


def _not_forwarded(
    adapter: PartnerAdapter, raw: RawPostback, nature: NotForwarded, delivery: Delivery, archive: ArchiveWriter | None
) -> tuple[int, dict[str, Any]]:
    """200 with the reason: nothing Amplitude could use, so no retry and no dead letter; archived
    (when the stack has an archive) for whoever later can use it, and counted."""
    postback_id = raw_postback_key(adapter.name, _received(raw))
    if archive is not None:
        _archive(archive, adapter.name, raw, postback_id, delivery.now_ms())
    count("not_forwarded", adapter.name)
    logger.info("postback not forwarded", extra={"partner": adapter.name, "postback_id": postback_id})
    answer = PostbackAnswer(status=Status.NOT_FORWARDED, postback_id=postback_id, requests=[], reason=nature.message)
    return 200, answer.model_dump(mode="json", exclude_none=True)


# One worker per container: a partner function handles one postback at a time.
_ARCHIVER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive")


def _archiving(
    archive: ArchiveWriter | None, partner: str, raw: RawPostback, postback_id: str, received_at_ms: int
) -> Future[None] | None:
    """`_archive` started in the background, in this invocation's context (its settings: the
    archive's hash key), or None without an archive."""
    if archive is None:
        return None
    return _ARCHIVER.submit(copy_context().run, _archive, archive, partner, raw, postback_id, received_at_ms)


def _archive(
    archive: ArchiveWriter,
    partner: str,
    raw: RawPostback,
    postback_id: str,
    received_at_ms: int,
    shadowed: bool = False,
) -> None:
    # The archive serves replay; its failure must not cost the delivery, so it is logged, not raised.
    # Shadowed, the archive is the delivery: logged, counted and raised.
    try:
        # IP and user agent only as keyed hashes: kept 400 days, and nothing sent to Amplitude needs them.
        kept, redacted = pseudonymise(raw, archive_hash_key())
        archive.put(ArchivedPostback(partner, received_at_ms, postback_id, kept, tuple(redacted), shadowed))
    except Exception as error:
        # By type and AWS error code only: a traceback or message may quote the postback's values.
        logger.error(
            "archive write failed",
            extra={
                "partner": partner,
                "postback_id": postback_id,
                "error_type": type(error).__name__,
                "aws_error_code": error_code(error),
            },
        )
        count("archive_failed", partner)
        if shadowed:
            raise
