"""Child process of the warm-overhead benchmark.

    python bench/warm_child.py RESULT.json HANDLER.py EVENT.json ITERATIONS WARMUP

One warm container: the relay handler, loaded by file path as Lambda does, invoked ITERATIONS times
with EVENT.json (after WARMUP untimed invocations), interleaved in blocks with the physical floor:
one bare keep-alive `requests.Session().post` of the very form the relay sent (read back from the
stand-in's /_sink/received) to the same loopback Amplitude stand-in; and, for reference, the same POST
over urllib3 alone (what requests itself sits on). Logs go to the discarded stdout. With
RELAY_TRACING=true in the environment (postback_relay_tools.local.xray.traced_env) the relay runs traced.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import requests
import urllib3

from postback_relay_tools.local.events import lambda_context
from postback_relay_tools.local.template import FunctionSpec
from postback_relay_tools.local.xray import start_trace

BLOCK = 50


def main() -> None:
    result_path, source, event_path = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    iterations, warmup = int(sys.argv[4]), int(sys.argv[5])
    sink_url = os.environ["AMPLITUDE_API_URL"].rstrip("/")
    api_key = os.environ["AMPLITUDE_API_KEY"]

    spec = FunctionSpec("BenchFunction", source.parent.resolve(), f"{source.stem}.handler", 5, 256)
    handler = spec.load()
    event = json.loads(event_path.read_text())

    def relay_once() -> int:
        context = lambda_context("bench", 5.0, 256)
        start_trace()  # with RELAY_TRACING on, what the Lambda runtime does before each invocation
        started = time.perf_counter_ns()
        answer = handler(event, context)
        elapsed = time.perf_counter_ns() - started
        if answer["statusCode"] != 200:
            raise SystemExit(f"relay answered {answer['statusCode']}: {answer.get('body')}")
        return elapsed

    for _ in range(warmup):
        relay_once()

    # The exact attribution event the relay sends, re-encoded the way the relay's client does.
    snapshot = requests.get(f"{sink_url}/_sink/received", timeout=10).json()
    payload = snapshot["attribution"][-1]["payload"]
    form = {"api_key": api_key, "event": json.dumps(payload, separators=(",", ":"), ensure_ascii=False)}
    session = requests.Session()
    url = f"{sink_url}/attribution"

    def floor_once() -> int:
        started = time.perf_counter_ns()
        response = session.post(url, data=form, timeout=(0.5, 0.8))
        elapsed = time.perf_counter_ns() - started
        if response.status_code != 200:
            raise SystemExit(f"stand-in answered {response.status_code}: {response.text}")
        return elapsed

    # A second, lower floor: the same POST over urllib3 alone (no requests Session machinery).
    pool = urllib3.PoolManager(maxsize=1, retries=False)
    encoded = urlencode(form).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}

    def urllib3_once() -> int:
        started = time.perf_counter_ns()
        response = pool.request("POST", url, body=encoded, headers=headers, timeout=urllib3.Timeout(0.5, 0.8))
        elapsed = time.perf_counter_ns() - started
        if response.status != 200:
            raise SystemExit(f"stand-in answered {response.status}: {response.data!r}")
        return elapsed

    for _ in range(warmup):
        floor_once()
        urllib3_once()

    relay_ns: list[int] = []
    floor_ns: list[int] = []
    urllib3_ns: list[int] = []
    while len(relay_ns) < iterations:
        relay_ns.extend(relay_once() for _ in range(BLOCK))
        floor_ns.extend(floor_once() for _ in range(BLOCK))
        urllib3_ns.extend(urllib3_once() for _ in range(BLOCK // 2))
    result_path.write_text(
        json.dumps(
            {"relay_ns": relay_ns, "floor_ns": floor_ns, "urllib3_ns": urllib3_ns, "form_bytes": len(form["event"])}
        )
    )


if __name__ == "__main__":
    main()
