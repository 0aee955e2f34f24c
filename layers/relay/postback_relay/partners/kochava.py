"""Kochava custom postbacks to our normalised `Postback`.

Kochava calls the destination URL of a "Custom Postback" with `{macro}` values substituted into
its query string (GET). The query KEYS are whatever the person who wrote the URL chose, so the
relay publishes QUERY_TEMPLATE: each key is the macro's own name (`idfa={idfa}`). One custom
postback is configured per event (install, each post-install event, SessionBegin).

Macro names: Kochava's support page hides them in its crawl; the meanings are confirmed [V] and
the spellings come from integrations that use them [O] (`event_name`, `event_value`, `idfa`,
`adid` = the GAID, unlike Adjust's `adid`!, `android_id`, `kochava_device_id`, `network_name`,
`site_id`, `creative_id`, `country`, `currency`). Marked [U] below: names not confirmed anywhere.
See shared/reference/partners.md section 4. Pure: no I/O, no clock.
"""

from __future__ import annotations

import contextlib
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

PARTNER = "kochava"

# Our recommended destination URL query: key → Kochava macro (each key the macro's own name).
QUERY_TEMPLATE: Mapping[str, str] = {
    "event_name": "{event_name}",  # "_install" for installs [V]
    "event_time": "{event_time}",  # [U] the "datetime of event" macro; epoch seconds or a datetime
    "event_value": "{event_value}",  # numeric data sent with the event [V]
    "currency": "{currency}",  # [O]
    "idfa": "{idfa}",
    "idfv": "{idfv}",  # [U]
    "adid": "{adid}",  # the GAID [V]
    "android_id": "{android_id}",
    "user_id": "{user_id}",  # [U] the app's own user id (identity link)
    "platform": "{platform}",  # [U] Kochava apps are per platform: hard-code platform=ios|android instead
    "network_name": "{network_name}",
    "campaign_name": "{campaign_name}",  # [U]
    "campaign_id": "{campaign_id}",  # [U]
    "site_id": "{site_id}",  # for SANs: the SAN's campaign/ad set name [V]
    "creative_id": "{creative_id}",  # for SANs: the SAN's ad name [V]
    "country": "{country}",
    "os_version": "{os_version}",  # [U]
}

# No Amplitude-native names for Kochava were found [U]: readable names in Kochava's own terms.
CONVENTION = Convention(
    label="[Kochava]",
    event_types={
        Kind.INSTALL: "Install",
        Kind.REINSTALL: "Reinstall",
        Kind.RE_ENGAGEMENT: "Re-engagement",
        Kind.RE_ATTRIBUTION: "Re-attribution",  # never produced by this adapter; kept for completeness
    },
    properties={
        "media_source": "network",
        "campaign": "campaign",
        "campaign_id": "campaign id",
        "site_id": "site id",
        "ad_id": "creative id",
        "is_organic": "is organic",
        "install_time": "install time",
    },
)

_MAX_TEXT = 1024
_MAX_EVENT_NAME = 1000
_MAX_EVENT_PROPERTIES = 50
_MAX_PROPERTY_KEY = 100

# event_name (lower case, "_"/"-"/spaces removed) → kind.
_INSTALL_NAMES = frozenset({"install"})  # Kochava sends "_install" [V]
_REINSTALL_NAMES = frozenset({"reinstall"})  # [U]
_REENGAGEMENT_NAMES = frozenset({"reengagement", "reattribution"})  # [U]
# SessionBegin postbacks carry attribution once per device per 24 h (from 24 h after install) [V]:
# with a network that is a re-engagement; without one it is just an app open.
_SESSION_NAMES = frozenset({"sessionbegin", "session"})
_ORGANIC_NETWORKS = frozenset({"unattributed", "organic", "none"})  # [U] Kochava's label: "Unattributed"


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


