"""boto3 clients with timeouts that fit the relay's deadlines, created lazily, once per container.

botocore's defaults (60 s connect and read, retries on top) would let one slow AWS call outlast a
partner's ~2 s patience and the function's 5 s timeout. Each client here gets timeouts and a retry
budget sized to what it is for (docs/delivery.md, "One deadline per invocation"):

- `hot_path`: DynamoDB idempotency and S3 archive on the partner-facing path. Tens of milliseconds
  when healthy; a slow answer is cut short so the Amplitude attempt and the answer still fit.
- `must_succeed`: SQS sends that make a postback ours (retry queue, DLQ). A few quick tries: if they
  all fail the partner gets 503 and resends, so the whole budget stays inside the function timeout.
- `secrets`: SSM Parameter Store / Secrets Manager, read once per cache period.
- `tooling`: the operators' commands, where botocore's patient defaults are right.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from botocore.config import Config

Purpose = Literal["hot_path", "archive", "must_succeed", "secrets", "tooling"]

# (connect s, read s, total attempts). Worst cases: hot_path 2 x 0.5 s, archive 0.6 s,
# must_succeed 3 x 0.8 s: with the 800 ms Amplitude budget all of it fits the 5 s function timeout.
TIMEOUTS: dict[Purpose, tuple[float, float, int]] = {
    "hot_path": (0.2, 0.3, 2),
    "archive": (0.2, 0.4, 1),  # best effort: a failed write is counted and alarmed, never retried here
    "must_succeed": (0.3, 0.5, 3),
    "secrets": (0.3, 0.7, 2),
    "tooling": (5.0, 60.0, 5),  # operators' commands (replay, export): nobody waits on them but a person
}


@cache
def boto_config(purpose: Purpose) -> Config:
    from botocore.config import Config

    connect_s, read_s, attempts = TIMEOUTS[purpose]
    return Config(
        connect_timeout=connect_s,
        read_timeout=read_s,
        retries={"mode": "standard", "total_max_attempts": attempts},
    )


# boto3's default session is not thread-safe to create clients from (boto/boto3#1592), and the
# archive's writer runs beside the Amplitude attempt: clients are made one at a time.
_CREATING = threading.Lock()


@cache
def client(service: str, purpose: Purpose) -> Any:
    """One client per service and purpose, per container."""
    import boto3

    with _CREATING:
        return boto3.client(service, config=boto_config(purpose))  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget every client (tests and `serve` change endpoints and credentials)."""
    client.cache_clear()


def error_code(error: BaseException) -> str | None:
    """The AWS error code a botocore ClientError carries ("ThrottlingException"), else None: what
    the logs may say of an AWS failure (its message can quote the request)."""
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return str(code) if code else None
