"""Reads template.yaml: the routes and queue consumers `serve` runs come from the template, not from
a second list, so the local stack and AWS cannot drift apart."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
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
    # The variables the function itself sets (over Globals'), parameters resolved; resource
    # references stay {"Ref": logical_id} for the local stack to fill in.
    own_environment: Mapping[str, Any] = field(default_factory=dict, compare=False)

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
    # Firehose delivery streams (the archive's writers), by logical id: their properties.
    streams: dict[str, dict[str, Any]]
    # Globals.Function.Environment.Variables, then the first value of each function's own, with
    # parameter references replaced by their values; references to resources stay
    # {"Ref": logical_id} for the local stack to fill in. The process's environment under `serve`.
    environment: dict[str, Any]
    # Globals.Function.Environment.Variables alone: with a function's own, what that function gets.
    global_environment: dict[str, Any] = field(default_factory=dict)


def find_route(routes: Sequence[HttpRoute], method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
    """The route serving `method path`, with its path parameters, as API Gateway picks it; None: a 404."""
    for route in routes:
        parameters = route.match(method, path)
        if parameters is not None:
            return route, parameters
    return None


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


def _parameter_value(name: str, parameters: dict[str, Any], overrides: Mapping[str, str]) -> Any:
    if name in overrides:
        return overrides[name]
    default = parameters[name].get("Default")
    return "" if default is None else default


def _resolve(value: Any, parameters: dict[str, Any], overrides: Mapping[str, str]) -> Any:
    """A `!Ref Parameter` becomes the parameter's value (the override given, else its default, as
    a deploy sees it); `!Join [sep, !Ref ListParameter]` the joined list."""
    if isinstance(value, dict) and "Ref" in value and value["Ref"] in parameters:
        return _parameter_value(value["Ref"], parameters, overrides)
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        separator, joined = value["Fn::Join"]
        if isinstance(joined, dict) and set(joined) == {"Ref"} and joined["Ref"] in parameters:
            # A CommaDelimitedList's value is already "a,b": joined with "," it stays as given.
            items = [item.strip() for item in str(_parameter_value(joined["Ref"], parameters, overrides)).split(",")]
            return str(separator).join(item for item in items if item)
    return value


def _local_variables(
    properties: dict[str, Any], parameters: dict[str, Any], overrides: Mapping[str, str]
) -> dict[str, Any]:
    """Environment variables the local stack can set: plain values, resource references, and
    parameters (with their overrides, else their defaults). Other intrinsics (`!If` on X-Ray
    tracing) stay AWS-only; the code's own default applies locally."""
    local: dict[str, Any] = {}
    for name, value in ((properties.get("Environment") or {}).get("Variables") or {}).items():
        value = _resolve(value, parameters, overrides)
        if isinstance(value, str | int) or (isinstance(value, dict) and set(value) == {"Ref"}):
            local[name] = value
    return local


# -- AWS::LanguageExtensions: the part of it the template uses -----------------------------------
# Fn::ForEach in Resources, Conditions and Outputs over literal lists: `${Identifier}` and
# `&{Identifier}` are replaced in keys and values and `Ref: Identifier` by the item, then, within
# each copy, Fn::FindInMap over literal keys and Fn::Sub of literal variables are resolved, as the
# transform's own first phase does. Written here, not borrowed: SAM CLI's expander is no library the
# local stack installs and cfn-lint's is private to it; both read the same template in CI (`sam
# validate --lint`, cfn-lint, `sam build --language-extensions`).
_FOR_EACH = "Fn::ForEach::"


def _replace_identifier(node: Any, identifier: str, value: str) -> Any:
    if isinstance(node, str):
        return node.replace(f"${{{identifier}}}", value).replace(f"&{{{identifier}}}", value)
    if isinstance(node, list):
        return [_replace_identifier(item, identifier, value) for item in node]
    if isinstance(node, dict):
        if node == {"Ref": identifier}:
            return value
        return {
            _replace_identifier(key, identifier, value): _replace_identifier(item, identifier, value)
            for key, item in node.items()
        }
    return node


