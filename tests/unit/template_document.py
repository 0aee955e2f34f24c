"""template.yaml as the template tests read it: the document (CloudFormation tags kept as values,
its Fn::ForEach loops expanded as a deploy expands them), its resources by type, its parameters."""

from __future__ import annotations

from functools import cache
from typing import Any

from postback_relay_tools.local.template import read_document
from tests.conftest import ROOT

TEMPLATE = ROOT / "template.yaml"


@cache
def template() -> dict[str, Any]:
    return read_document(TEMPLATE)


def resources(resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template()["Resources"].items()
        if resource.get("Type") == resource_type
    }


def parameter(name: str) -> dict[str, Any]:
    found: dict[str, Any] = template()["Parameters"][name]
    return found
