"""Logger configured once; imported everywhere. Never log tokens, keys or raw advertising ids."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(service="postback-relay")
METRICS_NAMESPACE = "PostbackRelay"


_pending: defaultdict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
_pending_lock = threading.Lock()


def count(metric: str, partner: str | None, value: float = 1) -> None:
    """Add to a per-partner counter; `flush_metrics` writes them once per invocation."""
    with _pending_lock:
        _pending[partner or "unknown"][metric] += value


_emitters: dict[str, Any] = {}


def _emitter(partner: str) -> Any:
    """One EMF emitter per partner and container; its partner dimension survives every flush."""
    emitter = _emitters.get(partner)
    if emitter is None:
        from aws_lambda_powertools.metrics import EphemeralMetrics

        emitter = _emitters[partner] = EphemeralMetrics(namespace=METRICS_NAMESPACE)
        emitter.set_default_dimensions(partner=partner)
    return emitter


def flush_metrics() -> None:
    """One EMF document per partner seen in this invocation (the retry consumer sees several)."""
    from aws_lambda_powertools.metrics import MetricUnit

    with _pending_lock:
        pending = {partner: dict(values) for partner, values in _pending.items()}
        _pending.clear()
    for partner, values in pending.items():
        metrics = _emitter(partner)
        for name, value in values.items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        metrics.flush_metrics()
