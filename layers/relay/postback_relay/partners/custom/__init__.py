"""Custom networks without code: one YAML mapping file per ad network → a `PartnerAdapter`.

An ad network's S2S postback is a flat set of keys chosen by whoever wrote the callback URL
(`?ifa={ifa}&ts={ts}&event={event}`), delivered as a query string or a JSON/form body. A mapping
file says, per field of our normalised `Postback`, which key(s) to read and how to clean the
value. `schema` holds what a file may say (pydantic, every model `extra="forbid"` so a typo fails
at load time), `reader` reads one postback through a mapping with the coded partners' shared
helpers (partners/fields.py), `loader` finds the files and builds the adapters. Schema reference
and a worked example: docs/custom-networks.md.

Pure at parse time: no I/O, no clock. Files are read once, by `load_mapping` / `load_networks`.
"""

from __future__ import annotations

from .loader import (
    NETWORKS_DIR,
    NETWORKS_DIR_ENV,
    load_mapping,
    load_network,
    load_networks,
    networks_dir,
    read_mapping,
)
from .reader import parse_with
from .schema import MappingError, NetworkMapping

# What other modules import from partners.custom (api, registry, tools, tests).
__all__ = [
    "NETWORKS_DIR",
    "NETWORKS_DIR_ENV",
    "MappingError",
    "NetworkMapping",
    "load_mapping",
    "load_network",
    "load_networks",
    "networks_dir",
    "parse_with",
    "read_mapping",
]
