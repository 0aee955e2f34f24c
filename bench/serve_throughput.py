"""Postbacks per second through `postback-relay serve`: `.venv/bin/python bench/serve_throughput.py`.

The local stack (LocalStack, what `serve` runs) in a child process with the template's defaults:
idempotency (DynamoDB) and the raw archive (S3) on, both in moto in that process (InProcessAws); the
retry queue's two pollers running, idle (no outage, so nothing is ever queued); Amplitude either the
built-in emulator (`serve`'s default) or the strict AmplitudeSink stand-in, in the stack's process too.
This process is the load: a few client threads, one keep-alive requests.Session each, POST distinct
AppsFlyer postbacks over real HTTP on 127.0.0.1 (POST /v1/postbacks/appsflyer?token=...) after an
untimed warm-up. Client and stack are separate processes, so the load never takes the stack's GIL.

Every postback is events/appsflyer-install-ios-post.json's body with its own customer_user_id, idfv,
appsflyer_id and event_time: a new idempotency key and archive object each, and two Amplitude calls
(/attribution, and the /identify its customer_user_id brings).

Per configuration: postbacks/s, client latency p50/p90/p99, statuses, the stack's CPU per postback,
and from per-phase timers inside the stack (wall and thread CPU time) where a postback's time goes:
DynamoDB (botocore + moto), S3 (botocore + moto), the Amplitude call and the server answering it,
logging and metrics, the relay's own code, HTTP. One more run of the default configuration under
cProfile (thread CPU time, on every HTTP request thread; one client thread, as the profiler slows the
stack several times over) splits the stack's CPU by part: moto's DynamoDB backend, moto's core,
botocore, the relay, ... (--logs DIR keeps the stacks' logs and that run's .pstats file).

Bounded (a fixed count per run, a deadline on every wait), loopback only, and nothing is asserted
about timings. The JSON goes into bench/results/latest.json under "serve" (the rest of that file, from
bench/run.py, is kept), or with --output into a file of its own; bench/run.py runs this script as a
child (emulator and sink) and carries its JSON in latest.json the same way.

    .venv/bin/python bench/serve_throughput.py                      # every configuration, 2,000 each
    .venv/bin/python bench/serve_throughput.py --configs emulator   # serve's default setup only
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import itertools
import json
import os
import platform
import pstats
import selectors
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TEMPLATE = ROOT / "template.yaml"
EVENT = ROOT / "events" / "appsflyer-install-ios-post.json"
ROUTE = "/v1/postbacks/appsflyer"
SINK_API_KEY = "bench-amplitude-key"
# What a clean shell would not carry into `serve`: anything that points the stack elsewhere.
_STACK_PREFIXES = ("AMPLITUDE_", "RELAY_", "AWS_", "POWERTOOLS_")
STARTUP_TIMEOUT_S = 120.0
REPLY_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Config:
    """One way to run the stack."""

    name: str
    amplitude: str  # "emulator" (serve's default) or "sink" (the strict AmplitudeSink stand-in)
    pollers: bool = True  # the retry queue's pollers, as serve runs them (idle here)
    log_level: str = "INFO"  # the template's LogLevel default
    profile: bool = False  # cProfile instead of the phase timers (slower: its figures are not comparable)
    # False: idempotency and the archive off (no DynamoDB, no S3), to measure the ceiling of everything
    # else on this machine: the relay's code, HTTP on both sides, the Amplitude server, the load.
    aws: bool = True

    def label(self) -> str:
        pollers = "retry pollers idle" if self.pollers else "no retry pollers"
        aws = "" if self.aws else ", no idempotency or archive"
        return f"{self.amplitude}, {pollers}, {self.log_level}{aws}{', under cProfile' if self.profile else ''}"


CONFIGS: dict[str, Config] = {
    config.name: config
    for config in (
        Config("emulator", "emulator"),  # `postback-relay serve` as it starts by default
        Config("sink", "sink"),
        Config("emulator-no-pollers", "emulator", pollers=False),
        Config("emulator-warning", "emulator", log_level="WARNING"),
        Config("sink-no-aws", "sink", aws=False),
        Config("profile", "emulator", profile=True),
    )
}


# ------------------------------------------------------------------------------------------ helpers


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100), as bench/run.py computes it."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def postback_bodies(count: int, first: int) -> list[bytes]:
    """`count` distinct AppsFlyer install postbacks (numbered from `first`), as JSON bodies."""
    template = json.loads(json.loads(EVENT.read_text())["body"])
    base_ms = int(datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC).timestamp() * 1000)
    bodies = []
    for index in range(first, first + count):
        body = dict(template)
        body["customer_user_id"] = f"bench-user-{index}"
        body["idfv"] = f"{body['idfv'][:-12]}{index:012d}"
        body["appsflyer_id"] = f"1710408413589-{index:07d}"
        moment = datetime.fromtimestamp((base_ms + index * 137) / 1000, UTC)
        stamp = f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d}"
        body["event_time"] = body["install_time"] = stamp
        body["event_time_selected_timezone"] = body["install_time_selected_timezone"] = f"{stamp}+0000"
        bodies.append(json.dumps(body).encode())
    return bodies


def environment() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = "unknown"
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        # rev-parse only: it reads the repository and never touches the index, unlike `git status`.
        git = [shutil.which("git") or "git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]
        commit = subprocess.run(git, capture_output=True, text=True, check=True).stdout.strip()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "cpu": cpu,
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "load_average_1m_at_start": os.getloadavg()[0],
    }


# ------------------------------------------------------------------------- the stack's child process


class PhaseTimers:
    """Wall and thread-CPU time of chosen functions, summed while `active`: two clock reads a call."""

    def __init__(self) -> None:
        self.active = False
        self._lock = threading.Lock()
        self.totals: dict[str, list[float]] = {}  # name -> [calls, wall_s, cpu_s]

    def add(self, name: str, wall_s: float, cpu_s: float) -> None:
        with self._lock:
            entry = self.totals.setdefault(name, [0, 0.0, 0.0])
            entry[0] += 1
            entry[1] += wall_s
            entry[2] += cpu_s

    def snapshot(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {name: {"calls": c, "wall_s": w, "cpu_s": t} for name, (c, w, t) in self.totals.items()}

    def wrap(self, owner: Any, attribute: str, name: str) -> None:
        """Time `owner.attribute` (a function looked up at call time, so patching the class is enough)."""
        original = getattr(owner, attribute)
        timers = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            if not timers.active:
                return original(*args, **kwargs)
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                timers.add(name, time.perf_counter() - wall, time.thread_time() - cpu)

        setattr(owner, attribute, timed)


class RequestMeter:
    """Each HTTP request the stack serves (the relay's and Amplitude's), from the moment its request
    line has arrived (parse_request) to its answer flushed: thread CPU and wall into `timers`, and,
    with `profile`, under a per-thread cProfile in thread CPU time. A keep-alive connection's thread
    waits for its next request inside handle_one_request, so that wait is left out."""

    def __init__(self, timers: PhaseTimers, classify: Callable[[Any], str | None], profile: bool) -> None:
        self.timers = timers
        self.classify = classify
        self.profile = profile
        self._local = threading.local()
        self._profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def install(self) -> None:
        from http.server import BaseHTTPRequestHandler

        parse_request = BaseHTTPRequestHandler.parse_request
        handle_one_request = BaseHTTPRequestHandler.handle_one_request
        meter, local = self, self._local

        def parse_request_metered(self: BaseHTTPRequestHandler) -> bool:
            name = meter.classify(self) if meter.timers.active else None
            if name is not None:
                local.started = (name, time.perf_counter(), time.thread_time())
                if meter.profile:
                    meter._thread_profile().enable()
            return parse_request(self)

        def handle_one_request_metered(self: BaseHTTPRequestHandler) -> None:
            local.started = None
            try:
                handle_one_request(self)
            finally:
                started = getattr(local, "started", None)
                if started is not None:
                    local.started = None
                    if meter.profile:
                        meter._thread_profile().disable()
                    name, wall, cpu = started
                    meter.timers.add(name, time.perf_counter() - wall, time.thread_time() - cpu)

        BaseHTTPRequestHandler.parse_request = parse_request_metered  # type: ignore[method-assign]
        BaseHTTPRequestHandler.handle_one_request = handle_one_request_metered  # type: ignore[method-assign]

    def _thread_profile(self) -> cProfile.Profile:
        profile: cProfile.Profile | None = getattr(self._local, "profile", None)
        if profile is None:
            profile = self._local.profile = cProfile.Profile(time.thread_time)
            with self._lock:
                self._profiles.append(profile)
        return profile

    def stats(self) -> pstats.Stats | None:
        with self._lock:
            profiles = list(self._profiles)
        if not profiles:
            return None
        stats = pstats.Stats(profiles[0])
        for profile in profiles[1:]:
            stats.add(profile)
        return stats


RELAY_REQUEST = "relay HTTP request (all of it)"
AMPLITUDE_REQUEST = "Amplitude server request (all of it)"
HANDLER = "relay handler (invoke_route)"
DYNAMODB = "DynamoDB idempotency (botocore + moto)"
S3 = "S3 archive (gzip + botocore + moto)"
AMPLITUDE_CALL = "Amplitude call from the relay (urllib3)"
LOGGING = "logging (JSON log lines)"
METRICS = "metrics (EMF flush)"

# cProfile: the parts CPU time is charged to, by where the code lives (the first match wins: moto's
# services before moto). Time in any other standard-library code or built-in (re, urllib.parse, copy,
# json, isinstance, ...) is charged to whoever called it, up the call graph (in proportion to calls'
# cumulative times), so each part includes the generic work done on its behalf.
_PART_RULES: tuple[tuple[str, str], ...] = (
    ("/moto/dynamodb", "moto DynamoDB backend (expressions, models, responses)"),
    ("/moto/s3", "moto S3 backend"),
    ("/moto/", "moto core (botocore hook, request normalising, dispatch, serialising)"),
    ("/werkzeug/", "moto core (botocore hook, request normalising, dispatch, serialising)"),
    ("/responses/", "moto core (botocore hook, request normalising, dispatch, serialising)"),
    ("/botocore/", "botocore/boto3 client (serialise, sign, parse)"),
    ("/boto3/", "botocore/boto3 client (serialise, sign, parse)"),
    ("/jmespath/", "botocore/boto3 client (serialise, sign, parse)"),
    ("/dateutil/", "botocore/boto3 client (serialise, sign, parse)"),
    ("/aws_lambda_powertools/", "Powertools (routing, idempotency, logger, metrics)"),
    ("/pydantic", "pydantic"),
    ("/postback_relay/emulator/", "Amplitude emulator / sink (incl. SQLite)"),
    ("/postback_relay/local/amplitude_sink.py", "Amplitude emulator / sink (incl. SQLite)"),
    ("/sqlite3/", "Amplitude emulator / sink (incl. SQLite)"),
    ("/postback_relay/local/", "local stack glue (events, routing)"),
    ("/postback_relay/", "relay's own code"),
    ("/urllib3/", "urllib3 (the relay's Amplitude client)"),
    ("/http/server.py", "http.server / socketserver (relay and Amplitude servers)"),
    ("/socketserver.py", "http.server / socketserver (relay and Amplitude servers)"),
    ("/logging/", "logging"),
    ("/gzip.py", "gzip (archive)"),
)
_BUILTIN_RULES: tuple[tuple[str, str], ...] = (
    ("sqlite3", "Amplitude emulator / sink (incl. SQLite)"),
    ("_socket", "socket I/O (send, recv)"),
    ("recv", "socket I/O (send, recv)"),
    ("send", "socket I/O (send, recv)"),
    ("readinto", "socket I/O (send, recv)"),
    ("zlib", "gzip (archive)"),
    ("pydantic_core", "pydantic"),
)
_UNATTRIBUTED = "standard library, caller unknown"
ProfileKey = tuple[str, int, str]


def _part(key: ProfileKey) -> str | None:
    filename, _line, function = key
    if filename == "~" or filename.startswith("<"):
        return next((name for marker, name in _BUILTIN_RULES if marker in function), None)
    return next((name for marker, name in _PART_RULES if marker in filename), None)


def _charge_parts(raw: dict[ProfileKey, tuple[Any, ...]]) -> Counter[str]:
    """Every function's self time charged to a part: its own, or its callers' (see _PART_RULES)."""
    memo: dict[ProfileKey, dict[str, float]] = {}

    def shares(key: ProfileKey, visiting: frozenset[ProfileKey]) -> dict[str, float]:
        """How one unit of `key`'s time divides among parts."""
        part = _part(key)
        if part is not None:
            return {part: 1.0}
        if key in memo:
            return memo[key]
        callers: dict[ProfileKey, tuple[Any, ...]] = raw[key][4] if key in raw else {}
        weights = {c: v[3] for c, v in callers.items() if c not in visiting and c != key and c in raw}
        total = sum(weights.values())
        if total <= 0:
            return {_UNATTRIBUTED: 1.0}
        out: Counter[str] = Counter()
        for caller, weight in weights.items():
            for name, share in shares(caller, visiting | {key}).items():
                out[name] += share * weight / total
        memo[key] = dict(out)
        return memo[key]

    charged: Counter[str] = Counter()
    for key, (_cc, _nc, tottime, _cumtime, callers) in raw.items():
        part = _part(key)
        if part is not None:
            charged[part] += tottime
            continue
        # Self time as spent under each caller, then on up from there.
        edges = {c: v[2] for c, v in callers.items() if c in raw and c != key}
        attributed = sum(edges.values())
        for caller, tottime_from_caller in edges.items():
            for name, share in shares(caller, frozenset({key})).items():
                charged[name] += tottime_from_caller * share
        if tottime > attributed:
            charged[_UNATTRIBUTED] += tottime - attributed
    return charged


