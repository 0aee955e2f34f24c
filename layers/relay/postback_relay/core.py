"""The relay's core: a raw postback in, Amplitude calls attempted or queued, an answer out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .delivery import Delivery, Settled, Status
from .mapping import to_amplitude_calls
from .observability import logger
from .partners import PartnerAdapter, RawPostback


@dataclass(frozen=True)
class Accepted:
    postback_id: str
    settled: Sequence[Settled]

    @property
    def status(self) -> Status:
        statuses = {item.status for item in self.settled}
        if statuses == {Status.DELIVERED}:
            return Status.DELIVERED
        return Status.QUEUED if Status.QUEUED in statuses else Status.DEAD_LETTERED

    @property
    def http_status(self) -> int:
        # 200 only when Amplitude has it; 202 when we own the rest (retry queue or DLQ for replay).
        return 200 if self.status is Status.DELIVERED else 202

    def body(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "postback_id": self.postback_id,
            "requests": [
                {
                    "endpoint": item.call.endpoint,
                    "status": item.status.value,
                    "insert_id": item.call.insert_id,
                }
                for item in self.settled
            ],
        }


def accept_postback(adapter: PartnerAdapter, raw: RawPostback, delivery: Delivery, budget_s: float) -> Accepted:
    """Parse, map, attempt within `budget_s`, queue the rest. Raises RelayError for bad input."""
    postback = adapter.parse(raw)
    calls = to_amplitude_calls(postback, adapter.convention)
    logger.info(
        "postback accepted",
        extra={
            "partner": adapter.name,
            "kind": postback.kind.value,
            "platform": postback.platform,
            "organic": postback.is_organic,
            "endpoints": [call.endpoint for call in calls],
        },
    )
    settled = delivery.deliver_postback(adapter.name, calls, budget_s)
    return Accepted(postback.dedup_key(), settled)
