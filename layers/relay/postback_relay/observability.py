"""Logger configured once; imported everywhere. Never log tokens, keys or raw advertising ids."""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger

logger = Logger(service="postback-relay")
METRICS_NAMESPACE = "PostbackRelay"


_pending: defaultdict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
_pending_lock = threading.Lock()
_flush_lock = threading.Lock()


def count(metric: str, partner: str | None, value: float = 1) -> None:
    """Add to a per-partner counter; `flush_metrics` writes them once per invocation."""
    with _pending_lock:
        _pending[partner or "unknown"][metric] += value


_maxima: defaultdict[str, dict[str, float]] = defaultdict(dict)


def observe_max(metric: str, partner: str | None, seconds: float) -> None:
    """Keep the largest value of a per-partner duration (seconds) seen in this invocation."""
    with _pending_lock:
        values = _maxima[partner or "unknown"]
        values[metric] = max(seconds, values.get(metric, seconds))


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
        maxima = {partner: dict(values) for partner, values in _maxima.items()}
        _pending.clear()
        _maxima.clear()
    # One flush at a time: an emitter is shared by every thread of the process, and two flushes
    # interleaving left one of them empty ("Must contain at least one metric": a 500 under `serve`,
    # where invocations run in threads; a Lambda container runs one invocation at a time).
    with _flush_lock:
        for partner in pending.keys() | maxima.keys():
            metrics = _emitter(partner)
            for name, value in pending.get(partner, {}).items():
                metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
            for name, value in maxima.get(partner, {}).items():
                metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=value)
            metrics.flush_metrics()


TRACING_ENV = "RELAY_TRACING"
# What the X-Ray SDK patches: boto3's clients (SQS, DynamoDB, S3, SSM). Amplitude calls go over
# urllib3 2, which bypasses the http.client method the SDK's "httplib" patch wraps: `http_call`
# records those.
TRACED_MODULES = ("botocore",)
Handler = TypeVar("Handler", bound=Callable[..., Any])


def tracing_enabled() -> bool:
    """X-Ray tracing through Powertools Tracer, off unless RELAY_TRACING=true (template parameter
    XRayTracing). Read at cold start, from the environment directly: it decides an import."""
    return os.environ.get(TRACING_ENV, "").strip().lower() in ("true", "1", "yes")


def traced(handler: Handler) -> Handler:
    """`handler` under Powertools Tracer when tracing is on; else `handler` itself, and aws_xray_sdk,
    Powertools' heaviest import, is never loaded (bench/ measures both: docs/scaling.md).

    On, every Amplitude call (`http_call`) and every SQS, DynamoDB and S3 request is a subsegment.
    Handler responses are not recorded (capture_response=False): what matters is in the subsegments.
    What X-Ray records of them is names, statuses and timings: the S3 archive key carries the
    postback id (a hash, also in the log line); no key, token, device id or user id is recorded.
    """
    global _tracer
    if not tracing_enabled():
        return handler
    from aws_lambda_powertools import Tracer

    _tracer = Tracer(patch_modules=TRACED_MODULES)
    wrapped: Handler = _tracer.capture_lambda_handler(handler, capture_response=False)
    return wrapped


_tracer: Any = None  # the Powertools Tracer, once `traced` has turned tracing on


def _ignore_status(status: int | None) -> None:
    pass


@contextmanager
def _http_subsegment(url: str) -> Iterator[Callable[[int | None], None]]:
    parts = urlsplit(url)
    with _tracer.provider.in_subsegment(parts.hostname or url) as subsegment:
        subsegment.namespace = "remote"  # a node of its own on the X-Ray service map
        subsegment.put_http_meta("method", "POST")
        port = f":{parts.port}" if parts.port else ""
        subsegment.put_http_meta("url", f"{parts.scheme}://{parts.hostname}{port}{parts.path}")  # no userinfo

        def record_status(status: int | None) -> None:
            if status is None:  # timed out or no connection: no answer at all
                subsegment.add_fault_flag()
            else:  # the SDK flags 429 as a throttle, other 4xx as errors, 5xx as faults
                subsegment.put_http_meta("status", status)

        yield record_status


def http_call(url: str) -> Any:
    """A context manager around one POST to `url`, yielding `record(status)` (None: no answer): an
    X-Ray subsegment when tracing is on, nothing otherwise."""
    return _http_subsegment(url) if _tracer is not None else nullcontext(_ignore_status)
