"""AppsFlyer Push API (V2.0) postbacks to our normalised `Postback`.

AppsFlyer sends one flat object per conversion: a JSON body on POST, or the same field names as
query-string parameters on GET (then every value is a string: "true", "null", "9.99", ...).
Many keys arrive present but null, so every read goes through the shared id/text hygiene.
See docs in shared/reference/partners.md section 1. Pure: no I/O, no clock.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from ..errors import BadRequest
from ..ids import clean_gaid, clean_idfa, clean_text, clean_user_id
from ..models.postback import Campaign, Device, DeviceIds, Kind, Postback, Revenue
from ..timeparse import to_epoch_ms
from . import Convention, PartnerAdapter, RawPostback

PARTNER = "appsflyer"

CONVENTION = Convention(
    label="[AppsFlyer]",
    event_types={
        Kind.INSTALL: "Install",
        Kind.REINSTALL: "Reinstall",
        Kind.RE_ENGAGEMENT: "Re-engagement",
        Kind.RE_ATTRIBUTION: "Re-attribution",
    },
    # Amplitude's own AppsFlyer integration names ("[AppsFlyer] media source"): fields with spaces.
    properties={
        "media_source": "media source",
        "channel": "channel",
        "campaign": "campaign",
        "campaign_id": "campaign id",
        "adset": "adset",
        "adset_id": "adset id",
        "ad": "ad",
        "ad_id": "ad id",
        "site_id": "site id",
        "keywords": "keywords",
        "agency": "agency",
        "touch_type": "touch type",
        "is_organic": "is organic",
        "touch_time": "attributed touch time",
        "install_time": "install time",
    },
)

# Amplitude rejects strings over 1024 characters; AppsFlyer recommends the same ceiling.
_MAX_TEXT = 1024
# Leaves room for the "[AppsFlyer] " label in the Amplitude event type.
_MAX_EVENT_NAME = 1000
# event_value → event_properties limits (keeps one chatty SDK event from bloating Amplitude).
_MAX_EVENT_PROPERTIES = 50
_MAX_PROPERTY_KEY = 100

_TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t"})

# event_type values (lower case, '-' separated) → kind. Any "*-in-app-event" is an in-app event.
_EVENT_TYPES: Mapping[str, Kind] = {
    "install": Kind.INSTALL,
    "organic-install": Kind.INSTALL,
    "reinstall": Kind.REINSTALL,
    "organic-reinstall": Kind.REINSTALL,
    "re-engagement": Kind.RE_ENGAGEMENT,
    "re-attribution": Kind.RE_ATTRIBUTION,
    "in-app-event": Kind.IN_APP_EVENT,
}

# Campaign field → AppsFlyer key.
_CAMPAIGN_KEYS: Mapping[str, str] = {
    "channel": "af_channel",
    "campaign": "campaign",
    "campaign_id": "af_c_id",
    "adset": "af_adset",
    "adset_id": "af_adset_id",
    "ad": "af_ad",
    "ad_id": "af_ad_id",
    "site_id": "af_siteid",
    "keywords": "af_keywords",
    "agency": "af_prt",
    "touch_type": "attributed_touch_type",
}


def _get(raw: RawPostback, key: str) -> Any:
    """The raw value of `key`; a repeated query parameter (list) counts as its first value."""
    value = raw.get(key)
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


def _text(raw: RawPostback, *keys: str, limit: int = _MAX_TEXT) -> str | None:
    """The first usable text among `keys` (null, "", "null", macros skipped), capped at `limit`."""
    for key in keys:
        text = clean_text(_get(raw, key))
        if text is not None:
            return text[:limit]
    return None


def _is_true(value: Any) -> bool:
    """AppsFlyer booleans: JSON true, 1, or the strings "true"/"True"/"1" from a GET query."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in _TRUE_WORDS


def _time_ms(raw: RawPostback, key: str) -> int | None:
    """`key` (UTC, no offset) else its `*_selected_timezone` twin (explicit offset)."""
    millis = to_epoch_ms(_get(raw, key))
    return millis if millis is not None else to_epoch_ms(_get(raw, f"{key}_selected_timezone"))


def _normalised_type(value: str) -> str:
    return value.strip().lower().replace("_", "-").replace(" ", "-")


def _kind_from_event_type(event_type: str) -> Kind:
    normalised = _normalised_type(event_type)
    if normalised.endswith("-in-app-event"):
        # install-, organic-install-, re-engagement-, re-attribution-in-app-event
        return Kind.IN_APP_EVENT
    kind = _EVENT_TYPES.get(normalised)
    if kind is None:
        raise BadRequest(f"unknown AppsFlyer event_type {event_type!r}", field="event_type", value=event_type[:100])
    return kind


def _retargeting_kind(raw: RawPostback) -> Kind:
    conversion = clean_text(_get(raw, "retargeting_conversion_type"))
    if conversion and _normalised_type(conversion) == "re-attribution":
        return Kind.RE_ATTRIBUTION
    return Kind.RE_ENGAGEMENT  # AppsFlyer's default retargeting conversion


def _kind(raw: RawPostback) -> Kind:
    event_type = clean_text(_get(raw, "event_type"))
    if event_type is not None:
        kind = _kind_from_event_type(event_type)
    else:
        # No event_type (a hand-written GET template): installs carry event_name "install".
        event_name = clean_text(_get(raw, "event_name"))
        named_kind = _EVENT_TYPES.get(_normalised_type(event_name or "install"))
        kind = named_kind or Kind.IN_APP_EVENT
    # A retargeting conversion can arrive labelled as an install; in-app events stay events.
    if kind is Kind.INSTALL and _is_true(_get(raw, "is_retargeting")):
        return _retargeting_kind(raw)
    return kind