# cProfile: inclusive stages, each its entry points' cumulative time.
_STAGE_ENTRIES: tuple[tuple[str, str, str], ...] = (
    (DYNAMODB, "idempotency/persistence/dynamodb.py", "_put_record"),
    (DYNAMODB, "idempotency/persistence/dynamodb.py", "_update_record"),
    (DYNAMODB, "idempotency/persistence/dynamodb.py", "_get_record"),
    (DYNAMODB, "idempotency/persistence/dynamodb.py", "_delete_record"),
    (S3, "postback_relay/archive.py", "put"),
    (AMPLITUDE_CALL, "postback_relay/amplitude/client.py", "_post"),
    ("Amplitude server handling (sink rules; emulator storage)", "postback_relay/local/amplitude_sink.py", "_dispatch"),
    (LOGGING, "logging/__init__.py", "emit"),
    (METRICS, "postback_relay/observability.py", "flush_metrics"),
    (HANDLER, "postback_relay/local/stack.py", "invoke_route"),
)


def profile_breakdown(stats: pstats.Stats, postbacks: int) -> dict[str, Any]:
    """CPU by part (self time, the generic standard library charged to its callers) and the inclusive
    CPU of the stages: ms per postback, and shares of all profiled CPU."""
    raw: dict[ProfileKey, tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values()) or 1.0  # tottime
    stages: Counter[str] = Counter()
    top: list[tuple[float, str]] = []
    for (filename, line, function), (_cc, _nc, tottime, cumtime, _callers) in raw.items():
        top.append((tottime, f"{filename.split('site-packages/')[-1]}:{line}({function})"))
        for stage, path, name in _STAGE_ENTRIES:
            if function == name and filename.endswith(path):
                stages[stage] += cumtime
    top.sort(reverse=True)
    ms = 1000 / max(1, postbacks)

    def rows(counter: Counter[str], key: str) -> list[dict[str, Any]]:
        return [{key: n, "cpu_ms_per_postback": v * ms, "share": v / total} for n, v in counter.most_common()]

    return {
        "profiled_cpu_ms_per_postback": total * ms,
        "by_part": rows(_charge_parts(raw), "part"),
        "stages_inclusive": rows(stages, "stage"),
        "top_functions_self": [
            {"function": name, "cpu_ms_per_postback": v * ms, "share": v / total} for v, name in top[:25]
        ],
    }


