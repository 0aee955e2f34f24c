"""Finding and loading mapping files: YAML (no key given twice) → `NetworkMapping` → `PartnerAdapter`.

Files are read once, by `load_mapping` / `load_networks` / `load_network`; parsing a postback
reads no file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ...models.postback import Postback
from .. import PartnerAdapter, RawPostback
from ..pass_through import PassThrough
from ..registry import CUSTOM_ROUTE_PREFIX
from .reader import parse_with
from .schema import NAME_PATTERN, MappingError, NetworkMapping, mapping_error

NETWORKS_DIR = Path(__file__).resolve().parents[2] / "networks"
"""The mapping files shipped in the Lambda layer (postback_relay/networks/*.yaml)."""

NETWORKS_DIR_ENV = "RELAY_NETWORKS_DIR"
ROUTE_PREFIX = CUSTOM_ROUTE_PREFIX

_NAME = re.compile(NAME_PATTERN)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (a silent overwrite otherwise)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def read_mapping(path: str | os.PathLike[str]) -> NetworkMapping:
    """Read and validate one mapping file; MappingError names the file and the field."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MappingError(f"{file}: cannot read the file: {error}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = error.problem or str(error)
        raise MappingError(f"{file}: YAML syntax error{where}: {problem}") from None
    except yaml.YAMLError as error:
        raise MappingError(f"{file}: YAML syntax error: {error}") from None
    if not isinstance(data, Mapping):
        raise MappingError(f"{file}: (top level): expected a mapping of keys (name, display_name, fields, ...)")
    try:
        mapping = NetworkMapping.model_validate(data)
    except ValidationError as error:
        raise mapping_error(file, error) from None
    if mapping.name != file.stem:
        raise MappingError(
            f"{file}: name: {mapping.name!r} does not match the file name {file.name!r} "
            f"(the route {ROUTE_PREFIX}/<name> finds the file by name)"
        )
    return mapping


def adapter_for(mapping: NetworkMapping) -> PartnerAdapter:
    """The PartnerAdapter of a validated mapping."""

    def parse(raw: RawPostback) -> Postback:
        return parse_with(mapping, raw)

    return PartnerAdapter(
        name=mapping.name,
        display_name=mapping.display_name,
        convention=mapping.convention(),
        parse=parse,
        method=mapping.method,
        query_template=dict(mapping.query_template) if mapping.query_template is not None else None,
        route_prefix=ROUTE_PREFIX,
        mapped_keys=mapping.mapped_keys,
        pass_through=mapping.pass_through.rules() if mapping.pass_through is not None else PassThrough(),
    )


def load_mapping(path: str | os.PathLike[str]) -> PartnerAdapter:
    """The adapter described by one mapping file. Route: /v1/postbacks/custom/<name>."""
    return adapter_for(read_mapping(path))


def networks_dir() -> Path:
    """Where mapping files live: $RELAY_NETWORKS_DIR if set (read now, not at import), else the
    files shipped with the package."""
    override = os.environ.get(NETWORKS_DIR_ENV, "").strip()
    return Path(override) if override else NETWORKS_DIR


def load_networks(directory: str | os.PathLike[str] | None = None) -> dict[str, PartnerAdapter]:
    """Every `*.yaml` mapping in `directory` (default: `networks_dir()`), by network name.

    One broken file fails the whole load: a deployment should not half-work silently.
    """
    folder = Path(directory) if directory is not None else networks_dir()
    if not folder.is_dir():
        raise MappingError(f"{folder}: networks directory does not exist")
    return {path.stem: load_mapping(path) for path in sorted(folder.glob("*.yaml"))}


def load_network(name: str, directory: str | os.PathLike[str] | None = None) -> PartnerAdapter | None:
    """The adapter for one network name (from a URL path), or None when there is no such file.

    The name is checked against NAME_PATTERN first, so a path parameter cannot escape the folder.
    """
    if not _NAME.fullmatch(name):
        return None
    folder = Path(directory) if directory is not None else networks_dir()
    path = folder / f"{name}.yaml"
    return load_mapping(path) if path.is_file() else None
