"""The relay's own OpenAPI document, generated from the handlers' routes and answer models.

Each partner's resolver describes its route and answers (Powertools event_handler); this module
merges them and adds what the handlers read from the raw request (free-form postback fields,
JSON or form bodies) and the relay token. `serve` answers it at GET /openapi.json; the copy in
docs/openapi.json is kept equal to it by a test (`postback-relay openapi > docs/openapi.json`).
"""

from __future__ import annotations

import json
from typing import Any

from postback_relay import __doc__ as package_doc
from postback_relay.api import custom_network_resolver, partner_resolver
from postback_relay.tracker.api import tracker_resolver

VERSION = "1"
_FREE_FORM = {"type": "object", "additionalProperties": True}
_POSTBACK_FIELDS = {
    "name": "postback",
    "in": "query",
    "required": False,
    "description": "The partner's postback fields (GET callbacks carry everything here).",
    "style": "form",
    "explode": True,
    "schema": {"type": "object", "additionalProperties": {"type": "string"}},
}
_REQUEST_BODY = {
    "required": False,
    "description": "The partner's postback: a JSON object, or form fields.",
    "content": {
        "application/json": {"schema": _FREE_FORM},
        "application/x-www-form-urlencoded": {"schema": _FREE_FORM},
    },
}
SECURITY_SCHEMES = {
    "relayTokenQuery": {"type": "apiKey", "in": "query", "name": "token"},
    "relayTokenHeader": {"type": "apiKey", "in": "header", "name": "X-Relay-Token"},
    "trackerApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}


def build_spec() -> dict[str, Any]:
    from postback_relay.partners.custom import load_networks
    from postback_relay.partners.registry import coded_partners

    resolvers = [partner_resolver(adapter) for _, adapter in sorted(coded_partners().items())]
    resolvers.append(custom_network_resolver(load_networks()))
    tracker = json.loads(tracker_resolver().get_openapi_json_schema(title="postback-relay", version=VERSION))
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "postback-relay",
            "version": VERSION,
            "description": (package_doc or "").strip(),
        },
        "paths": {
            "/health": {
                "get": {
                    "summary": "Liveness of the local stack (`postback-relay serve` only)",
                    "operationId": "health",
                    "tags": ["local"],
                    "responses": {"200": {"description": "Serving"}},
                }
            }
        },
        "components": {"schemas": {}, "securitySchemes": SECURITY_SCHEMES},
    }
    for resolver in resolvers:
        part = json.loads(resolver.get_openapi_json_schema(title="postback-relay", version=VERSION))
        for path, operations in part["paths"].items():
            for method, operation in operations.items():
                operation.setdefault("parameters", []).append(_POSTBACK_FIELDS)
                operation["security"] = [{"relayTokenQuery": []}, {"relayTokenHeader": []}]
                if method == "post":
                    operation["requestBody"] = _REQUEST_BODY
            spec["paths"][path] = operations
        spec["components"]["schemas"].update(part.get("components", {}).get("schemas", {}))
    for path, operations in tracker["paths"].items():
        for method, operation in operations.items():
            if method == "post":
                operation["security"] = [{"trackerApiKey": []}]
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": _FREE_FORM}},
                }
            else:
                operation.setdefault("parameters", []).append(_POSTBACK_FIELDS)
        spec["paths"][path] = operations
    spec["components"]["schemas"].update(tracker.get("components", {}).get("schemas", {}))
    return spec


def spec_json() -> str:
    return json.dumps(build_spec(), indent=2, sort_keys=True) + "\n"