def _reply(control: IO[str], message: dict[str, Any]) -> None:
    control.write(json.dumps(message) + "\n")
    control.flush()


def serve_child(config: Config, log_path: Path) -> None:
    """The stack's process: start it, say where it is; measure between `measure` and `done N` (stdin)."""
    # Replies keep the real stdout; the stack's JSON log lines and EMF metrics go to a file instead,
    # as `serve > serve.log` would. POWERTOOLS_LOG_LEVEL came in the environment (the relay's Logger
    # reads it when it is created, on import).
    control = os.fdopen(os.dup(1), "w")
    log_file = open(log_path, "wb")  # noqa: SIM115 - open until the process ends
    os.dup2(log_file.fileno(), 1)

    import logging
    from http.server import BaseHTTPRequestHandler

    import boto3
    from aws_lambda_powertools.utilities.idempotency.persistence.dynamodb import DynamoDBPersistenceLayer

    import postback_relay.api as relay_api
    from postback_relay.amplitude.client import AmplitudeClient
    from postback_relay.archive import Archive
    from postback_relay_tools.local.amplitude_sink import AmplitudeSink
    from postback_relay_tools.local.stack import LocalStack

    sink = AmplitudeSink(api_key=SINK_API_KEY).start() if config.amplitude == "sink" else None
    environment = {"AMPLITUDE_API_KEY": SINK_API_KEY} if sink is not None else {}
    if not config.aws:
        environment |= {"RELAY_IDEMPOTENCY_TABLE": "", "RELAY_ARCHIVE_BUCKET": ""}
    stack = LocalStack(
        TEMPLATE,
        port=0,
        amplitude_url=sink.url if sink is not None else "",  # "": the built-in emulator, whatever the shell says
        state_file=None,
        environment=environment or None,
        consume_retries=config.pollers,
    )
    timers = PhaseTimers()
    errors: Counter[str] = Counter()  # what made the stack answer a bare 500 (it logs nothing itself)
    errors_lock = threading.Lock()
    invoke_route = LocalStack.invoke_route

    def invoke_route_noting_errors(self: LocalStack, route: Any, event: dict[str, Any]) -> dict[str, Any]:
        try:
            return invoke_route(self, route, event)
        except Exception:
            with errors_lock:
                errors[traceback.format_exc(limit=-6)] += 1
            raise

    LocalStack.invoke_route = invoke_route_noting_errors  # type: ignore[method-assign]
    try:
        stack.start()
        amplitude = sink if sink is not None else stack.sink
        assert amplitude is not None
        relay_port, amplitude_port = stack.port, int(amplitude.url.rsplit(":", 1)[1])

        def request_kind(handler: BaseHTTPRequestHandler) -> str | None:
            port = getattr(handler.server, "server_port", None)
            return RELAY_REQUEST if port == relay_port else AMPLITUDE_REQUEST if port == amplitude_port else None

        meter = RequestMeter(timers, request_kind, config.profile)
        meter.install()
        if not config.profile:
            timers.wrap(LocalStack, "invoke_route", HANDLER)
            for method in ("_put_record", "_update_record", "_get_record", "_delete_record"):
                timers.wrap(DynamoDBPersistenceLayer, method, DYNAMODB)
            timers.wrap(Archive, "put", S3)
            timers.wrap(AmplitudeClient, "_post", AMPLITUDE_CALL)
            timers.wrap(logging.StreamHandler, "emit", LOGGING)
            timers.wrap(relay_api, "flush_metrics", METRICS)

        resources = {name: os.environ.get(name, "") for name in ("RELAY_IDEMPOTENCY_TABLE", "RELAY_ARCHIVE_BUCKET")}
        _reply(
            control,
            {
                "url": stack.url,
                "token": stack.relay_token,
                "amplitude_url": stack.state.amplitude_url,
                "environment": {**resources, "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "")},
            },
        )
        cpu_start = wall_start = 0.0
        for line in sys.stdin:
            command, *arguments = line.split() or [""]
            if command == "measure":
                timers.active = True
                cpu_start, wall_start = time.process_time(), time.perf_counter()
                _reply(control, {"measuring": True})
            elif command == "done":
                timers.active = False
                cpu_s, wall_s = time.process_time() - cpu_start, time.perf_counter() - wall_start
                sys.stdout.flush()
                table, bucket = resources["RELAY_IDEMPOTENCY_TABLE"], resources["RELAY_ARCHIVE_BUCKET"]
                scan = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=table, Select="COUNT")
                listing = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
                stats = meter.stats()
                if stats is not None:
                    stats.dump_stats(log_path.with_suffix(".pstats"))  # for pstats / snakeviz, with --logs
                _reply(
                    control,
                    {
                        "server_cpu_s": cpu_s,
                        "server_wall_s": wall_s,
                        "phases": timers.snapshot(),
                        "idempotency_records": sum(page["Count"] for page in scan) if table else 0,
                        "archived_objects": sum(page.get("KeyCount", 0) for page in listing) if bucket else 0,
                        "amplitude_accepted": len(amplitude.received()),
                        "amplitude_rejected": len(amplitude.rejected()),
                        "log_bytes": log_path.stat().st_size,
                        "handler_errors": [{"count": n, "traceback": text} for text, n in errors.most_common(5)],
                        "profile": profile_breakdown(stats, int(arguments[0])) if stats is not None else None,
                    },
                )
                break
    finally:
        stack.stop()
        if sink is not None:
            sink.stop()


