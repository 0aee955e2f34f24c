"""X-Ray as Lambda provides it when a function's tracing is Active, on loopback: for tests and bench/.

Lambda runs the X-Ray daemon beside the function (UDP, AWS_XRAY_DAEMON_ADDRESS) and sets a fresh
sampled `_X_AMZN_TRACE_ID` before every invocation. `XRayDaemonStandIn` listens on 127.0.0.1 and
keeps the segment documents the SDK sends, so a traced run proves it was traced; `traced_env` is
the environment of a function with RELAY_TRACING on; `start_trace` is what the runtime does before
each invocation.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from postback_relay.observability import tracing_enabled

TRACE_HEADER_ENV = "_X_AMZN_TRACE_ID"


def trace_header() -> str:
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=1"


def start_trace() -> None:
    """A new sampled trace for the next invocation, when the function is traced."""
    if tracing_enabled():
        os.environ[TRACE_HEADER_ENV] = trace_header()


class XRayDaemonStandIn:
    """A UDP listener on loopback that keeps what the X-Ray SDK emits.

    Its thread only stores datagrams; they are parsed when asked for, so a benchmark's other
    loopback servers in the same process are not slowed down by it.
    """

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 2**20)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.address = f"127.0.0.1:{self._socket.getsockname()[1]}"
        self.quiet_s = 0.3
        self._datagrams: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, name="xray-daemon-stand-in", daemon=True)

    def __enter__(self) -> XRayDaemonStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                self._datagrams.append(self._socket.recv(65536))
            except TimeoutError:
                continue

    def documents(self) -> list[dict[str, Any]]:
        """Every segment or subsegment document received so far, in arrival order."""
        documents = []
        for datagram in list(self._datagrams):
            _, _, body = datagram.partition(b"\n")  # a JSON header line, then the document
            try:
                documents.append(json.loads(body))
            except ValueError:
                continue
        return documents

    def counts(self) -> dict[str, int]:
        """Documents and HTTP subsegments so far, once nothing has arrived for `quiet_s` (the SDK
        sends as it goes)."""
        seen = -1
        while seen != len(self._datagrams):
            seen = len(self._datagrams)
            time.sleep(self.quiet_s)
        documents = self.documents()
        return {"documents": len(documents), "http_subsegments": sum(_count_http(d) for d in documents)}

    def wait_for(self, name: str, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """The documents received, once one named `name` has arrived (or `timeout_s` passed). The
        handler's own subsegment closes last, so waiting for it waits for the whole invocation."""
        deadline = time.monotonic() + timeout_s
        while True:
            documents = self.documents()
            if any(d.get("name") == name for d in documents) or time.monotonic() > deadline:
                return documents
            time.sleep(0.01)


def _count_http(document: dict[str, Any]) -> int:
    """Subsegments that recorded an outgoing HTTP call (`observability.http_call`)."""
    own = 1 if "http" in document and document.get("namespace") == "remote" else 0
    return own + sum(_count_http(child) for child in document.get("subsegments", []))


def traced_env(env: dict[str, str], daemon: XRayDaemonStandIn, task_root: Path) -> dict[str, str]:
    """`env` as a function with RELAY_TRACING=true sees it inside Lambda with tracing Active."""
    return {
        **env,
        "RELAY_TRACING": "true",
        "LAMBDA_TASK_ROOT": str(task_root),  # Powertools Tracer stays disabled outside Lambda
        "AWS_XRAY_DAEMON_ADDRESS": daemon.address,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        TRACE_HEADER_ENV: trace_header(),
    }