def _squashed(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _kind(event_name: str, is_organic: bool) -> Kind:
    squashed = _squashed(event_name)
    if squashed in _INSTALL_NAMES:
        return Kind.INSTALL
    if squashed in _REINSTALL_NAMES:
        return Kind.REINSTALL
    if squashed in _REENGAGEMENT_NAMES:
        return Kind.RE_ENGAGEMENT
    if squashed in _SESSION_NAMES:
        if not is_organic:
            return Kind.RE_ENGAGEMENT
        raise BadRequest(
            f"Kochava {event_name!r} without an attributed network is not an attribution event",
            field="event_name",
            value=event_name[:100],
        )
    return Kind.IN_APP_EVENT


def _device_ids(raw: RawPostback) -> DeviceIds:
    return DeviceIds(
        idfa=clean_idfa(_get(raw, "idfa")),
        idfv=clean_idfa(_get(raw, "idfv")),
        adid=clean_gaid(_get(raw, "adid")),  # Kochava's adid IS the GAID (Adjust's is not)
        android_app_set_id=clean_gaid(_get(raw, "app_set_id")),  # [U] only if a template adds it
        android_id=clean_gaid(_get(raw, "android_id")),
        # kochava_device_id is Kochava's own id, not an Amplitude id: deliberately not read.
    )


def _platform(raw: RawPostback, ids: DeviceIds) -> Literal["ios", "android"] | None:
    stated = _text(raw, "platform", "device_os", "os")
    if stated is not None:
        lowered = stated.lower()
        if lowered in ("ios", "iphone", "ipad", "ipados"):
            return "ios"
        if lowered == "android":
            return "android"
        return None  # windows, web, tvOS...: Amplitude's Attribution API knows only ios/android
    apple = bool(ids.idfa or ids.idfv)
    google = bool(ids.adid or ids.android_id or ids.android_app_set_id)
    if apple != google:
        return "ios" if apple else "android"
    return None


def _event_value(raw: RawPostback) -> tuple[Decimal | None, dict[str, str | int | float | bool]]:
    """`event_value` is a number for a purchase (its value), else free data: a JSON object becomes
    event properties, any other text one `event_value` property. Never a reason for a 400."""
    value = _get(raw, "event_value")
    if isinstance(value, str) and value.strip().startswith("{"):
        # A JSON object looks like an unreplaced `{macro}` to clean_text: try JSON first.
        with contextlib.suppress(ValueError, RecursionError):  # "{event_value}": a macro, dropped below
            value = json.loads(value)
    if isinstance(value, Mapping):
        data: Any = value
    else:
        text = clean_text(value) if not isinstance(value, bool) else None
        if text is None:
            return None, {}
        try:
            amount = Decimal(text)
        except InvalidOperation:
            amount = None
        if amount is not None:
            return (amount if amount.is_finite() and amount else None), {}
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return None, {"event_value": text[:_MAX_TEXT]}
        if not isinstance(data, Mapping):
            return None, {"event_value": text[:_MAX_TEXT]}
    properties: dict[str, str | int | float | bool] = {}
    for key, item in data.items():
        if len(properties) >= _MAX_EVENT_PROPERTIES:
            break
        if not isinstance(key, str) or not key.strip():
            continue
        if isinstance(item, str):
            properties[key[:_MAX_PROPERTY_KEY]] = item[:_MAX_TEXT]
        elif isinstance(item, (bool, int)) or (isinstance(item, float) and math.isfinite(item)):
            properties[key[:_MAX_PROPERTY_KEY]] = item
    return None, properties


def _device(raw: RawPostback) -> Device:
    country = _text(raw, "country")
    return Device(
        os_version=_text(raw, "os_version"),
        model=_text(raw, "device_model"),  # [U]
        country=country.upper() if country else None,
        app_version=_text(raw, "app_version"),  # [U]
    )


def parse(raw: RawPostback) -> Postback:
    """One Kochava custom postback (the GET query dict, every value a string) as a Postback."""
    event_name = _text(raw, "event_name", limit=_MAX_EVENT_NAME)
    if event_name is None:
        # Our template always sends it; without it an install cannot be told from an event.
        raise BadRequest("Kochava postback has no event_name (see the recommended URL template)", field="event_name")
    network = _text(raw, "network_name")
    is_organic = network is None or network.lower() in _ORGANIC_NETWORKS
    kind = _kind(event_name, is_organic)
    in_app = kind is Kind.IN_APP_EVENT
    ids = _device_ids(raw)

    time_ms = to_epoch_ms(_get(raw, "event_time"))
    install_time_ms = time_ms if kind in (Kind.INSTALL, Kind.REINSTALL) else None

    amount, properties = _event_value(raw) if in_app else (None, {})
    currency = _text(raw, "currency")
    revenue = Revenue(amount=amount, currency=currency.upper() if currency else None) if amount is not None else None

    return Postback(
        partner=PARTNER,
        kind=kind,
        event_name=event_name if in_app else None,
        platform=_platform(raw, ids),
        ids=ids,
        user_id=clean_user_id(_get(raw, "user_id")),
        time_ms=time_ms,
        install_time_ms=install_time_ms,
        is_organic=is_organic,
        campaign=Campaign(
            media_source="organic" if is_organic or network is None else network,
            campaign=_text(raw, "campaign_name"),
            campaign_id=_text(raw, "campaign_id"),
            site_id=_text(raw, "site_id"),
            ad_id=_text(raw, "creative_id"),
        ),
        revenue=revenue,
        device=_device(raw),
        event_properties=properties,
        # Kochava sends no per-postback id: the dedup key is a hash of the normalised fields.
        partner_event_id=None,
    )


ADAPTER = PartnerAdapter(
    name=PARTNER,
    display_name="Kochava",
    convention=CONVENTION,
    parse=parse,
    method="GET",
    query_template=QUERY_TEMPLATE,
)