# ------------------------------------------------------------------------------------ the load side


class StackProcess:
    """The stack's child process, driven over its stdin and stdout."""

    def __init__(self, config: Config, tmp: Path) -> None:
        env = {name: value for name, value in os.environ.items() if not name.startswith(_STACK_PREFIXES)}
        env["POWERTOOLS_LOG_LEVEL"] = config.log_level
        self.stderr_path = tmp / f"{config.name}.stderr"
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in close()
        args = [sys.executable, str(Path(__file__).resolve()), "--serve-child", config.name]
        self.process = subprocess.Popen(
            [*args, "--log", str(tmp / f"{config.name}.log")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert self.process.stdout is not None
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.process.stdout, selectors.EVENT_READ)

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def read(self, timeout_s: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        if not self._selector.select(timeout_s):
            raise RuntimeError(f"the stack did not answer within {timeout_s:.0f} s: {self._stderr_tail()}")
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the stack exited ({self.process.poll()}): {self._stderr_tail()}")
        message: dict[str, Any] = json.loads(line)
        return message

    def _stderr_tail(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")[-3000:]

    def close(self) -> None:
        self._selector.close()
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()  # our own child, by its handle
            self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()


@dataclass
class Load:
    latencies_ms: list[float]
    statuses: Counter[int]  # 0: no answer (connection error or timeout)
    wall_s: float
    client_cpu_s: float  # this process's CPU while sending (the load generator's own cost)
    finished_s: list[float]  # when each answer came, from the start, in order

    def rate_by_quarter(self) -> list[float]:
        """Postbacks/s in each quarter of the run (by answers): a drift shows here."""
        count = len(self.finished_s)
        edges = [0.0] + [self.finished_s[min(count - 1, (count * q) // 4 - 1)] for q in range(1, 5)]
        return [(count / 4) / max(1e-9, edges[q + 1] - edges[q]) for q in range(4)]


def send_all(url: str, sessions: list[Any], bodies: list[bytes]) -> Load:
    """POST every body, each client thread on its own session, as fast as answers come back."""
    import requests

    next_index = itertools.count()
    latencies: list[list[float]] = [[] for _ in sessions]
    finished: list[list[float]] = [[] for _ in sessions]
    statuses: list[Counter[int]] = [Counter() for _ in sessions]
    start = threading.Barrier(len(sessions) + 1)
    headers = {"content-type": "application/json", "user-agent": "AppsFlyer"}

    def client(slot: int) -> None:
        session, mine, seen, done = sessions[slot], latencies[slot], statuses[slot], finished[slot]
        start.wait()
        while (index := next(next_index)) < len(bodies):
            began = time.perf_counter()
            try:
                status = session.post(url, data=bodies[index], headers=headers, timeout=REQUEST_TIMEOUT_S).status_code
            except requests.RequestException:
                status = 0
            now = time.perf_counter()
            mine.append((now - began) * 1000)
            done.append(now)
            seen[status] += 1

    threads = [threading.Thread(target=client, args=(slot,), name=f"load-{slot}") for slot in range(len(sessions))]
    for thread in threads:
        thread.start()
    start.wait()
    began, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    wall_s, cpu_s = time.perf_counter() - began, time.process_time() - cpu
    answers = sorted(t - began for values in finished for t in values)
    return Load([v for values in latencies for v in values], sum(statuses, Counter()), wall_s, cpu_s, answers)


def run_config(config: Config, postbacks: int, warmup: int, threads: int, tmp: Path, first: int) -> dict[str, Any]:
    import requests

    stack = StackProcess(config, tmp)
    try:
        ready = stack.read(STARTUP_TIMEOUT_S)
        missing = [
            name for name in ("RELAY_IDEMPOTENCY_TABLE", "RELAY_ARCHIVE_BUCKET") if not ready["environment"][name]
        ]
        if missing and config.aws:
            raise RuntimeError(f"the stack runs without {', '.join(missing)}: idempotency or the archive is off")
        url = f"{ready['url']}{ROUTE}?token={ready['token']}"
        sessions = [requests.Session() for _ in range(threads)]
        warm = send_all(url, sessions, postback_bodies(warmup, first))
        stack.send("measure")
        stack.read(REPLY_TIMEOUT_S)
        load = send_all(url, sessions, postback_bodies(postbacks, first + warmup))
        stack.send(f"done {postbacks}")
        server = stack.read(REPLY_TIMEOUT_S)
        for session in sessions:
            session.close()
    finally:
        stack.close()
    return summarise(config, ready, warm, load, server, postbacks, warmup, threads)


def summarise(
    config: Config,
    ready: dict[str, Any],
    warm: Load,
    load: Load,
    server: dict[str, Any],
    postbacks: int,
    warmup: int,
    threads: int,
) -> dict[str, Any]:
    latencies = load.latencies_ms
    ms = 1000 / postbacks
    phases: dict[str, dict[str, float]] = server["phases"]

    def cpu(name: str) -> float:
        return phases.get(name, {}).get("cpu_s", 0.0) * ms

    def wall(name: str) -> float:
        return phases.get(name, {}).get("wall_s", 0.0) * ms

    server_cpu = server["server_cpu_s"] * ms
    breakdown: dict[str, float] = {}
    if not config.profile:
        inside = cpu(DYNAMODB) + cpu(S3) + cpu(AMPLITUDE_CALL) + cpu(LOGGING) + cpu(METRICS)
        breakdown = {
            DYNAMODB: cpu(DYNAMODB),
            S3: cpu(S3),
            AMPLITUDE_CALL + ", client side": cpu(AMPLITUDE_CALL),
            "Amplitude server (emulator/sink) answering": cpu(AMPLITUDE_REQUEST),
            LOGGING: cpu(LOGGING),
            METRICS: cpu(METRICS),
            "relay's own code (Powertools routing and idempotency, parse, map, pydantic)": cpu(HANDLER) - inside,
            "relay HTTP server (http.server, event building, reply)": cpu(RELAY_REQUEST) - cpu(HANDLER),
            "other threads (pollers, accept loops, moto server, GC)": server_cpu
            - cpu(RELAY_REQUEST)
            - cpu(AMPLITUDE_REQUEST),
        }
    return {
        "config": config.name,
        "label": config.label(),
        "amplitude": config.amplitude,
        "retry_pollers": config.pollers,
        "log_level": ready["environment"]["POWERTOOLS_LOG_LEVEL"],
        "profiled": config.profile,
        "stack_environment": ready["environment"],
        "threads": threads,
        "warmup": warmup,
        "warmup_statuses": {str(k): v for k, v in sorted(warm.statuses.items())},
        "postbacks": postbacks,
        "statuses": {str(k): v for k, v in sorted(load.statuses.items())},
        "answered_200": load.statuses.get(200, 0),
        "wall_s": load.wall_s,
        "postbacks_per_s": postbacks / load.wall_s,
        "postbacks_per_s_by_quarter": load.rate_by_quarter(),
        "client_cpu_ms_per_postback": load.client_cpu_s * ms,
        "latency_ms": {
            "p50": pct(latencies, 50),
            "p90": pct(latencies, 90),
            "p99": pct(latencies, 99),
            "mean": statistics.fmean(latencies),
            "max": max(latencies),
        },
        "server_cpu_ms_per_postback": server_cpu,
        "server_cpu_utilisation": server["server_cpu_s"] / max(1e-9, server["server_wall_s"]),
        "cpu_breakdown_ms_per_postback": breakdown,
        "wall_ms_per_postback": {
            name: wall(name) for name in (RELAY_REQUEST, HANDLER, DYNAMODB, S3, AMPLITUDE_CALL, AMPLITUDE_REQUEST)
        }
        if not config.profile
        else {},
        "phases": phases,
        "idempotency_records": server["idempotency_records"],
        "archived_objects": server["archived_objects"],
        "amplitude_accepted": server["amplitude_accepted"],
        "amplitude_rejected": server["amplitude_rejected"],
        "handler_errors": server["handler_errors"],
        "log_bytes_per_postback": server["log_bytes"] / (postbacks + warmup),
        "profile": server["profile"],
    }


# ------------------------------------------------------------------------------------------ report


def report(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [
        f"serve throughput ({env['date']}; commit {env.get('commit', 'unknown')}; {env['cpu']}, "
        f"{env['usable_cores']} cores; Python {env['python']}; load average {env['load_average_1m_at_start']:.1f}"
        f" → {results['load_average_1m_at_end']:.1f}; "
        f"{results['threads']} keep-alive client threads in another process; idempotency and archive on):",
        "",
        "| Configuration | Postbacks/s | p50 | p90 | p99 | 200s | Stack CPU/postback | Log bytes/postback |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in results["runs"]:
        latency = run["latency_ms"]
        lines.append(
            f"| {run['label']} | {run['postbacks_per_s']:.0f} | {latency['p50']:.1f} ms | {latency['p90']:.1f} ms | "
            f"{latency['p99']:.1f} ms | {run['answered_200']}/{run['postbacks']} | "
            f"{run['server_cpu_ms_per_postback']:.2f} ms ({run['server_cpu_utilisation']:.0%} of a core) | "
            f"{run['log_bytes_per_postback']:.0f} |"
        )
    quarters = "; ".join(
        f"{run['config']} {'/'.join(f'{rate:.0f}' for rate in run['postbacks_per_s_by_quarter'])}"
        for run in results["runs"]
    )
    client_cpu = ", ".join(f"{run['config']} {run['client_cpu_ms_per_postback']:.2f} ms" for run in results["runs"])
    others = "; ".join(
        f"{run['config']}: "
        + ", ".join(f"{count} x {code}" for code, count in run["statuses"].items() if code != "200")
        for run in results["runs"]
        if set(run["statuses"]) - {"200"}
    )
    lines += [
        "",
        f"Postbacks/s by quarter of each run (a drift would show here): {quarters}.",
        f"Load generator CPU per postback (its own process): {client_cpu}.",
        f"Answers other than 200: {others or 'none'}."
        + (
            " 202: the relay's 800 ms sync budget ran out; the Amplitude calls were queued for the retry consumer."
            if "202" in others
            else ""
        )
        + (" 500: the handler raised (tracebacks under handler_errors in the JSON)." if "500" in others else ""),
    ]
    default = next((run for run in results["runs"] if run["config"] == "emulator"), None)
    if default is not None and default["cpu_breakdown_ms_per_postback"]:
        total = default["server_cpu_ms_per_postback"]
        lines += [
            "",
            f"Where the stack's CPU goes ({default['label']}; phase timers, thread CPU, per postback):",
            "",
            "| Part | CPU ms/postback | Share |",
            "|---|---:|---:|",
        ]
        for name, value in sorted(default["cpu_breakdown_ms_per_postback"].items(), key=lambda kv: -kv[1]):
            lines.append(f"| {name} | {value:.2f} | {value / total:.0%} |")
        walls = default["wall_ms_per_postback"]
        lines += [
            "",
            "Wall time per postback inside the stack (ms, includes waiting for the GIL): "
            + ", ".join(f"{name} {value:.2f}" for name, value in walls.items()),
        ]
    profiled = next((run for run in results["runs"] if run["profile"]), None)
    if profiled is not None:
        profile = profiled["profile"]
        lines += [
            "",
            f"cProfile ({profiled['label']}, {profiled['threads']} client thread(s), "
            f"{profiled['postbacks_per_s']:.0f}/s under the profiler; "
            f"{profile['profiled_cpu_ms_per_postback']:.2f} ms profiled CPU per postback), by part:",
            "",
            "| Part (self time; generic stdlib charged to its caller) | CPU ms/postback, profiled | Share |",
            "|---|---:|---:|",
        ]
        lines += [
            f"| {row['part']} | {row['cpu_ms_per_postback']:.2f} | {row['share']:.0%} |"
            for row in profile["by_part"]
            if row["share"] >= 0.005
        ]
        lines += [
            "",
            "Inclusive stages: " + ", ".join(f"{r['stage']} {r['share']:.0%}" for r in profile["stages_inclusive"]),
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--postbacks", type=int, default=2000, help="measured postbacks per configuration")
    parser.add_argument("--warmup", type=int, default=200, help="untimed postbacks before each measurement")
    parser.add_argument("--threads", type=int, default=6, help="keep-alive client threads")
    parser.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help=f"comma-separated, from: {', '.join(CONFIGS)} (default: all; 'emulator' is serve's default)",
    )
    parser.add_argument("--profile-postbacks", type=int, default=200, help="measured postbacks of the cProfile run")
    parser.add_argument(
        "--profile-threads",
        type=int,
        default=1,
        help="client threads of the cProfile run (more would push answers past the relay's 800 ms sync budget "
        "under the profiler's slowdown, and the Amplitude calls would be queued: another path)",
    )
    parser.add_argument(
        "--output", type=Path, help='write the JSON here (default: under "serve" in bench/results/latest.json)'
    )
    parser.add_argument("--logs", type=Path, help="keep the stacks' logs and stderr here (default: discarded)")
    parser.add_argument("--serve-child", choices=sorted(CONFIGS), help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()

    if options.serve_child:
        serve_child(CONFIGS[options.serve_child], options.log)
        return

    names = [name.strip() for name in options.configs.split(",") if name.strip()]
    unknown = [name for name in names if name not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration(s) {', '.join(unknown)}; known: {', '.join(CONFIGS)}")
    started = time.perf_counter()
    results: dict[str, Any] = {"environment": environment(), "threads": options.threads, "runs": []}
    with tempfile.TemporaryDirectory(prefix="postback-serve-bench-") as tmp_name:
        logs = options.logs or Path(tmp_name)
        logs.mkdir(parents=True, exist_ok=True)
        for number, name in enumerate(names):
            config = CONFIGS[name]
            count = options.profile_postbacks if config.profile else options.postbacks
            threads = options.profile_threads if config.profile else options.threads
            print(
                f"[serve bench {time.perf_counter() - started:5.1f}s] {config.label()}: "
                f"{options.warmup} warm-up + {count} postbacks, {threads} client threads",
                file=sys.stderr,
                flush=True,
            )
            # Each run numbers its postbacks apart from the others: nothing is ever a resend.
            first = number * 1_000_000
            run = run_config(config, count, options.warmup, threads, logs, first)
            results["runs"].append(run)
    results["elapsed_s"] = time.perf_counter() - started
    results["load_average_1m_at_end"] = os.getloadavg()[0]
    output: Path = options.output or RESULTS / "latest.json"
    document = results
    if options.output is None:
        # bench/run.py's results stay; only "serve" is this run's.
        document = {}
        with contextlib.suppress(OSError, ValueError):
            document = json.loads(output.read_text())
        document["serve"] = results
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2) + "\n")
    print(report(results))
    shown = output.relative_to(ROOT) if output.is_relative_to(ROOT) else output
    where = "" if options.output else ', under "serve"'
    print(f"\nJSON: {shown}{where}")


if __name__ == "__main__":
    main()
