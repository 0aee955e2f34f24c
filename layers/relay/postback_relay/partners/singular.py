"""Singular Internal BI postbacks to our normalised `Postback`.

Singular POSTs one flat JSON object per install, re-engagement or in-app event to the URL set on
the "Internal BI" partner. Confirmed fields [V]: app_name, longname, platform ("iOS"/"Android"/...),
event_name, idfa, idfv, aifa (GAID), android_id (only when there is no aifa), singular_id
(deprecated, Singular's own id: never an Amplitude id), event_utc_timestamp (string in one source,
integer in another: seconds, milliseconds or a UTC datetime string all accepted).

Everything else is [U] (unconfirmed, from Singular's postback macros and export-log field names):
each concept is read from the plain name first, then the `tracker_*` log name, so either spelling
works. Check these against a live postback. See shared/reference/partners.md section 5.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from ..errors import BadRequest
from ..ids import clean_gaid, clean_idfa, clean_text, clean_user_id
from ..models.postback import Campaign, Device, DeviceIds, Kind, Postback, Revenue
from ..timeparse import to_epoch_ms
from . import Convention, PartnerAdapter, RawPostback

PARTNER = "singular"

# No Amplitude-native names for Singular were found [U]: readable names in Singular's own terms.
CONVENTION = Convention(
    label="[Singular]",
    event_types={
        Kind.INSTALL: "Install",
        Kind.REINSTALL: "Reinstall",
        Kind.RE_ENGAGEMENT: "Re-engagement",
        Kind.RE_ATTRIBUTION: "Re-attribution",  # never produced by this adapter; kept for completeness
    },
    properties={
        "media_source": "network",
        "channel": "source",
        "campaign": "campaign",
        "campaign_id": "campaign id",
        "adset": "sub campaign",
        "adset_id": "sub campaign id",
        "ad": "creative",
        "ad_id": "creative id",
        "site_id": "site id",
        "keywords": "keyword",
        "agency": "agency",
        "touch_type": "touch type",
        "is_organic": "is organic",
        "touch_time": "touch time",
        "install_time": "install time",
    },
)

_MAX_TEXT = 1024
_MAX_EVENT_NAME = 1000
_MAX_EVENT_PROPERTIES = 50
_MAX_PROPERTY_KEY = 100
_TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t"})
_DUNDER_NAME = re.compile(r"__[A-Za-z0-9_]*[A-Za-z0-9]__")

# event_name (lower case, "_"/"-"/spaces removed) → kind. [U] Singular's own names for its
# auto-tracked events: "install"/"__install__", "reinstall", "reengagement"; sessions "__START__"
# / "session". Anything else is an in-app event (revenue events are typically "__iap__").
_INSTALL_NAMES = frozenset({"install", "installs", "firstopen"})
_REINSTALL_NAMES = frozenset({"reinstall"})
_REENGAGEMENT_NAMES = frozenset({"reengagement", "reengage", "reattribution"})
_SESSION_NAMES = frozenset({"start", "session", "sessionstart", "open"})
_NOT_FORWARDED = frozenset({"uninstall", "click", "impression"})

# Campaign field → Singular keys, plain name first, then the export-log (tracker_*) name. [U]
_CAMPAIGN_KEYS: Mapping[str, tuple[str, ...]] = {
    "channel": ("source", "tracker_source_name"),
    "campaign": ("campaign_name", "tracker_campaign_name", "campaign"),
    "campaign_id": ("campaign_id", "tracker_campaign_id"),
    "adset": ("sub_campaign_name", "tracker_sub_campaign_name"),
    "adset_id": ("sub_campaign_id", "tracker_sub_campaign_id"),
    "ad": ("creative_name", "tracker_creative_name"),
    "ad_id": ("creative_id", "tracker_creative_id"),
    "site_id": ("site_id", "publisher_site_id", "publisher_id", "site_public_id"),
    "keywords": ("keyword", "keywords"),
    "agency": ("agency_name", "agency"),
}


def _get(raw: RawPostback, key: str) -> Any:
    value = raw.get(key)
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


def _text(raw: RawPostback, *keys: str, limit: int = _MAX_TEXT) -> str | None:
    for key in keys:
        text = clean_text(_get(raw, key))
        if text is not None:
            return text[:limit]
    return None


def _is_true(value: Any) -> bool:
    """Singular flags: 1/0 (as macros `{IS_RE_ENG}` render them), true/false, or their strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in _TRUE_WORDS


