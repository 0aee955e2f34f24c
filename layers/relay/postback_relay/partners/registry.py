"""Find partner adapters by name: every module of this package that defines ADAPTER, plus the
networks described by mapping files (`custom/<name>`). No second list to keep in step.

Also tells one partner's postback from another's (`check_format`): each adapter reads only the
keys it knows and fills the rest with defaults, so an AppsFlyer body sent to the Adjust route
would otherwise become an `[adjust] install`."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from ..errors import BadRequest
from . import PartnerAdapter

# How the CLI, DLQ filters and `forget` name a mapping-file network (`custom/<name>`), and its
# route: the same word under the partners' /v1/postbacks. Defined once, here.
CUSTOM_PREFIX = "custom/"
CUSTOM_ROUTE_PREFIX = f"{PartnerAdapter.route_prefix}/{CUSTOM_PREFIX.rstrip('/')}"

# Top-level keys only one partner sends (its own vocabulary; tests/fixtures and shared field
# lists checked): generic names such as idfa, platform, campaign_name or network_name, which
# several partners share, are left out. Keys ending in "*" are prefixes.
SIGNATURE_KEYS: Mapping[str, frozenset[str]] = {
    "appsflyer": frozenset(
        {
            "appsflyer_id",
            "customer_user_id",
            "media_source",
            "attributed_touch_time",
            "attributed_touch_type",
            "is_retargeting",
            "retargeting_conversion_type",
            "event_revenue",
            "event_revenue_usd",
            "event_revenue_currency",
            "af_*",
            "contributor_*",
        }
    ),
    "adjust": frozenset(
        {
            "activity_kind",
            "tracker_name",
            "gps_adid",
            "fire_adid",
            "google_app_set_id",
            "installed_at",
            "reattributed_at",
            "engagement_time",
            "adgroup_name",
            "revenue_float",
        }
    ),
    "branch": frozenset(
        {
            "user_data",
            "last_attributed_touch_data",
            "last_attributed_touch_timestamp",
            "last_attributed_touch_type",
            "first_event_for_user",
            "install_activity",
            "event_data",
            "content_items",
            "di_match_click_token",
            "days_from_last_attributed_touch_to_event",
        }
    ),
    "kochava": frozenset({"kochava_device_id"}),
    "singular": frozenset(
        {
            "aifa",
            "asid",
            "longname",
            "singular_id",
            "custom_user_id",
            "event_utc_timestamp",
            "install_utc_timestamp",
            "touchpoint_utc_timestamp",
            "click_utc_timestamp",
            "is_reengagement",
            "is_viewthrough",
            "sub_campaign_id",
            "sub_campaign_name",
        }
    ),
    "tenjin": frozenset(
        {
            "acquired_at_ms",
            "engaged_at_ms",
            "time_in_ms",
            "analytics_installation_id",
            "developer_device_id",
            "ad_network",
            "revenue_usd_gross",
            "revenue_usd_net",
        }
    ),
}

# Another partner's body needs this many of its signature keys (and none of the named partner's)
# to be refused: one shared-looking key in a hand-written template is not enough.
_MIN_FOREIGN_KEYS = 2


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
    """`appsflyer`, `adjust`, ... or `custom/<network>`, in any case (`AppsFlyer`, `custom/Liftoff`);
    KeyError lists what exists."""
    wanted = name.strip().lower()
    if wanted.startswith(CUSTOM_PREFIX):
        networks = custom_networks()
        network = wanted.removeprefix(CUSTOM_PREFIX)
        if network in networks:
            return networks[network]
    elif wanted in coded_partners():
        return coded_partners()[wanted]
    known = sorted(coded_partners()) + [CUSTOM_PREFIX + network for network in sorted(custom_networks())]
    hint = f" (did you mean {CUSTOM_PREFIX}{wanted}?)" if wanted in custom_networks() else ""
    raise KeyError(f"unknown partner {name!r}{hint}; known: {', '.join(known)}")


def is_custom_network(adapter: PartnerAdapter) -> bool:
    """Whether `adapter` is a mapping-file network's (archived through their shared stream), by
    its route, whatever the file is named."""
    return adapter.route_prefix == CUSTOM_ROUTE_PREFIX


def canonical_name(adapter: PartnerAdapter) -> str:
    """The name the CLI takes for `adapter`: `adjust`, or `custom/liftoff` for a mapping-file network."""
    return CUSTOM_PREFIX + adapter.name if is_custom_network(adapter) else adapter.name


def _matching(keys: Iterable[str], signature: Iterable[str]) -> list[str]:
    exact = {key for key in signature if not key.endswith("*")}
    prefixes = tuple(key[:-1] for key in signature if key.endswith("*"))
    return sorted(key for key in keys if key in exact or (prefixes and key.startswith(prefixes)))


def a_partner(adapter: PartnerAdapter) -> str:
    """ "an AppsFlyer", "a Branch": for messages."""
    return f"{'an' if adapter.display_name[:1].lower() in 'aeiou' else 'a'} {adapter.display_name}"


class WrongPartner(BadRequest):
    """A body in another partner's format (400): `looks_like` is that partner."""

    def __init__(self, message: str, looks_like: PartnerAdapter, keys: list[str]) -> None:
        super().__init__(message, looks_like=canonical_name(looks_like))
        self.looks_like = looks_like
        self.keys = keys


def looks_like(raw: Mapping[str, Any], adapter: PartnerAdapter) -> tuple[PartnerAdapter, list[str]] | None:
    """The coded partner whose format `raw` is in, and the keys that say so, when that is not
    `adapter`'s; None when `raw` could be `adapter`'s (or nobody's in particular)."""
    keys = [key for key in raw if isinstance(key, str)]
    own = SIGNATURE_KEYS.get(adapter.name, frozenset()) if adapter.name in coded_partners() else frozenset()
    if _matching(keys, own):
        return None
    # A mapping-file network may read keys that are another partner's vocabulary: those are its own.
    own_keys = set(adapter.query_template or ())
    best: tuple[PartnerAdapter, list[str]] | None = None
    for name, signature in SIGNATURE_KEYS.items():
        if name == adapter.name:
            continue
        found = [key for key in _matching(keys, signature) if key not in own_keys]
        if len(found) >= _MIN_FOREIGN_KEYS and (best is None or len(found) > len(best[1])):
            best = (coded_partners()[name], found)
    return best


def check_format(adapter: PartnerAdapter, raw: Mapping[str, Any]) -> None:
    """Raise WrongPartner (400) when `raw` is plainly another partner's postback: mapping it as
    `adapter`'s would make a wrong event. Key names only are quoted, never values."""
    found = looks_like(raw, adapter)
    if found is None:
        return
    other, keys = found
    shown = ", ".join(keys[:4]) + (", ..." if len(keys) > 4 else "")
    raise WrongPartner(
        f"this looks like {a_partner(other)} postback ({shown}), not {adapter.display_name}: send it to {other.route}",
        other,
        keys,
    )