def _resolve_static(node: Any, mappings: dict[str, Any]) -> Any:
    """Fn::FindInMap of literal keys, and Fn::Sub whose variables are literal strings, resolved."""
    if isinstance(node, list):
        return [_resolve_static(item, mappings) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _resolve_static(item, mappings) for key, item in node.items()}
    if set(node) == {"Fn::FindInMap"}:
        keys = node["Fn::FindInMap"]
        if isinstance(keys, list) and len(keys) == 3 and all(isinstance(key, str) for key in keys):
            return mappings[keys[0]][keys[1]][keys[2]]
    if set(node) == {"Fn::Sub"}:
        text, variables = node["Fn::Sub"] if isinstance(node["Fn::Sub"], list) else (node["Fn::Sub"], {})
        literal = {name: value for name, value in variables.items() if isinstance(value, str)}
        for name, value in literal.items():
            text = text.replace(f"${{{name}}}", value)
        rest = {name: value for name, value in variables.items() if name not in literal}
        if rest:
            return {"Fn::Sub": [text, rest]}
        return {"Fn::Sub": text} if "${" in text else text
    return node


def _expand_for_each(section: dict[str, Any], mappings: dict[str, Any]) -> dict[str, Any]:
    expanded: dict[str, Any] = {}
    for key, value in section.items():
        if not key.startswith(_FOR_EACH):
            expanded[key] = value
            continue
        identifier, collection, fragment = value
        if not (isinstance(collection, list) and all(isinstance(item, str) for item in collection)):
            raise ValueError(f"{key}: only a literal list of names is read locally")
        for item in collection:
            body = _resolve_static(_replace_identifier(fragment, identifier, item), mappings)
            for name, resource in _expand_for_each(body, mappings).items():
                if name in expanded:
                    raise ValueError(f"{key} makes {name} twice")
                expanded[name] = resource
    return expanded


def read_document(path: Path) -> dict[str, Any]:
    """A template with its CloudFormation tags as plain values and its Fn::ForEach loops expanded:
    the resources, conditions and outputs a deploy creates."""
    document: dict[str, Any] = yaml.load(path.read_text(), Loader=_CloudFormationLoader)  # noqa: S506 - SafeLoader subclass
    mappings = document.get("Mappings") or {}
    for section in ("Conditions", "Resources", "Outputs"):
        if isinstance(document.get(section), dict):
            document[section] = _expand_for_each(document[section], mappings)
    return document


def load_template(path: Path, parameter_overrides: Mapping[str, str] | None = None) -> Template:
    """The template as a deploy with `parameter_overrides` (name: value) would see it."""
    document = read_document(path)
    base = path.parent
    parameters = document.get("Parameters") or {}
    overrides = dict(parameter_overrides or {})
    unknown = sorted(set(overrides) - set(parameters))
    if unknown:
        raise ValueError(f"{path}: no parameter {', '.join(unknown)} (known: {', '.join(sorted(parameters))})")
    global_function = (document.get("Globals") or {}).get("Function") or {}
    global_variables = _local_variables(global_function, parameters, overrides)
    routes: list[HttpRoute] = []
    consumers: list[QueueConsumer] = []
    queues: dict[str, dict[str, Any]] = {}
    tables: dict[str, dict[str, Any]] = {}
    buckets: dict[str, dict[str, Any]] = {}
    streams: dict[str, dict[str, Any]] = {}
    function_environment: dict[str, Any] = {}
    by_type = {
        "AWS::SQS::Queue": queues,
        "AWS::DynamoDB::Table": tables,
        "AWS::S3::Bucket": buckets,
        "AWS::KinesisFirehose::DeliveryStream": streams,
    }
    for logical_id, resource in (document.get("Resources") or {}).items():
        properties = resource.get("Properties") or {}
        if resource.get("Type") in by_type:
            by_type[resource["Type"]][logical_id] = properties
            continue
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        own_variables = _local_variables(properties, parameters, overrides)
        # The process's environment (for the operators' commands in it): the first value of each.
        for name, value in own_variables.items():
            function_environment.setdefault(name, value)
        timeout = _resolve(properties.get("Timeout", global_function.get("Timeout", 3)), parameters, overrides)
        memory = _resolve(properties.get("MemorySize", global_function.get("MemorySize", 128)), parameters, overrides)
        function = FunctionSpec(
            logical_id=logical_id,
            code_uri=(base / properties["CodeUri"]).resolve(),
            handler=properties["Handler"],
            timeout_s=timeout if isinstance(timeout, int) else 30,
            memory_mb=memory if isinstance(memory, int) else 128,
            own_environment=own_variables,
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
    environment = {**function_environment, **global_variables}
    return Template(routes, consumers, queues, tables, buckets, streams, environment, global_variables)
