"""Logger configured once; imported everywhere. Never log tokens, keys or raw advertising ids."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="postback-relay")
METRICS_NAMESPACE = "PostbackRelay"


def count(metric: str, partner: str | None, value: float = 1) -> None:
    """One EMF metric, dimensioned by partner (the retry consumer sees several partners per batch)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=metric, unit=MetricUnit.Count, value=value, namespace=METRICS_NAMESPACE) as metric_:
        metric_.add_dimension(name="partner", value=partner or "unknown")
