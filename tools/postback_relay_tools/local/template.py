"""Reads template.yaml: the routes and queue consumers `serve` runs come from the template, not from
a second list, so the local stack and AWS cannot drift apart."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Handler = Callable[[dict[str, Any], Any], Any]


class _CloudFormationLoader(yaml.SafeLoader):
    """PyYAML loader that reads CloudFormation short tags (!Ref, !Sub, ...) as plain values."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _construct_tag)


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    timeout_s: int
    memory_mb: int

    def load(self) -> Handler:
        """Import the function's module from its folder, as Lambda would, and return its handler."""
        module_name, _, attribute = self.handler.rpartition(".")
        source = self.code_uri / f"{module_name.replace('.', '/')}.py"
        unique = f"postback_relay_function_{self.logical_id}"
        spec = importlib.util.spec_from_file_location(unique, source)
        if spec is None or spec.loader is None:
            raise FileNotFoundError(f"{self.logical_id}: cannot load handler module {source}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        spec.loader.exec_module(module)
        handler: Handler = getattr(module, attribute)
        return handler


@dataclass(frozen=True)
class HttpRoute:
    method: str  # upper case, or "ANY"
    path: str  # as in the template, e.g. /v1/postbacks/custom/{name}
    function: FunctionSpec

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters when this route serves the request, else None."""
        if self.method not in ("ANY", method.upper()):
            return None
        found = _path_pattern(self.path).fullmatch(path)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class QueueConsumer:
    queue_logical_id: str
    batch_size: int
    function: FunctionSpec
    batching_window_s: float = 0.0  # MaximumBatchingWindowInSeconds


@dataclass(frozen=True)
class Template:
    routes: list[HttpRoute]
    consumers: list[QueueConsumer]
    queues: dict[str, dict[str, Any]]
    tables: dict[str, dict[str, Any]]
    buckets: dict[str, dict[str, Any]]
    # Globals.Function.Environment.Variables, with parameter references replaced by their defaults;
    # references to resources stay {"Ref": logical_id} for the local stack to fill in.
    environment: dict[str, Any]


def _path_pattern(path: str) -> re.Pattern[str]:
    pattern = ""
    for piece in re.split(r"(\{[^}]+\})", path):
        if piece.startswith("{") and piece.endswith("}"):
            name = piece[1:-1]
            greedy = name.endswith("+")
            pattern += f"(?P<{name.rstrip('+')}>{'.+' if greedy else '[^/]+'})"
        else:
            pattern += re.escape(piece)
    return re.compile(pattern)


def _queue_logical_id(value: Any) -> str | None:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return (target.split(".")[0] if isinstance(target, str) else target[0]) or None
    return None


def _resolve(value: Any, parameters: dict[str, Any]) -> Any:
    """A `!Ref Parameter` becomes the parameter's default, as a deploy without overrides sees it."""
    if isinstance(value, dict) and "Ref" in value and value["Ref"] in parameters:
        default = parameters[value["Ref"]].get("Default")
        return "" if default is None else default
    return value


def _local_variables(properties: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """Environment variables the local stack can set: plain values and resource references, with
    parameters at their defaults. Other intrinsics (allowlists, `!If` on X-Ray tracing) stay
    AWS-only; the code's own default applies locally."""
    local: dict[str, Any] = {}
    for name, value in ((properties.get("Environment") or {}).get("Variables") or {}).items():
        value = _resolve(value, parameters)
        if isinstance(value, str | int) or (isinstance(value, dict) and set(value) == {"Ref"}):
            local[name] = value
    return local


def load_template(path: Path) -> Template:
    document = yaml.load(path.read_text(), Loader=_CloudFormationLoader)  # noqa: S506 - SafeLoader subclass
    base = path.parent
    parameters = document.get("Parameters") or {}
    global_function = (document.get("Globals") or {}).get("Function") or {}
    routes: list[HttpRoute] = []
    consumers: list[QueueConsumer] = []
    queues: dict[str, dict[str, Any]] = {}
    tables: dict[str, dict[str, Any]] = {}
    buckets: dict[str, dict[str, Any]] = {}
    function_environment: dict[str, Any] = {}
    by_type = {"AWS::SQS::Queue": queues, "AWS::DynamoDB::Table": tables, "AWS::S3::Bucket": buckets}
    for logical_id, resource in (document.get("Resources") or {}).items():
        properties = resource.get("Properties") or {}
        if resource.get("Type") in by_type:
            by_type[resource["Type"]][logical_id] = properties
            continue
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        # Locally every function shares one process environment: the first plain value of each.
        for name, value in _local_variables(properties, parameters).items():
            function_environment.setdefault(name, value)
        timeout = _resolve(properties.get("Timeout", global_function.get("Timeout", 3)), parameters)
        memory = _resolve(properties.get("MemorySize", global_function.get("MemorySize", 128)), parameters)
        function = FunctionSpec(
            logical_id=logical_id,
            code_uri=(base / properties["CodeUri"]).resolve(),
            handler=properties["Handler"],
            timeout_s=timeout if isinstance(timeout, int) else 30,
            memory_mb=memory if isinstance(memory, int) else 128,
        )
        for event in (properties.get("Events") or {}).values():
            event_properties = event.get("Properties") or {}
            if event.get("Type") == "HttpApi":
                method = str(event_properties.get("Method", "ANY")).upper()
                routes.append(
                    HttpRoute(
                        "ANY" if method == "X-AMAZON-APIGATEWAY-ANY-METHOD" else method,
                        event_properties["Path"],
                        function,
                    )
                )
            elif event.get("Type") == "SQS":
                queue = _queue_logical_id(event_properties.get("Queue"))
                if queue:
                    window = event_properties.get("MaximumBatchingWindowInSeconds", 0)
                    consumers.append(
                        QueueConsumer(
                            queue,
                            int(event_properties.get("BatchSize", 10)),
                            function,
                            float(window) if isinstance(window, int | float) else 0.0,
                        )
                    )
    environment = {**function_environment, **_local_variables(global_function, parameters)}
    return Template(routes, consumers, queues, tables, buckets, environment)