def _device_ids(raw: RawPostback) -> DeviceIds:
    return DeviceIds(
        idfa=clean_idfa(_get(raw, "idfa")),
        idfv=clean_idfa(_get(raw, "idfv")),
        # Amplitude's `adid` is the advertising id: Google's GAID, else Amazon Fire's.
        # Never android_id (rudder-transformer's mistake): Amplitude cannot match on it.
        adid=clean_gaid(_get(raw, "advertising_id")) or clean_gaid(_get(raw, "amazon_aid")),
        android_app_set_id=clean_gaid(_get(raw, "app_set_id")) or clean_gaid(_get(raw, "android_app_set_id")),
        android_id=clean_gaid(_get(raw, "android_id")),
        # appsflyer_id is AppsFlyer's own install id, not an Amplitude id: deliberately not kept.
    )


def _platform(raw: RawPostback, ids: DeviceIds) -> Literal["ios", "android"] | None:
    stated = clean_text(_get(raw, "platform"))
    if stated is not None:
        lowered = stated.lower()
        if lowered in ("ios", "android"):
            return "ios" if lowered == "ios" else "android"
        return None  # windowsphone, pc, ...: Amplitude's Attribution API knows only ios/android
    # No platform field: infer from which family of ids is present (ambiguous → unknown).
    apple = bool(ids.idfa or ids.idfv)
    google = bool(ids.adid or ids.android_id or ids.android_app_set_id)
    if apple and not google:
        return "ios"
    if google and not apple:
        return "android"
    return None


def _campaign(raw: RawPostback, media_source: str) -> Campaign:
    fields: dict[str, Any] = {name: _text(raw, key) for name, key in _CAMPAIGN_KEYS.items()}
    return Campaign(
        media_source=media_source,
        touch_time_ms=_time_ms(raw, "attributed_touch_time"),
        **fields,
    )


def _decimal(raw: RawPostback, key: str) -> Decimal | None:
    """A money amount; None when absent or zero. Garbage is the sender's bug: 400 naming the field."""
    value = _get(raw, key)
    if isinstance(value, bool):
        raise BadRequest(f"AppsFlyer {key} is not a number: {value!r}", field=key)
    text = clean_text(value)
    if text is None:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise BadRequest(f"AppsFlyer {key} is not a number: {text[:100]!r}", field=key) from None
    if not amount.is_finite():
        raise BadRequest(f"AppsFlyer {key} is not a finite number: {text[:100]!r}", field=key)
    return amount or None  # a revenue of 0 is no revenue


def _revenue(raw: RawPostback) -> Revenue | None:
    amount = _decimal(raw, "event_revenue")
    amount_usd = _decimal(raw, "event_revenue_usd")
    currency = _text(raw, "event_revenue_currency")
    if amount is None:
        if amount_usd is None:
            return None
        # Only the USD figure was sent (e.g. a trimmed GET template): still a purchase.
        return Revenue(amount=amount_usd, currency="USD", amount_usd=amount_usd)
    return Revenue(amount=amount, currency=currency.upper() if currency else None, amount_usd=amount_usd)


def _event_properties(raw: RawPostback) -> dict[str, str | int | float | bool]:
    """Scalar entries of `event_value` (a JSON-encoded string, or already an object)."""
    value = _get(raw, "event_value")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            return {}  # malformed event_value is the app's data, not a reason to refuse the postback
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
            # json.loads accepts NaN/Infinity, which Amplitude's JSON cannot carry.
            properties[key[:_MAX_PROPERTY_KEY]] = item
        # None, lists and nested objects (e.g. af_content lists) are skipped: not flat properties.
    return properties


def _device(raw: RawPostback) -> Device:
    country = _text(raw, "country_code")
    return Device(
        os_version=_text(raw, "os_version"),
        model=_text(raw, "device_model", "device_type"),
        carrier=_text(raw, "carrier", "operator"),
        country=country.upper() if country else None,
        # AppsFlyer's `state` is the state/province; its `region` is the continent ("AS", "EU"),
        # which is not what Amplitude's `region` means, so it is not used.
        region=_text(raw, "state"),
        city=_text(raw, "city"),
        language=_text(raw, "language"),
        app_version=_text(raw, "app_version"),
    )


def parse(raw: RawPostback) -> Postback:
    """One AppsFlyer Push API message (POST JSON or GET query dict) as a normalised Postback."""
    kind = _kind(raw)
    in_app = kind is Kind.IN_APP_EVENT
    ids = _device_ids(raw)

    time_ms = _time_ms(raw, "event_time")
    install_time_ms = _time_ms(raw, "install_time")
    if time_ms is None and kind in (Kind.INSTALL, Kind.REINSTALL):
        time_ms = install_time_ms  # for (re)installs the install time is the event time

    media_source = _text(raw, "media_source")
    is_organic = media_source is None or media_source.lower() == "organic"

    return Postback(
        partner=PARTNER,
        kind=kind,
        event_name=_text(raw, "event_name", limit=_MAX_EVENT_NAME) if in_app else None,
        platform=_platform(raw, ids),
        ids=ids,
        user_id=clean_user_id(_get(raw, "customer_user_id")),
        time_ms=time_ms,
        install_time_ms=install_time_ms,
        is_organic=is_organic,
        campaign=_campaign(raw, media_source if media_source and not is_organic else "organic"),
        revenue=_revenue(raw) if in_app else None,
        device=_device(raw),
        event_properties=_event_properties(raw) if in_app else {},
        # The Push API documents no per-message id; honour one if a GET template supplies it.
        partner_event_id=_text(raw, "event_id", "af_event_id"),
    )


ADAPTER = PartnerAdapter(name=PARTNER, display_name="AppsFlyer", convention=CONVENTION, parse=parse)
