"""Metrics from invocations running in threads (`serve` runs each request in one): a flush must
never find the shared emitter emptied by another thread's flush (that was a bare 500 under serve)."""

from __future__ import annotations

import sys
import threading

import pytest

from postback_relay.observability import count, flush_metrics, observe_max


def test_concurrent_flushes_of_one_partner_never_fail(capsys: pytest.CaptureFixture[str]) -> None:
    failures: list[BaseException] = []
    start = threading.Barrier(6)

    def invocation() -> None:
        start.wait()
        for _ in range(150):
            try:
                count("received", "appsflyer")
                observe_max("retry_age_seconds", "appsflyer", 1.0)
                flush_metrics()
            except Exception as error:  # what the handler would have turned into a 500
                failures.append(error)

    threads = [threading.Thread(target=invocation) for _ in range(6)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race shows at once
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    capsys.readouterr()
    assert failures == []
