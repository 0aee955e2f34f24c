"""Find partner adapters by name: every module of this package that defines ADAPTER, plus the
networks described by mapping files (`custom/<name>`). No second list to keep in step."""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from . import PartnerAdapter

CUSTOM_PREFIX = "custom/"


@lru_cache(maxsize=1)
def coded_partners() -> dict[str, PartnerAdapter]:
    found: dict[str, PartnerAdapter] = {}
    package = importlib.import_module(__package__ or "postback_relay.partners")
    for module_info in pkgutil.iter_modules(package.__path__):
        if module_info.name in ("registry", "custom"):
            continue
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        adapter = getattr(module, "ADAPTER", None)
        if isinstance(adapter, PartnerAdapter):
            found[adapter.name] = adapter
    return found


def custom_networks() -> dict[str, PartnerAdapter]:
    from .custom import load_networks

    return load_networks()


def find_partner(name: str) -> PartnerAdapter:
    """`appsflyer`, `adjust`, ... or `custom/<network>`; KeyError lists what exists."""
    if name.startswith(CUSTOM_PREFIX):
        networks = custom_networks()
        network = name.removeprefix(CUSTOM_PREFIX)
        if network in networks:
            return networks[network]
    elif name in coded_partners():
        return coded_partners()[name]
    known = sorted(coded_partners()) + [CUSTOM_PREFIX + network for network in sorted(custom_networks())]
    raise KeyError(f"unknown partner {name!r}; known: {', '.join(known)}")
