"""Tenjin S2S callbacks to our normalised `Postback`.

Tenjin calls a URL of ours (GET) with `{{double_brace}}` macros substituted in the query string.
The keys are whatever the callback URL says, so we publish `QUERY_TEMPLATE` (each key the macro's
own name). A macro Tenjin could not fill may arrive literally (`{{advertising_id}}`) or empty:
both count as absent. See shared/reference/partners.md section 6. Pure: no I/O, no clock.

Decisions (documented in docs/partners/tenjin.md):
- Tenjin has no macro naming the callback type, and one callback is configured per event in its
  dashboard. The user adds a literal `event_type=install` (install callback), `event_type=event`
  (custom event callbacks, optionally with a literal `event_name=<name>`) or
  `event_type=purchase` (purchase callback). Without it: an event name or revenue means an
  in-app event, else an install.
- `{{advertising_id}}` is the IDFA on iOS and the GAID on Android (Amazon: Fire advertising id):
  `{{platform}}` decides. Opted-out devices send it empty or all zeros: dropped.
  `{{developer_device_id}}` is the IDFV. Tenjin's `analytics_installation_id` is Tenjin's own
  install id, not an Amplitude id: never read.
- `{{value}}`: real Tenjin templates pass it as the event's name; a purely numeric value is taken
  as the event's value instead and kept as the event property `value`.
- Organic: `ad_network` "organic" (any case), or no ad network at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from ..errors import BadRequest
from ..ids import clean_gaid, clean_idfa, clean_text, clean_user_id
from ..models.postback import Campaign, Device, DeviceIds, Kind, Postback, Revenue
from ..timeparse import to_epoch_ms
from . import Convention, PartnerAdapter, RawPostback

PARTNER = "tenjin"

# Our recommended callback template: query key -> Tenjin macro (key = macro name). The callback
# type is a literal the user adds per callback (`&event_type=install`), see the module docstring.
QUERY_TEMPLATE: dict[str, str] = {
    name: f"{{{{{name}}}}}"
    for name in (
        "platform",
        "advertising_id",
        "developer_device_id",
        "ad_network",
        "campaign_name",
        "site_id",
        "creative_name",
        "country",
        "os_version",
        "device",
        "acquired_at_ms",
        "time_in_ms",
        "engaged_at_ms",
        "value",
        "revenue_usd_gross",
        "revenue_usd_net",
    )
}

# Literal `event_type` values the user writes into each callback URL.
EVENT_TYPES: Mapping[str, Kind] = {
    "install": Kind.INSTALL,
    "event": Kind.IN_APP_EVENT,
    "custom_event": Kind.IN_APP_EVENT,
    "in_app_event": Kind.IN_APP_EVENT,
    "purchase": Kind.IN_APP_EVENT,
}

CONVENTION = Convention(
    # No Amplitude-native Tenjin names are known (Amplitude's catalog has no Tenjin integration
    # naming): readable lower-case names after a "[Tenjin]" label, as for AppsFlyer.
    label="[Tenjin]",
    event_types={
        Kind.INSTALL: "Install",
        # Tenjin has no reinstall / re-engagement callbacks; names kept for completeness.
        Kind.REINSTALL: "Reinstall",
        Kind.RE_ENGAGEMENT: "Re-engagement",
        Kind.RE_ATTRIBUTION: "Re-attribution",
    },
    properties={
        "media_source": "ad network",
        "campaign": "campaign",
        "campaign_id": "campaign id",
        "site_id": "site id",
        "ad": "creative",
        "is_organic": "is organic",
        "install_time": "acquired at",
        "touch_time": "engaged at",
    },
)

# Amplitude rejects strings over 1024 characters.
_MAX_TEXT = 1024
# Leaves room for the "[Tenjin] " label in the Amplitude event type.
_MAX_EVENT_NAME = 1000

_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def _get(raw: RawPostback, key: str) -> Any:
    """The raw value of `key`; a repeated parameter (list) counts as its first usable value."""
    value = raw.get(key)
    if isinstance(value, (list, tuple)):
        return next((item for item in value if clean_text(item) is not None), None)
    return value


def _text(raw: RawPostback, *keys: str, limit: int = _MAX_TEXT) -> str | None:
    """The first usable text among `keys` (empty, "null", `{{macro}}` skipped), capped at `limit`."""
    for key in keys:
        text = clean_text(_get(raw, key))
        if text is not None:
            return text[:limit]
    return None


def _decimal(raw: RawPostback, key: str) -> Decimal | None:
    """A money amount; None when absent or zero. Garbage is the sender's bug: 400 naming the field."""
    value = _get(raw, key)
    if isinstance(value, bool):
        raise BadRequest(f"Tenjin {key} is not a number: {value!r}", field=key)
    text = clean_text(value)
    if text is None:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise BadRequest(f"Tenjin {key} is not a number: {text[:100]!r}", field=key) from None
    if not amount.is_finite():
        raise BadRequest(f"Tenjin {key} is not a finite number: {text[:100]!r}", field=key)
    return amount or None  # a revenue of 0 is no revenue


def _event_type(raw: RawPostback) -> str | None:
    text = clean_text(_get(raw, "event_type"))
    return re.sub(r"[\s\-]+", "_", text.strip().lower()) if text else None