def _event_name(raw: RawPostback) -> str | None:
    """Singular's auto-tracked names look like `__START__`, which the shared macro rule would
    take for an unreplaced `__MACRO__` placeholder: keep those, clean everything else."""
    value = _get(raw, "event_name")
    if isinstance(value, str) and _DUNDER_NAME.fullmatch(value.strip()):
        return value.strip()[:_MAX_EVENT_NAME]
    return _text(raw, "event_name", limit=_MAX_EVENT_NAME)


def _squashed(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _kind(event_name: str, is_reengagement: bool) -> Kind:
    squashed = _squashed(event_name)
    if squashed in _INSTALL_NAMES:
        # An install credited to a re-engagement campaign is a re-engagement.
        return Kind.RE_ENGAGEMENT if is_reengagement else Kind.INSTALL
    if squashed in _REINSTALL_NAMES:
        return Kind.RE_ENGAGEMENT if is_reengagement else Kind.REINSTALL
    if squashed in _REENGAGEMENT_NAMES:
        return Kind.RE_ENGAGEMENT
    if squashed in _SESSION_NAMES:
        if is_reengagement:
            return Kind.RE_ENGAGEMENT  # the session a re-engagement campaign won
        raise BadRequest(
            f"Singular session {event_name!r} without re-engagement is not an attribution event",
            field="event_name",
            value=event_name[:100],
        )
    if squashed in _NOT_FORWARDED:
        raise BadRequest(
            f"Singular {event_name!r} events are not forwarded", field="event_name", value=event_name[:100]
        )
    # In-app events stay events even when attributed to a re-engagement campaign.
    return Kind.IN_APP_EVENT


def _device_ids(raw: RawPostback) -> DeviceIds:
    return DeviceIds(
        idfa=clean_idfa(_get(raw, "idfa")),
        idfv=clean_idfa(_get(raw, "idfv")),
        adid=clean_gaid(_get(raw, "aifa")),  # Singular's name for the GAID
        # [U] Singular's S2S API calls the App Set id `asid`.
        android_app_set_id=clean_gaid(_get(raw, "asid")) or clean_gaid(_get(raw, "app_set_id")),
        android_id=clean_gaid(_get(raw, "android_id")),
        # singular_id is Singular's own (deprecated) id, not an Amplitude id: deliberately not kept.
    )


def _platform(raw: RawPostback, ids: DeviceIds) -> Literal["ios", "android"] | None:
    stated = _text(raw, "platform", "os")
    if stated is not None:
        lowered = stated.lower()
        if lowered in ("ios", "android"):
            return "ios" if lowered == "ios" else "android"
        return None  # Web, PC, Console: Amplitude's Attribution API knows only ios/android
    apple = bool(ids.idfa or ids.idfv)
    google = bool(ids.adid or ids.android_id or ids.android_app_set_id)
    if apple != google:
        return "ios" if apple else "android"
    return None


def _campaign(raw: RawPostback, media_source: str) -> Campaign:
    fields: dict[str, Any] = {name: _text(raw, *keys) for name, keys in _CAMPAIGN_KEYS.items()}
    viewthrough = _get(raw, "is_viewthrough")
    touch_type = None
    if clean_text(viewthrough) is not None or isinstance(viewthrough, bool):
        touch_type = "impression" if _is_true(viewthrough) else "click"
    return Campaign(
        media_source=media_source,
        touch_type=touch_type,
        touch_time_ms=to_epoch_ms(_get(raw, "touchpoint_utc_timestamp"))
        or to_epoch_ms(_get(raw, "click_utc_timestamp")),
        **fields,
    )


def _decimal(raw: RawPostback, key: str) -> Decimal | None:
    """A money amount; None when absent or zero. Garbage is the sender's bug: 400 naming the field."""
    value = _get(raw, key)
    if isinstance(value, bool):
        raise BadRequest(f"Singular {key} is not a number: {value!r}", field=key)
    text = clean_text(value)
    if text is None:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise BadRequest(f"Singular {key} is not a number: {text[:100]!r}", field=key) from None
    if not amount.is_finite():
        raise BadRequest(f"Singular {key} is not a finite number: {text[:100]!r}", field=key)
    return amount or None


def _revenue(raw: RawPostback) -> Revenue | None:
    # [U] `revenue` (the {AMOUNT} macro's value) else `amount`; `revenue_usd` when sent.
    amount = _decimal(raw, "revenue")
    if amount is None:
        amount = _decimal(raw, "amount")
    amount_usd = _decimal(raw, "revenue_usd")
    currency = _text(raw, "currency", "original_currency")
    if amount is None:
        if amount_usd is None:
            return None
        return Revenue(amount=amount_usd, currency="USD", amount_usd=amount_usd)
    return Revenue(amount=amount, currency=currency.upper() if currency else None, amount_usd=amount_usd)


def _event_properties(raw: RawPostback) -> dict[str, str | int | float | bool]:
    """Scalar entries of the event's attributes (`event_attributes` [U]: an object, as Singular's
    S2S API takes them in `e`)."""
    value = _get(raw, "event_attributes")
    if not isinstance(value, Mapping):
        return {}
    properties: dict[str, str | int | float | bool] = {}
    for key, item in value.items():
        if len(properties) >= _MAX_EVENT_PROPERTIES:
            break
        if not isinstance(key, str) or not key.strip():
            continue
        if isinstance(item, str):
            properties[key[:_MAX_PROPERTY_KEY]] = item[:_MAX_TEXT]
        elif isinstance(item, (bool, int)) or (isinstance(item, float) and math.isfinite(item)):
            properties[key[:_MAX_PROPERTY_KEY]] = item
    return properties


def _device(raw: RawPostback) -> Device:
    country = _text(raw, "country", "country_code")
    return Device(
        os_version=_text(raw, "os_version"),
        model=_text(raw, "device_model", "model"),
        brand=_text(raw, "device_brand", "brand"),
        carrier=_text(raw, "carrier"),
        country=country.upper() if country else None,
        region=_text(raw, "region"),
        city=_text(raw, "city"),
        language=_text(raw, "language", "locale"),
        app_version=_text(raw, "app_version"),
    )


def parse(raw: RawPostback) -> Postback:
    """One Singular Internal BI postback (flat JSON object) as a normalised Postback."""
    event_name = _event_name(raw)
    if event_name is None:
        raise BadRequest("Singular postback has no event_name", field="event_name")
    is_reengagement = _is_true(_get(raw, "is_reengagement")) or _is_true(_get(raw, "is_re_engagement"))
    kind = _kind(event_name, is_reengagement)
    in_app = kind is Kind.IN_APP_EVENT
    ids = _device_ids(raw)

    time_ms = to_epoch_ms(_get(raw, "event_utc_timestamp"))
    install_time_ms = to_epoch_ms(_get(raw, "install_utc_timestamp"))
    if kind in (Kind.INSTALL, Kind.REINSTALL):
        if time_ms is None:
            time_ms = install_time_ms
        if install_time_ms is None:
            install_time_ms = time_ms

    network = _text(raw, "network", "network_name", "tracker_network")
    is_organic = _is_true(_get(raw, "is_organic")) or network is None or network.lower() in ("organic", "unattributed")

    return Postback(
        partner=PARTNER,
        kind=kind,
        event_name=event_name if in_app else None,
        platform=_platform(raw, ids),
        ids=ids,
        user_id=clean_user_id(_get(raw, "custom_user_id")),  # [U] Singular's "Custom User ID"
        time_ms=time_ms,
        install_time_ms=install_time_ms,
        is_organic=is_organic,
        campaign=_campaign(raw, "organic" if is_organic or network is None else network),
        revenue=_revenue(raw) if in_app else None,
        device=_device(raw),
        event_properties=_event_properties(raw) if in_app else {},
        # [U] Singular documents no per-postback id; honour one if the payload carries it.
        partner_event_id=_text(raw, "event_id"),
    )


ADAPTER = PartnerAdapter(name=PARTNER, display_name="Singular", convention=CONVENTION, parse=parse, method="POST")
