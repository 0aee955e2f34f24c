"""The local stack behind `postback-relay serve`: no Docker, the same handlers as Lambda.

- Every HttpApi route of template.yaml, each served by invoking its function's handler with an
  API Gateway v2 event.
- SQS, DynamoDB and S3 from moto, in this process (`mock_aws`: no HTTP between the handlers and
  moto), and the same state served over HTTP on a loopback port for other processes (the CLI in
  another shell); the retry queue consumed the way the SQS event source does it (batches, partial
  failures, message delays, redrive to the DLQ).
- With `virtual_clock`, the whole stack runs on a clock that moves only when told
  (`POST /_clock/advance`, `GET /_clock`; local/clock.py), and the retry queue is consumed as the
  clock passes each message's due instant.
- Amplitude is AMPLITUDE_API_URL when set, otherwise a built-in strict stand-in that records what it
  receives (`GET /_sink/received` on its port).
- A state file (.postback-relay/serve.json) lets `postback-relay dlq ...` in another shell find the
  queues.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from postback_relay.queues import Queue, reset_clients
from postback_relay.runtime import loading_environment, reset_runtime

from . import moto_firehose
from .clock import VirtualClock, next_due_s
from .events import LocalLambdaContext, SqsMessage, http_api_event, sqs_event
from .template import FunctionSpec, Handler, HttpRoute, QueueConsumer, find_route, load_template

STATE_FILE = Path(".postback-relay") / "serve.json"
# API Gateway HTTP APIs refuse payloads above 10 MB before any Lambda runs.
MAX_GATEWAY_PAYLOAD = 10 * 1024 * 1024
LOCAL_AMPLITUDE_KEY = "local-amplitude-key"
# The raw archive's bucket (template.yaml): the operators' commands read it, Firehose writes it.
ARCHIVE_BUCKET = "ArchiveBucket"
_REGION = "us-east-1"
# Locally a failed batch item comes back after this many seconds instead of the full
# visibility timeout, so a developer sees redrive behaviour in seconds, not minutes.
LOCAL_FAILED_ITEM_VISIBILITY_S = 2
CONSUMER_POLLERS = 2


# Variables of the one token list that used to open every route (the relay refuses them).
_SHARED_TOKEN_VARIABLES = ("RELAY_TOKEN", "RELAY_TOKEN_PARAMETER")


def tokens_for_every_route(make_token: Callable[[], str], networks_dir: str | None = None) -> dict[str, Any]:
    """A RELAY_TOKENS object naming every partner and every mapping-file network (of `networks_dir`,
    default RELAY_NETWORKS_DIR or the package's), each given `make_token()`: a fresh token each,
    or, for tests and scripts, one token given to all explicitly."""
    from postback_relay.partners.custom import load_networks
    from postback_relay.partners.registry import coded_partners
    from postback_relay.secrets import CUSTOM_NETWORKS

    tokens: dict[str, Any] = {partner: [make_token()] for partner in sorted(coded_partners())}
    tokens[CUSTOM_NETWORKS] = {network: [make_token()] for network in sorted(load_networks(networks_dir))}
    return tokens


def route_tokens(token_map: dict[str, Any]) -> dict[str, str]:
    """The token to paste for each route of a RELAY_TOKENS object (the first of its list), by route:
    "appsflyer", ..., "custom/unity-ads". Invalid lists fail here, at start, as the relay would."""
    from postback_relay.secrets import CUSTOM_NETWORKS, parse_tokens

    routes: dict[str, str] = {}
    for name, value in token_map.items():
        if name == CUSTOM_NETWORKS and isinstance(value, dict):
            for network, tokens in value.items():
                routes[f"{CUSTOM_NETWORKS}/{network}"] = parse_tokens(tokens, f"RELAY_TOKENS[{name!r}][{network!r}]")[0]
        elif name != CUSTOM_NETWORKS:
            routes[name] = parse_tokens(value, f"RELAY_TOKENS[{name!r}]")[0]
    return routes


@dataclass(frozen=True)
class StackState:
    """What another process needs to reach this stack's queues."""

    endpoint_url: str
    retry_queue_url: str
    dlq_url: str
    amplitude_url: str
    relay_url: str
    resources: dict[str, str] = field(default_factory=dict)  # logical id -> local name or URL

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.__dict__, indent=2))
        path.chmod(0o600)

    @classmethod
    def read(cls, path: Path) -> StackState | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


