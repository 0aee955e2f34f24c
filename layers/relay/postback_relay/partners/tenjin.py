"""Tenjin S2S callbacks to our normalised `Postback`.

Tenjin calls a URL of ours (GET) with `{{double_brace}}` macros substituted in the query string.
The keys are whatever the callback URL says, so we publish `QUERY_TEMPLATE` (each key the macro's
own name). A macro Tenjin could not fill may arrive literally (`{{advertising_id}}`) or empty:
both count as absent. See docs/partners.md#tenjin and https://docs.tenjin.com/docs/callback-macros.
Pure: no I/O, no clock.

Decisions (documented in docs/partners.md#tenjin):
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

import math
import re
from collections.abc import Mapping

from ..errors import BadRequest
from ..ids import clean_text
from ..models.postback import Campaign, DeviceIds, Kind, Postback
from . import TITLE_CASE_EVENT_TYPES, Convention, PartnerAdapter, RawPostback
from .fields import MAX_EVENT_NAME, Fields, Platform, PropertyValue, resolve_platform, revenue

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
    event_types=TITLE_CASE_EVENT_TYPES,  # Tenjin has no reinstall / re-engagement callbacks
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

_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def _event_type(fields: Fields) -> str | None:
    text = clean_text(fields.get("event_type"))
    return re.sub(r"[\s\-]+", "_", text.strip().lower()) if text else None


def _value_name(fields: Fields) -> str | None:
    """`{{value}}` when it is a name; a number is the event's value, not its name."""
    value = fields.text("value", limit=MAX_EVENT_NAME)
    return value if value is not None and not _NUMBER.match(value) else None


def _kind(fields: Fields, event_type: str | None) -> Kind:
    if event_type is None:
        named = fields.text("event_name", "event") or _value_name(fields)
        if named is not None and named.lower() == "install":
            return Kind.INSTALL
        has_revenue = fields.money("revenue_usd_gross") is not None
        return Kind.IN_APP_EVENT if named or has_revenue else Kind.INSTALL
    kind = EVENT_TYPES.get(event_type)
    if kind is None:
        raise BadRequest(
            f"Tenjin event_type {event_type[:100]!r} is not forwarded to Amplitude: use install, event or purchase",
            field="event_type",
            value=event_type[:100],
        )
    return kind


def _platform(fields: Fields) -> Platform | None:
    # Fire OS and other Android stores are Android to Amplitude. No platform: an IDFV exists only
    # on iOS; a bare advertising id could be either, so it is not used to guess.
    return resolve_platform(
        clean_text(fields.get("platform")),
        fields.device_ids(idfv=("developer_device_id",)),
        android=("android", "amazon", "android_other"),
    )


def _device_ids(fields: Fields, platform: Platform | None) -> DeviceIds:
    """`{{advertising_id}}` is the IDFA on iOS, the GAID (or Fire id) on Android: the platform decides."""
    if platform == "ios":
        return fields.device_ids(idfa=("advertising_id",), idfv=("developer_device_id",))
    if platform == "android":
        return fields.device_ids(adid=("advertising_id",))
    return DeviceIds()


def _event_properties(fields: Fields) -> dict[str, PropertyValue]:
    properties: dict[str, PropertyValue] = {}
    value = fields.text("value")
    if value is not None and _NUMBER.match(value):
        number: int | float = int(value) if value.lstrip("+-").isdigit() else float(value)
        # Beyond what Amplitude's JSON numbers carry (float infinity, past int64): kept as the text sent.
        fits = math.isfinite(number) and -(2**63) <= number < 2**63
        properties["value"] = number if fits else value
    net = fields.money("revenue_usd_net")
    if net is not None:
        properties["revenue_usd_net"] = float(net)  # after store fees; the gross is the revenue
    return properties


def parse(raw: RawPostback) -> Postback:
    """One Tenjin S2S callback (GET query dict) as a normalised Postback."""
    fields = Fields(raw, "Tenjin")
    event_type = _event_type(fields)
    kind = _kind(fields, event_type)
    in_app = kind is Kind.IN_APP_EVENT
    platform = _platform(fields)

    install_time_ms = fields.time_ms("acquired_at_ms")
    time_ms = fields.time_ms("time_in_ms")
    if time_ms is None and kind is Kind.INSTALL:
        time_ms = install_time_ms  # for installs the acquisition time is the event time

    ad_network = fields.text("ad_network")
    is_organic = ad_network is None or ad_network.lower() == "organic"

    event_name: str | None = None
    if in_app:
        event_name = fields.text("event_name", "event", limit=MAX_EVENT_NAME) or _value_name(fields)
        if event_name is None and event_type == "purchase":
            event_name = "purchase"

    return Postback(
        partner=PARTNER,
        kind=kind,
        event_name=event_name,
        platform=platform,
        ids=_device_ids(fields, platform),
        user_id=fields.user_id("customer_user_id", "user_id"),
        time_ms=time_ms,
        install_time_ms=install_time_ms,
        is_organic=is_organic,
        campaign=Campaign(
            media_source="organic" if is_organic else ad_network,
            campaign=fields.text("campaign_name"),
            campaign_id=fields.text("campaign_id"),
            site_id=fields.text("site_id"),
            ad=fields.text("creative_name"),
            touch_time_ms=fields.time_ms("engaged_at_ms"),
        ),
        # Gross USD only: Tenjin sends no local-currency amount.
        revenue=revenue(None, fields.money("revenue_usd_gross"), None) if in_app else None,
        device=fields.device(
            os_version=("os_version",), model=("device",), country=("country",), app_version=("app_version",)
        ),
        event_properties=_event_properties(fields) if in_app else {},
        # Tenjin sends no per-callback id; honour one if a template supplies it.
        partner_event_id=fields.text("event_id"),
    )


# Every key parse() reads (tests/unit/test_partner_contract.py checks it): pass-through forwards
# only the others.
MAPPED_KEYS = frozenset(
    {
        "acquired_at_ms",
        "ad_network",
        "advertising_id",
        "app_version",
        "campaign_id",
        "campaign_name",
        "country",
        "creative_name",
        "customer_user_id",
        "developer_device_id",
        "device",
        "engaged_at_ms",
        "event",
        "event_id",
        "event_name",
        "event_type",
        "os_version",
        "platform",
        "revenue_usd_gross",
        "revenue_usd_net",
        "site_id",
        "time_in_ms",
        "user_id",
        "value",
    }
)


ADAPTER = PartnerAdapter(
    name=PARTNER,
    display_name="Tenjin",
    convention=CONVENTION,
    parse=parse,
    method="GET",
    query_template=QUERY_TEMPLATE,
    mapped_keys=MAPPED_KEYS,
)
