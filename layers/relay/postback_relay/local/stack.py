"""The local stack behind `postback-relay serve`: no Docker, the same handlers as Lambda.

- Every HttpApi route of template.yaml, each served by invoking its function's handler with an
  API Gateway v2 event.
- SQS from an embedded moto server; the retry queue consumed in-process the way the SQS event
  source does it (batches, partial failures, message delays, redrive to the DLQ).
- Amplitude is AMPLITUDE_API_URL when set, otherwise a built-in strict stand-in that records what it
  receives (`GET /_sink/received` on its port).
- A state file (.postback-relay/serve.json) lets `postback-relay dlq ...` in another shell find the
  queues.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..queues import Queue, reset_clients
from ..runtime import reset_runtime
from .events import LocalLambdaContext, SqsMessage, http_api_event, sqs_event
from .template import Handler, HttpRoute, QueueConsumer, load_template

STATE_FILE = Path(".postback-relay") / "serve.json"
# API Gateway HTTP APIs refuse payloads above 10 MB before any Lambda runs.
MAX_GATEWAY_PAYLOAD = 10 * 1024 * 1024
LOCAL_AMPLITUDE_KEY = "local-amplitude-key"
_REGION = "us-east-1"
# Locally a failed batch item comes back after this many seconds instead of the full
# visibility timeout, so a developer sees redrive behaviour in seconds, not minutes.
LOCAL_FAILED_ITEM_VISIBILITY_S = 2
CONSUMER_POLLERS = 2


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


class MotoProcess:
    """moto's server in a process of its own: it then runs on the other core instead of competing
    with the handlers for this process's GIL (several times the throughput of an in-process one)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> MotoProcess:
        with socket.socket() as probe:
            probe.bind((self.host, 0))
            self.port = probe.getsockname()[1]
        self._process = subprocess.Popen(  # noqa: S603 - moto's own server module
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto server exited with {self._process.returncode}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)  # polling for the server to listen, bounded by the deadline
        self.stop()
        raise RuntimeError(f"moto server did not listen on {self.endpoint} within {timeout_s:.0f} s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


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
    ) -> None:
        self.template = load_template(template_path)
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
        self._stack_id = secrets.token_hex(3)
        self._moto: Any = None
        self.sink: Any = None
        self._server: ThreadingHTTPServer | None = None
        self.relay_token = ""
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
        self._moto = MotoProcess().start()
        endpoint = self._moto.endpoint

        if not self._amplitude_url:
            # The local Amplitude: strict ingestion, users and properties in SQLite, Dashboard REST API.
            from ..emulator import AmplitudeEmulator

            api_key = os.environ.get("AMPLITUDE_API_KEY") or LOCAL_AMPLITUDE_KEY
            self.sink = AmplitudeEmulator(api_key=api_key, port=self._amplitude_port).start()
            self._amplitude_url = self.sink.url
            self._extra_environment.setdefault("AMPLITUDE_API_KEY", api_key)
        self.relay_token = (
            self._extra_environment.get("RELAY_TOKEN") or os.environ.get("RELAY_TOKEN") or secrets.token_urlsafe(24)
        )
        essentials = {
            # The local stack never talks to real AWS, whatever credentials the shell holds.
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": _REGION,
            "AWS_REGION": _REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
        }
        self._saved_environ = dict(os.environ)
        os.environ.update(essentials)
        reset_clients()
        physical_ids = self.physical_ids = self._create_resources()
        # The functions' environment as the template sets it (parameter defaults, resource names),
        # then what the developer's shell sets, then what the local stack itself must decide.
        template_environment = {
            name: physical_ids.get(value["Ref"], "") if isinstance(value, dict) else str(value)
            for name, value in self.template.environment.items()
        }
        template_environment = {k: v for k, v in template_environment.items() if k not in os.environ}
        local_environment = {
            "AMPLITUDE_API_URL": self._amplitude_url,
            "RELAY_TOKEN": self.relay_token,
            **{
                k: physical_ids[v["Ref"]]
                for k, v in self.template.environment.items()
                if isinstance(v, dict) and v.get("Ref") in physical_ids
            },
            **self._extra_environment,
        }
        os.environ.update({**template_environment, **local_environment})
        reset_runtime()

        # Load every function now, as Lambda's init would: a broken handler or mapping file fails
        # here, loudly, not on a partner's first postback.
        for function in {route.function for route in self.template.routes} | {
            consumer.function for consumer in self.template.consumers
        }:
            self._handler(function.logical_id, function)
        self._server = ThreadingHTTPServer((self.host, self.port), _make_request_handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._spawn(self._server.serve_forever, "relay-http")
        if self._consume_retries:
            # Lambda's SQS event source polls with several concurrent pollers; two do here.
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
        saved, self._saved_environ = self._saved_environ, None
        if saved is not None:
            # The environment as it was before start: the stack's variables leave with it.
            os.environ.clear()
            os.environ.update(saved)
        reset_runtime()
        if server is not None and self._state_file is not None and self._state_file.exists():
            self._state_file.unlink()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state(self) -> StackState:
        return StackState(
            endpoint_url=os.environ["AWS_ENDPOINT_URL"],
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
        """The template's queues, tables and buckets in moto; their physical ids by logical id."""
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
        return physical

    def consume_once(self, consumer: QueueConsumer, wait_s: int = 0) -> int:
        """One poll of the queue, as Lambda's SQS event source does it. Returns messages handled."""
        queue = Queue(self.queue_urls[consumer.queue_logical_id], consumer.queue_logical_id)
        import boto3

        sqs = boto3.client("sqs")
        answer = sqs.receive_message(
            QueueUrl=queue.url,
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
        handler = self._handler(consumer.function.logical_id, consumer.function)
        context = LocalLambdaContext(
            consumer.function.logical_id, consumer.function.timeout_s, consumer.function.memory_mb
        )
        try:
            result = handler(sqs_event(batch, self.queue_arns[consumer.queue_logical_id], _REGION), context)
            failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
        except Exception:  # a crashed invocation fails the whole batch, as in Lambda
            failed = {message.message_id for message in batch}
        for message in batch:
            if message.message_id in failed:
                sqs.change_message_visibility(
                    QueueUrl=queue.url,
                    ReceiptHandle=message.receipt_handle,
                    VisibilityTimeout=LOCAL_FAILED_ITEM_VISIBILITY_S,
                )
            else:
                queue.delete(message.receipt_handle)
        return len(batch)

    def _consume_forever(self, consumer: QueueConsumer) -> None:
        while not self._stop.is_set():
            try:
                self.consume_once(consumer, wait_s=1)
            except Exception:  # keep polling, as the event source does; the error is in the log
                if self._stop.is_set():
                    return
                self._stop.wait(1)

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

    def _handler(self, key: str, function: Any) -> Handler:
        if key not in self._handlers:
            self._handlers[key] = function.load()
        return self._handlers[key]

    def invoke_route(self, route: HttpRoute, event: dict[str, Any]) -> dict[str, Any]:
        handler = self._handler(route.function.logical_id, route.function)
        context = LocalLambdaContext(route.function.logical_id, route.function.timeout_s, route.function.memory_mb)
        result: dict[str, Any] = handler(event, context)
        return result

    def find_route(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        for route in self.template.routes:
            parameters = route.match(method, path)
            if parameters is not None:
                return route, parameters
        return None


def _make_request_handler(stack: LocalStack) -> type[BaseHTTPRequestHandler]:
    class RelayRequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "postback-relay-local"

        def log_message(self, format: str, *args: Any) -> None:
            # The access log would print query strings, which carry the relay token.
            return

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
            length = int(self.headers.get("Content-Length") or 0)
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
            found = stack.find_route(self.command, parts.path)
            if found is None:
                self._json(404, {"message": "Not Found"})
                return
            route, path_parameters = found
            event = http_api_event(
                self.command,
                parts.path,
                query=parts.query,
                headers={name: value for name, value in self.headers.items()},
                body=body,
                route_key=route.route_key,
                path_parameters=path_parameters,
                source_ip=self.client_address[0],
            )
            try:
                result = stack.invoke_route(route, event)
            except Exception:
                # Lambda answers an unhandled error with a bare 500, and so do we.
                self._json(500, {"message": "Internal Server Error"})
                return
            self._reply_lambda(result)

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