def _value_name(raw: RawPostback) -> str | None:
    """`{{value}}` when it is a name; a number is the event's value, not its name."""
    value = _text(raw, "value", limit=_MAX_EVENT_NAME)
    return value if value is not None and not _NUMBER.match(value) else None


def _kind(raw: RawPostback, event_type: str | None) -> Kind:
    if event_type is None:
        named = _text(raw, "event_name", "event") or _value_name(raw)
        if named is not None and named.lower() == "install":
            return Kind.INSTALL
        has_revenue = _decimal(raw, "revenue_usd_gross") is not None
        return Kind.IN_APP_EVENT if named or has_revenue else Kind.INSTALL
    kind = EVENT_TYPES.get(event_type)
    if kind is None:
        raise BadRequest(
            f"Tenjin event_type {event_type[:100]!r} is not forwarded to Amplitude: use install, event or purchase",
            field="event_type",
            value=event_type[:100],
        )
    return kind


def _platform(raw: RawPostback) -> Literal["ios", "android"] | None:
    stated = clean_text(_get(raw, "platform"))
    if stated is not None:
        lowered = stated.lower()
        if lowered == "ios":
            return "ios"
        if lowered in ("android", "amazon", "android_other"):
            return "android"  # Fire OS and other Android stores are Android to Amplitude
        return None  # windows, ...: Amplitude's Attribution API knows only ios/android
    # No platform: an IDFV exists only on iOS. A bare advertising id could be either: unknown.
    return "ios" if clean_idfa(_get(raw, "developer_device_id")) else None


def _device_ids(raw: RawPostback, platform: Literal["ios", "android"] | None) -> DeviceIds:
    advertising_id = _get(raw, "advertising_id")
    return DeviceIds(
        idfa=clean_idfa(advertising_id) if platform == "ios" else None,
        idfv=clean_idfa(_get(raw, "developer_device_id")) if platform == "ios" else None,
        adid=clean_gaid(advertising_id) if platform == "android" else None,
    )


def _revenue(raw: RawPostback) -> Revenue | None:
    amount_usd = _decimal(raw, "revenue_usd_gross")
    if amount_usd is None:
        return None
    return Revenue(amount=amount_usd, currency="USD", amount_usd=amount_usd)


def _event_properties(raw: RawPostback) -> dict[str, str | int | float | bool]:
    properties: dict[str, str | int | float | bool] = {}
    value = _text(raw, "value")
    if value is not None and _NUMBER.match(value):
        properties["value"] = int(value) if value.lstrip("+-").isdigit() else float(value)
    net = _decimal(raw, "revenue_usd_net")
    if net is not None:
        properties["revenue_usd_net"] = float(net)  # after store fees; the gross is the revenue
    return properties


def _device(raw: RawPostback) -> Device:
    country = _text(raw, "country")
    return Device(
        os_version=_text(raw, "os_version"),
        model=_text(raw, "device"),
        country=country.upper() if country else None,
        app_version=_text(raw, "app_version"),
    )


def parse(raw: RawPostback) -> Postback:
    """One Tenjin S2S callback (GET query dict) as a normalised Postback."""
    event_type = _event_type(raw)
    kind = _kind(raw, event_type)
    in_app = kind is Kind.IN_APP_EVENT
    platform = _platform(raw)

    install_time_ms = to_epoch_ms(_get(raw, "acquired_at_ms"))
    time_ms = to_epoch_ms(_get(raw, "time_in_ms"))
    if time_ms is None and kind is Kind.INSTALL:
        time_ms = install_time_ms  # for installs the acquisition time is the event time

    ad_network = _text(raw, "ad_network")
    is_organic = ad_network is None or ad_network.lower() == "organic"

    event_name: str | None = None
    if in_app:
        event_name = _text(raw, "event_name", "event", limit=_MAX_EVENT_NAME) or _value_name(raw)
        if event_name is None and event_type == "purchase":
            event_name = "purchase"

    return Postback(
        partner=PARTNER,
        kind=kind,
        event_name=event_name,
        platform=platform,
        ids=_device_ids(raw, platform),
        user_id=clean_user_id(_get(raw, "customer_user_id")) or clean_user_id(_get(raw, "user_id")),
        time_ms=time_ms,
        install_time_ms=install_time_ms,
        is_organic=is_organic,
        campaign=Campaign(
            media_source="organic" if is_organic else ad_network,
            campaign=_text(raw, "campaign_name"),
            campaign_id=_text(raw, "campaign_id"),
            site_id=_text(raw, "site_id"),
            ad=_text(raw, "creative_name"),
            touch_time_ms=to_epoch_ms(_get(raw, "engaged_at_ms")),
        ),
        revenue=_revenue(raw) if in_app else None,
        device=_device(raw),
        event_properties=_event_properties(raw) if in_app else {},
        # Tenjin sends no per-callback id; honour one if a template supplies it.
        partner_event_id=_text(raw, "event_id"),
    )


ADAPTER = PartnerAdapter(
    name=PARTNER,
    display_name="Tenjin",
    convention=CONVENTION,
    parse=parse,
    method="GET",
    query_template=QUERY_TEMPLATE,
)