class InProcessAws:
    """moto in this process: the handlers reach it through botocore's own hooks (`mock_aws`), with
    no HTTP and no server thread between them, and a virtual clock (time-machine) moves moto's time
    with the relay's. The same backends are served over HTTP on a loopback port for processes that
    are not this one (the CLI in another shell reads the endpoint from the state file).

    Through serve, a postback with idempotency and the archive on costs ≈ 30 ms of CPU, three
    quarters of it botocore and moto (bench/serve_throughput.py); the ≈ 64 ms answers measured
    before were mostly a 40 ms Nagle delay on serve's replies (fixed in the request handler)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._mock: Any = None
        self._server: Any = None

    @property
    def endpoint(self) -> str:
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def start(self) -> InProcessAws:
        from moto import mock_aws
        from moto.server import ThreadedMotoServer

        from . import moto_speedups

        moto_speedups.apply()
        self._mock = mock_aws()
        self._mock.start()
        self._server = ThreadedMotoServer(ip_address=self.host, port=0, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        mock, self._mock = self._mock, None
        if mock is not None:
            mock.stop()


class LocalStack:
    def __init__(
        self,
        template_path: Path = Path("template.yaml"),
        host: str = "127.0.0.1",
        port: int = 3000,
        amplitude_url: str | None = None,
        state_file: Path | None = STATE_FILE,
        environment: dict[str, str] | None = None,
        consume_retries: bool = True,
        amplitude_port: int = 0,
        virtual_clock: bool = False,
        clock_start_s: float | None = None,
        parameter_overrides: dict[str, str] | None = None,
        function_environments: dict[str, dict[str, str]] | None = None,
    ) -> None:
        # As `sam deploy --parameter-overrides` would set them: e.g. a partner's allowed ranges.
        self.template = load_template(template_path, parameter_overrides)
        self.host, self.port = host, port
        self._amplitude_url = amplitude_url if amplitude_url is not None else os.environ.get("AMPLITUDE_API_URL")
        self._state_file = state_file
        self._extra_environment = environment or {}
        self._consume_retries = consume_retries
        self._amplitude_port = amplitude_port
        self._handlers: dict[str, Handler] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._saved_environ: dict[str, str] | None = None
        # Variables the stack sets for the operators' commands in its process only, not for functions.
        self._operator_variables: set[str] = set()
        # What the stack itself decides for every function (the local Amplitude, resource names).
        self._local_environment: dict[str, str] = {}
        # Variables for one function only, by logical id, over everything else (tests).
        self._function_environments = function_environments or {}
        self._stack_id = secrets.token_hex(3)
        self._moto: InProcessAws | None = None
        self.sink: Any = None
        self.clock: VirtualClock | None = VirtualClock(clock_start_s) if virtual_clock else None
        # One advance at a time; retry batches run only inside it (virtual clock) or on pollers.
        self._clock_lock = threading.Lock()
        self._sqs: Any = None
        self._locks_guard = threading.Lock()
        self._invocation_locks: dict[str, threading.Lock] = {}
        self._server: ThreadingHTTPServer | None = None
        self.relay_token = ""
        self.relay_tokens: dict[str, str] = {}
        self.queue_urls: dict[str, str] = {}
        self.physical_ids: dict[str, str] = {}
        self.queue_arns: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> LocalStack:
        try:
            return self._start()
        except BaseException:
            self.stop()  # leave no server, thread or environment change behind
            raise

    def _start(self) -> LocalStack:
        if self.clock is not None:
            self.clock.start()  # before anything reads the time: moto, the emulator, the relay
        self._moto = InProcessAws(self.host).start()

        if not self._amplitude_url:
            # The local Amplitude: strict ingestion, users and properties in SQLite, Dashboard REST API.
            from ..emulator import AmplitudeEmulator

            api_key = os.environ.get("AMPLITUDE_API_KEY") or LOCAL_AMPLITUDE_KEY
            self.sink = AmplitudeEmulator(api_key=api_key, port=self._amplitude_port).start()
            self._amplitude_url = self.sink.url
            self._extra_environment.setdefault("AMPLITUDE_API_KEY", api_key)
        token_map = self._token_map()
        self.relay_tokens = route_tokens(token_map)
        # The AppsFlyer route's token: the banner's example postback is an AppsFlyer one.
        self.relay_token = self.relay_tokens.get("appsflyer", "")
        essentials = {
            # The local stack never talks to real AWS, whatever credentials the shell holds: moto's
            # hooks answer in process (so no AWS_ENDPOINT_URL here; other processes get one from
            # the state file).
            "AWS_DEFAULT_REGION": _REGION,
            "AWS_REGION": _REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
        }
        self._saved_environ = dict(os.environ)
        os.environ.pop("AWS_ENDPOINT_URL", None)
        os.environ.pop("AWS_PROFILE", None)
        os.environ.update(essentials)
        reset_clients()
        physical_ids = self.physical_ids = self._create_resources()
        # The functions' environment as the template sets it (parameter defaults, resource names),
        # then what the developer's shell sets, then what the local stack itself must decide.
        resolved = self._resolved(self.template.environment)
        # The stack's own resources, whatever the shell says: the shell's names are not in moto.
        # Only the shared ones (Globals): a function's own (its archive stream) are its own.
        resources = {
            name: resolved[name]
            for name, value in self.template.environment.items()
            if isinstance(value, dict) and value.get("Ref") in physical_ids and name in self.template.global_environment
        }
        template_environment = {k: v for k, v in resolved.items() if k not in os.environ}
        local_environment = {
            "AMPLITUDE_API_URL": self._amplitude_url,
            **resources,
            **{k: v for k, v in self._extra_environment.items() if k not in _SHARED_TOKEN_VARIABLES},
            "RELAY_TOKENS": json.dumps(token_map),
        }
        # The relay refuses the one-list-for-every-route variables; here RELAY_TOKEN only said which
        # token to give every route (restored with the rest of the environment at stop).
        for name in _SHARED_TOKEN_VARIABLES:
            os.environ.pop(name, None)
        # The operators' commands run beside the stack (replay, dlq replay, forget) find its archive
        # bucket as they would with the stack's outputs; no function gets it (Firehose writes it).
        operators = {"RELAY_ARCHIVE_BUCKET": physical_ids[ARCHIVE_BUCKET]} if ARCHIVE_BUCKET in physical_ids else {}
        os.environ.update({**template_environment, **local_environment, **operators})
        self._local_environment = local_environment
        self._operator_variables = set(operators)
        reset_runtime()

        # Load every function now, as Lambda's init would: a broken handler or mapping file fails
        # here, loudly, not on a partner's first postback.
        for function in {route.function for route in self.template.routes} | {
            consumer.function for consumer in self.template.consumers
        }:
            self._handler(function)
        self._server = ThreadingHTTPServer((self.host, self.port), _make_request_handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._spawn(self._server.serve_forever, "relay-http")
        if self._consume_retries and self.clock is None:
            # Lambda's SQS event source polls with several concurrent pollers; two do here. On a
            # virtual clock the retry queue is consumed by `advance` instead, as time passes.
            for consumer in self.template.consumers:
                for poller in range(CONSUMER_POLLERS):
                    self._spawn(
                        lambda c=consumer: self._consume_forever(c), f"consumer-{consumer.queue_logical_id}-{poller}"
                    )
        if self._state_file is not None:
            self.state.write(self._state_file)
        return self

    def stop(self) -> None:
        """Stop whatever was started; safe to call twice or after a failed start."""
        self._stop.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        sink, self.sink = self.sink, None
        if sink is not None:
            sink.stop()
        moto, self._moto = self._moto, None
        if moto is not None:
            moto.stop()
        if self.clock is not None:
            self.clock.stop()
        saved, self._saved_environ = self._saved_environ, None
        if saved is not None:
            # The environment as it was before start: the stack's variables leave with it.
            os.environ.clear()
            os.environ.update(saved)
        reset_runtime()
        self._sqs = None
        if server is not None and self._state_file is not None and self._state_file.exists():
            self._state_file.unlink()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def postback_urls(self) -> dict[str, str]:
        """Each partner route's URL with that route's own token ("appsflyer", "custom/unity-ads", ...)."""
        return {route: f"{self.url}/v1/postbacks/{route}?token={token}" for route, token in self.relay_tokens.items()}

    def _token_map(self) -> dict[str, Any]:
        """RELAY_TOKENS as the functions get it: the caller's own (environment, then shell) as given;
        else RELAY_TOKEN's one token given to every route explicitly (scripts and tests); else a
        fresh token per route, so that serve behaves as AWS does: one route, its own tokens."""
        explicit = self._extra_environment.get("RELAY_TOKENS") or os.environ.get("RELAY_TOKENS")
        if explicit:
            parsed = json.loads(explicit)
            if not isinstance(parsed, dict):
                raise ValueError('RELAY_TOKENS must be a JSON object: {"appsflyer": ["token", ...], ...}')
            return parsed
        shared = self._extra_environment.get("RELAY_TOKEN") or os.environ.get("RELAY_TOKEN")
        networks_dir = self._extra_environment.get("RELAY_NETWORKS_DIR") or os.environ.get("RELAY_NETWORKS_DIR")
        return tokens_for_every_route(lambda: shared or secrets.token_urlsafe(24), networks_dir or None)

    @property
    def state(self) -> StackState:
        assert self._moto is not None
        return StackState(
            endpoint_url=self._moto.endpoint,
            retry_queue_url=self.queue_urls["RetryQueue"],
            dlq_url=self.queue_urls["DeadLetterQueue"],
            amplitude_url=self._amplitude_url or "",
            relay_url=self.url,
            resources=dict(self.physical_ids),
        )

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # -- queues ----------------------------------------------------------------------------
    def _name(self, logical_id: str) -> str:
        # Unique per stack: moto keeps its state per process, and a second stack must start empty.
        return f"local-{self._stack_id}-{logical_id}"

    def _create_resources(self) -> dict[str, str]:
        """The template's queues, tables, buckets and delivery streams in moto; their physical ids by logical id."""
        import boto3

        sqs = boto3.client("sqs")
        # Dead-letter targets first: a RedrivePolicy names its target's ARN.
        ordered = sorted(self.template.queues.items(), key=lambda item: "RedrivePolicy" in item[1])
        for logical_id, properties in ordered:
            attributes: dict[Any, str] = {}
            for name in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds"):
                if isinstance(properties.get(name), int):
                    attributes[name] = str(properties[name])
            redrive = properties.get("RedrivePolicy")
            if isinstance(redrive, dict):
                target = redrive.get("deadLetterTargetArn", {}).get("Fn::GetAtt", [""])
                target_id = target.split(".")[0] if isinstance(target, str) else target[0]
                attributes["RedrivePolicy"] = json.dumps(
                    {
                        "deadLetterTargetArn": self.queue_arns[target_id],
                        "maxReceiveCount": int(redrive.get("maxReceiveCount", 5)),
                    }
                )
            url = sqs.create_queue(QueueName=self._name(logical_id), Attributes=attributes)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            self.queue_urls[logical_id], self.queue_arns[logical_id] = url, arn
        physical = dict(self.queue_urls)
        dynamodb = boto3.client("dynamodb")
        for logical_id, properties in self.template.tables.items():
            name = self._name(logical_id)
            dynamodb.create_table(
                TableName=name,
                KeySchema=properties["KeySchema"],
                AttributeDefinitions=properties["AttributeDefinitions"],
                BillingMode="PAY_PER_REQUEST",
            )
            physical[logical_id] = name
        s3 = boto3.client("s3")
        for logical_id in self.template.buckets:
            name = self._name(logical_id).lower()
            s3.create_bucket(Bucket=name)
            physical[logical_id] = name
        # The archive's delivery streams, writing as Firehose does (moto_firehose): found by replay at once.
        moto_firehose.install()
        firehose = boto3.client("firehose")
        for logical_id, properties in self.template.streams.items():
            destination = properties.get("ExtendedS3DestinationConfiguration") or {}
            bucket_arn = destination.get("BucketARN")
            target = bucket_arn.get("Fn::GetAtt") if isinstance(bucket_arn, dict) else None
            bucket_id = (target.split(".")[0] if isinstance(target, str) else (target or [""])[0]) or ""
            name = self._name(logical_id)
            firehose.create_delivery_stream(
                **moto_firehose.delivery_stream_arguments(name, physical.get(bucket_id, ""), destination)
            )
            physical[logical_id] = name
        return physical

    def consume_once(self, consumer: QueueConsumer, wait_s: int = 0) -> int:
        """One poll of the queue, as Lambda's SQS event source does it. Returns messages handled."""
        sqs = self._consumer_sqs()
        url = self.queue_urls[consumer.queue_logical_id]
        answer = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, consumer.batch_size),
            WaitTimeSeconds=wait_s,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        received = answer.get("Messages", [])
        if not received:
            return 0
        batch = [
            SqsMessage(
                m["MessageId"],
                m["ReceiptHandle"],
                m["Body"],
                int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
            )
            for m in received
        ]
        handler = self._handler(consumer.function)
        function = consumer.function
        try:
            with self._invocation_lock(function.logical_id):
                context = LocalLambdaContext(function.logical_id, function.timeout_s, function.memory_mb)
                result = handler(sqs_event(batch, self.queue_arns[consumer.queue_logical_id], _REGION), context)
            failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
        except Exception:  # a crashed invocation fails the whole batch, as in Lambda
            failed = {message.message_id for message in batch}
        done = [message for message in batch if message.message_id not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(done)],
            )
        if self.clock is None:
            # Real time: a failed item comes back in seconds rather than after the visibility timeout,
            # so a developer sees redrive happen. On a virtual clock it waits the queue's own
            # VisibilityTimeout, as in AWS: time costs nothing there.
            for message in batch:
                if message.message_id in failed:
                    sqs.change_message_visibility(
                        QueueUrl=url,
                        ReceiptHandle=message.receipt_handle,
                        VisibilityTimeout=LOCAL_FAILED_ITEM_VISIBILITY_S,
                    )
        return len(batch)

    def _consumer_sqs(self) -> Any:
        """The event source's own SQS client (created once, inside this stack's moto)."""
        if self._sqs is None:
            import boto3

            self._sqs = boto3.client("sqs")
        return self._sqs

    def _consume_forever(self, consumer: QueueConsumer) -> None:
        while not self._stop.is_set():
            try:
                self.consume_once(consumer, wait_s=1)
            except Exception:  # keep polling, as the event source does; the error is in the log
                if self._stop.is_set():
                    return
                self._stop.wait(1)

    # -- the virtual clock -------------------------------------------------------------------
    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def advance(self, seconds: float) -> int:
        """Move the whole stack's clock `seconds` ahead, stopping at every instant a retry-queue
        message falls due (its delay or visibility timeout ends) to run the consumer then, as the
        SQS event source would. Returns the new time (epoch ms) once every message due by then has
        been processed. Only with `virtual_clock`."""
        if self.clock is None:
            raise RuntimeError("the stack runs on the real clock: start it with virtual_clock=True")
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._clock_lock:
            target_s = self.clock.now_s() + seconds
            # moto compares whole milliseconds: always land at least just past a due instant.
            window_s = max([0.001, *(consumer.batching_window_s for consumer in self.template.consumers)])
            names = [self._name(consumer.queue_logical_id) for consumer in self.template.consumers]
            while True:
                self._drain_due(names)
                due_s = next_due_s(names, _REGION)
                # moto makes a message receivable strictly after its instant: one due exactly at the
                # target is the next advance's.
                if due_s is None or due_s >= target_s:
                    break
                # As the event source does with MaximumBatchingWindowInSeconds: wait that long past the
                # first due message so the ones due right after it share its batch (and its step).
                # Always forward, so a message due now that moto will not hand out cannot stall us.
                now_s = self.clock.now_s()
                self.clock.move_to(min(target_s, max(due_s + window_s, now_s + 0.001)))
            self.clock.move_to(target_s)
            self._drain_due(names)
            return self.clock.now_ms()

    def _drain_due(self, names: list[str]) -> None:
        """Run the consumers until no message is receivable at this instant (asked of moto's
        backend, so no empty receive is spent finding out)."""
        while (due_s := next_due_s(names, _REGION)) is not None and due_s <= time.time():
            if not any(self.consume_once(consumer) for consumer in self.template.consumers):
                return  # due but not receivable (moto's redrive moved it, or retention expired it)

    def queue_depth(self, logical_id: str) -> dict[str, int]:
        return Queue(self.queue_urls[logical_id], logical_id).depth()

    def wait_until_settled(self, timeout_s: float = 60.0) -> bool:
        """True once the retry queues hold nothing (visible, in flight or delayed).

        Polls a condition with a deadline; never a fixed sleep.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(sum(self.queue_depth(c.queue_logical_id).values()) == 0 for c in self.template.consumers):
                return True
            self._stop.wait(0.05)
        return False

    # -- HTTP ------------------------------------------------------------------------------
    def wrap_handler(self, logical_id: str, wrapper: Callable[[Handler], Handler]) -> None:
        """Replace a loaded function's handler with `wrapper(handler)`: chaos tests kill invocations."""
        self._handlers[logical_id] = wrapper(self._handlers[logical_id])

    def _resolved(self, variables: Mapping[str, Any]) -> dict[str, str]:
        """Template variables as the functions get them: each `{"Ref": logical id}` the local name."""
        return {
            name: self.physical_ids.get(value["Ref"], "") if isinstance(value, dict) else str(value)
            for name, value in variables.items()
        }

    def _handler(self, function: FunctionSpec) -> Handler:
        key = function.logical_id
        if key not in self._handlers:
            # Loaded with its own environment, as Lambda gives each function: its runtime reads
            # its settings from it (per-partner ranges and token headers included), not from the
            # process's, which serves the operators' commands run beside the stack.
            with loading_environment(self.function_environment(function)):
                self._handlers[key] = function.load()
        return self._handlers[key]

    def function_environment(self, function: FunctionSpec) -> dict[str, str]:
        """The process's environment (the shell's over the template's Globals) without what other
        functions set for themselves, then the function's own variables, then what the local
        stack decides."""
        shell = self._saved_environ or {}
        others = {name for name in self.template.environment if name not in self.template.global_environment}
        others |= self._operator_variables - set(shell)
        inherited = {name: value for name, value in os.environ.items() if name not in others or name in shell}
        own = self._resolved(function.own_environment)
        extra = self._function_environments.get(function.logical_id, {})
        return {**inherited, **own, **self._local_environment, **extra}

    def invoke_route(self, route: HttpRoute, event: dict[str, Any]) -> dict[str, Any]:
        handler = self._handler(route.function)
        with self._invocation_lock(route.function.logical_id):
            # The invocation's clock starts once it runs, not while it waits for the function.
            context = LocalLambdaContext(route.function.logical_id, route.function.timeout_s, route.function.memory_mb)
            result: dict[str, Any] = handler(event, context)
        return result

    def request(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, source_ip: str
    ) -> dict[str, Any] | None:
        """An HTTP request as API Gateway hands it to the route's function: the Lambda result, or
        None when no route matches (404)."""
        found = self.find_route(method, path)
        if found is None:
            return None
        route, path_parameters = found
        event = http_api_event(
            method,
            path,
            query=query,
            headers=headers,
            body=body,
            route_key=route.route_key,
            path_parameters=path_parameters,
            source_ip=source_ip,
        )
        return self.invoke_route(route, event)

    def _invocation_lock(self, logical_id: str) -> threading.Lock:
        """One invocation of a function at a time, as in one Lambda container: module state such as
        Powertools' BatchProcessor and the logger's Lambda context is not built for threads."""
        with self._locks_guard:
            return self._invocation_locks.setdefault(logical_id, threading.Lock())

    def find_route(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        return find_route(self.template.routes, method, path)


def _make_request_handler(stack: LocalStack) -> type[BaseHTTPRequestHandler]:
    class RelayRequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "postback-relay-local"
        # Headers and body leave in two writes: with Nagle's algorithm on, a keep-alive client's
        # delayed ACK held every answer about 40 ms (most of the ~64 ms a postback took through serve).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            # The access log would print query strings, which carry the relay token.
            return

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            # http.server's own error page (a malformed request line, a header too long) quotes the
            # request line, query string and relay token included, in HTML: answer as API Gateway
            # does instead, in JSON that quotes nothing of the request.
            self.close_connection = True
            # Before the version is read, http.server assumes HTTP/0.9 and would send a bare body.
            if self.request_version in ("", "HTTP/0.9"):
                self.request_version = "HTTP/1.1"
            try:
                phrase = HTTPStatus(code).phrase
            except ValueError:
                phrase = "Error"
            self._json(code, {"message": phrase})

        def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {"content-type": "application/json"}).items():
                if name.lower() not in ("content-length", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            self._reply(status, json.dumps(payload).encode())

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            declared = self.headers.get("Content-Length") or "0"
            # A negative length would read until the client hangs up; API Gateway refuses both.
            length = int(declared) if declared.isascii() and declared.isdigit() else -1
            if length < 0:
                self.close_connection = True
                self._json(400, {"message": "Bad Request"})
                return
            if length > MAX_GATEWAY_PAYLOAD:
                self.close_connection = True
                self._json(413, {"message": "Request Entity Too Large"})
                return
            body = self.rfile.read(length) if length else b""
            if parts.path == "/health" and self.command in ("GET", "HEAD"):
                self._json(200, {"status": "ok", "routes": [r.route_key for r in stack.template.routes]})
                return
            if parts.path == "/openapi.json" and self.command in ("GET", "HEAD"):
                from ..openapi import spec_json

                self._reply(200, spec_json().encode())
                return
            if stack.clock is not None and parts.path in ("/_clock", "/_clock/advance"):
                self._clock(parts.path, body)
                return
            headers = {name: value for name, value in self.headers.items()}
            try:
                result = stack.request(self.command, parts.path, parts.query, headers, body, self.client_address[0])
            except Exception:
                # Lambda answers an unhandled error with a bare 500, and so do we.
                self._json(500, {"message": "Internal Server Error"})
                return
            if result is None:
                self._json(404, {"message": "Not Found"})
                return
            self._reply_lambda(result)

        def _clock(self, path: str, body: bytes) -> None:
            """GET /_clock and POST /_clock/advance {"seconds": N}: only on a virtual clock."""
            if path == "/_clock" and self.command in ("GET", "HEAD"):
                self._json(200, {"now_ms": stack.now_ms()})
                return
            if path != "/_clock/advance" or self.command != "POST":
                self._json(405, {"error": f"{self.command} not allowed on {path}"})
                return
            try:
                seconds = json.loads(body or b"{}")["seconds"]
                if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= 366 * 86400:
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                self._json(400, {"error": 'expected a JSON body {"seconds": N}, 0 <= N <= one year'})
                return
            self._json(200, {"now_ms": stack.advance(float(seconds))})

        def _reply_lambda(self, result: dict[str, Any]) -> None:
            import base64

            body_text = result.get("body") or ""
            body = base64.b64decode(body_text) if result.get("isBase64Encoded") else str(body_text).encode()
            headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
            headers.setdefault("content-type", "application/json")
            self._reply(int(result.get("statusCode", 200)), body, headers)

        def __getattr__(self, name: str) -> Any:
            # Every method reaches routing, as at API Gateway (an unrouted one is a JSON 404),
            # instead of http.server's HTML 501.
            if name.startswith("do_"):
                return self._handle
            raise AttributeError(name)

    return RelayRequestHandler
