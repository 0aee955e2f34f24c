"""Branch webhooks (People-Based Attribution event ontology) to our normalised `Postback`.

Branch POSTs one nested JSON object per event: top-level `name`, `id` (Branch's event id: our dedup
key), `timestamp` (epoch ms), `attributed`, `user_data` {os, idfa, idfv, aaid, developer_identity,
...}, `last_attributed_touch_data` {~advertising_partner_name, ~channel, ~campaign, ...},
`event_data` {revenue, currency, transaction_id} and `custom_data`. Empty objects are omitted.

Branch can also call a templated GET URL (`?name=${(name)!}&user_data.idfa=${(user_data.idfa)!}`):
then the query keys are the dotted paths of the JSON body, every value a string, and a field
Branch has no value for is "" (or, in a template Branch did not render, the literal `${(x)!}`).
We un-flatten dotted keys first, so both flavours go through one parser.

See shared/reference/partners.md section 3. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from ..errors import BadRequest
from ..ids import clean_gaid, clean_idfa, clean_text, clean_user_id
from ..models.postback import Campaign, Device, DeviceIds, Kind, Postback, Revenue
from ..timeparse import to_epoch_ms
from . import Convention, PartnerAdapter, RawPostback

PARTNER = "branch"

# No Amplitude-native names for Branch were found [U]: readable names in Branch's own terms.
CONVENTION = Convention(
    label="[Branch]",
    event_types={
        Kind.INSTALL: "Install",
        Kind.REINSTALL: "Reinstall",
        Kind.RE_ENGAGEMENT: "Re-engagement",
        Kind.RE_ATTRIBUTION: "Re-attribution",  # never produced by this adapter; kept for completeness
    },
    properties={
        "media_source": "media source",
        "channel": "channel",
        "campaign": "campaign",
        "campaign_id": "campaign id",
        "adset": "ad set",
        "adset_id": "ad set id",
        "ad": "ad",
        "ad_id": "ad id",
        "site_id": "secondary publisher",
        "keywords": "keyword",
        "agency": "agency",
        "touch_type": "touch type",
        "is_organic": "is organic",
        "touch_time": "attributed touch time",
        "install_time": "install time",
    },
)

_MAX_TEXT = 1024  # Amplitude's string ceiling
_MAX_EVENT_NAME = 1000  # leaves room for the "[Branch] " label
_MAX_EVENT_PROPERTIES = 50
_MAX_PROPERTY_KEY = 100
_TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t"})
_FALSE_WORDS = frozenset({"false", "0", "no", "n", "f"})

# Branch event names (upper case, spaces for underscores) that are not attribution or in-app events:
# touches and web sessions. Forwarding them would flood Amplitude with ad clicks.
_NOT_FORWARDED = frozenset(
    {"CLICK", "IMPRESSION", "WEB SESSION START", "PAGEVIEW", "PAGE VIEW", "WEB TO APP AUTO REDIRECT"}
)

# Campaign field → key in last_attributed_touch_data (Branch's tilde keys).
_TOUCH_KEYS: Mapping[str, tuple[str, ...]] = {
    "channel": ("~channel",),
    "campaign": ("~campaign",),
    "campaign_id": ("~campaign_id",),
    "adset": ("~ad_set_name",),
    "adset_id": ("~ad_set_id",),
    "ad": ("~ad_name", "~creative_name"),
    "ad_id": ("~ad_id", "~creative_id"),
    "site_id": ("~secondary_publisher",),
    "keywords": ("~keyword",),
    "agency": ("~agency",),  # [U] Branch documents agencies, the touch-data key is unconfirmed
}


def _unflatten(raw: RawPostback) -> dict[str, Any]:
    """The templated-GET flavour (`user_data.idfa=...`) as the nested JSON body Branch POSTs.

    A dotted key fills in only what a nested object of the body does not already hold, so the
    same field sent both ways keeps the body's value. `~` keys contain no dots, so the split is safe.
    """
    nested: dict[str, Any] = {}
    dotted: list[tuple[str, Any]] = []
    for key, value in raw.items():
        if "." in key:
            dotted.append((key, value))
        else:
            nested[key] = dict(value) if isinstance(value, Mapping) else value
    for key, value in dotted:
        *parents, leaf = key.split(".")
        node = nested
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node.setdefault(leaf, value)
    return nested


def _scalar(value: Any) -> Any:
    """A repeated query parameter (list) counts as its first value."""
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


def _section(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    return value if isinstance(value, Mapping) else {}


def _text(section: Mapping[str, Any], *keys: str, limit: int = _MAX_TEXT) -> str | None:
    """The first usable text among `keys` (null, "", macros skipped), capped at `limit`."""
    for key in keys:
        text = clean_text(_scalar(section.get(key)))
        if text is not None:
            return text[:limit]
    return None


def _flag(value: Any) -> bool | None:
    """Branch booleans: JSON true/false, or "true"/"false" from a GET template; None if absent."""
    value = _scalar(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value == 1
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    return None


def _normalised_name(name: str) -> str:
    return " ".join(name.replace("_", " ").upper().split())


def _kind(name: str, attributed: bool, has_touch: bool) -> Kind:
    normalised = _normalised_name(name)
    if normalised == "INSTALL":
        return Kind.INSTALL
    if normalised == "REINSTALL":
        return Kind.REINSTALL
    if normalised == "OPEN":
        # Branch has no re-engagement event: an attributed OPEN is one (relay convention). A plain
        # OPEN is a session start; forwarding every app open to Amplitude is not our job.
        if attributed and has_touch:
            return Kind.RE_ENGAGEMENT
        raise BadRequest("unattributed OPEN is not an attribution event", field="name", value=name[:100])
    if normalised in _NOT_FORWARDED:
        raise BadRequest(f"Branch {name!r} events are not forwarded", field="name", value=name[:100])
    return Kind.IN_APP_EVENT


def _device_ids(user: Mapping[str, Any]) -> DeviceIds:
    return DeviceIds(
        idfa=clean_idfa(_scalar(user.get("idfa"))),
        idfv=clean_idfa(_scalar(user.get("idfv"))),
        adid=clean_gaid(_scalar(user.get("aaid"))),  # Branch's name for the GAID
        # [U] Branch's ontology lists no App Set id key; honour one if a template supplies it.
        android_app_set_id=clean_gaid(_scalar(user.get("android_app_set_id"))),
        android_id=clean_gaid(_scalar(user.get("android_id"))),
    )


def _platform(user: Mapping[str, Any], ids: DeviceIds) -> Literal["ios", "android"] | None:
    for key in ("os", "platform"):  # "IOS"/"ANDROID", then "IOS_APP"/"ANDROID_APP"
        stated = _text(user, key)
        if stated is None:
            continue
        lowered = stated.lower()
        if lowered in ("ios", "ios_app"):
            return "ios"
        if lowered in ("android", "android_app"):
            return "android"
        return None  # WEB, DESKTOP, ...: Amplitude's Attribution API knows only ios/android
    apple = bool(ids.idfa or ids.idfv)
    google = bool(ids.adid or ids.android_id or ids.android_app_set_id)
    if apple != google:
        return "ios" if apple else "android"
    return None


def _campaign(raw: Mapping[str, Any], touch: Mapping[str, Any], is_organic: bool) -> Campaign:
    if is_organic:
        return Campaign(media_source="organic")
    fields: dict[str, Any] = {name: _text(touch, *keys) for name, keys in _TOUCH_KEYS.items()}
    touch_type = _text(raw, "last_attributed_touch_type")
    return Campaign(
        media_source=_media_source(touch),
        touch_type=touch_type.lower() if touch_type else None,
        touch_time_ms=to_epoch_ms(_scalar(raw.get("last_attributed_touch_timestamp"))),
        **fields,
    )


def _media_source(touch: Mapping[str, Any]) -> str | None:
    return _text(touch, "~advertising_partner_name", "~channel")


def _decimal(section: Mapping[str, Any], key: str) -> Decimal | None:
    """A money amount; None when absent or zero. Garbage is the sender's bug: 400 naming the field."""
    value = _scalar(section.get(key))
    if isinstance(value, bool):
        raise BadRequest(f"Branch event_data.{key} is not a number: {value!r}", field=f"event_data.{key}")
    text = clean_text(value)
    if text is None:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise BadRequest(
            f"Branch event_data.{key} is not a number: {text[:100]!r}", field=f"event_data.{key}"
        ) from None
    if not amount.is_finite():
        raise BadRequest(f"Branch event_data.{key} is not a finite number: {text[:100]!r}", field=f"event_data.{key}")
    return amount or None


def _revenue(event_data: Mapping[str, Any]) -> Revenue | None:
    amount = _decimal(event_data, "revenue")
    amount_usd = _decimal(event_data, "revenue_in_usd")  # [U] present in some Branch exports
    if amount is None:
        return None
    currency = _text(event_data, "currency")
    return Revenue(amount=amount, currency=currency.upper() if currency else None, amount_usd=amount_usd)


def _event_properties(
    raw: Mapping[str, Any], touch: Mapping[str, Any], in_app: bool
) -> dict[str, str | int | float | bool]:
    """`~feature` (no Campaign field for it), and for in-app events the transaction id and the
    scalar entries of `custom_data` (Branch's free-form string map)."""
    properties: dict[str, str | int | float | bool] = {}
    feature = _text(touch, "~feature")
    if feature is not None:
        properties[f"{CONVENTION.label} feature"] = feature
    if not in_app:
        return properties
    transaction_id = _text(_section(raw, "event_data"), "transaction_id")
    if transaction_id is not None:
        properties["transaction_id"] = transaction_id
    for key, item in _section(raw, "custom_data").items():
        if len(properties) >= _MAX_EVENT_PROPERTIES:
            break
        if not isinstance(key, str) or not key.strip() or key in properties:
            continue
        value = _scalar(item)
        if isinstance(value, str):
            text = clean_text(value)
            if text is not None:
                properties[key[:_MAX_PROPERTY_KEY]] = text[:_MAX_TEXT]
        elif isinstance(value, (bool, int)) or (isinstance(value, float) and math.isfinite(value)):
            properties[key[:_MAX_PROPERTY_KEY]] = value
        # None, lists and nested objects are skipped: not flat properties.
    return properties


def _device(user: Mapping[str, Any]) -> Device:
    country = _text(user, "geo_country_code", "country")
    return Device(
        os_version=_text(user, "os_version"),
        model=_text(user, "model"),
        brand=_text(user, "brand"),
        carrier=_text(user, "carrier_name"),  # [U]
        country=country.upper() if country else None,
        region=_text(user, "geo_region_en"),  # [U]
        city=_text(user, "geo_city_en"),  # [U]
        language=_text(user, "language"),
        app_version=_text(user, "app_version"),
    )


def parse(raw: RawPostback) -> Postback:
    """One Branch webhook (POST JSON, or a templated GET's flat query dict) as a Postback."""
    body = _unflatten(raw)
    name = _text(body, "name", limit=_MAX_EVENT_NAME)
    if name is None:
        raise BadRequest("Branch webhook has no event name", field="name")
    user = _section(body, "user_data")
    touch = _section(body, "last_attributed_touch_data")
    attributed = _flag(body.get("attributed"))
    # Organic: Branch says it did not attribute, or there is no partner/channel to credit.
    has_touch = _media_source(touch) is not None
    is_organic = attributed is False or not has_touch
    kind = _kind(name, attributed is not False, has_touch)
    in_app = kind is Kind.IN_APP_EVENT
    ids = _device_ids(user)

    time_ms = to_epoch_ms(_scalar(body.get("timestamp")))
    if kind in (Kind.INSTALL, Kind.REINSTALL):
        install_time_ms = time_ms
    else:
        # [U] Branch's ontology has install_activity.timestamp on post-install events.
        install_time_ms = to_epoch_ms(_scalar(_section(body, "install_activity").get("timestamp")))

    return Postback(
        partner=PARTNER,
        kind=kind,
        event_name=name if in_app else None,
        platform=_platform(user, ids),
        ids=ids,
        # developer_identity is the app's own user id (setIdentity), never a device id.
        user_id=clean_user_id(_scalar(user.get("developer_identity"))),
        time_ms=time_ms,
        install_time_ms=install_time_ms,
        is_organic=is_organic,
        campaign=_campaign(body, touch, is_organic),
        revenue=_revenue(_section(body, "event_data")) if in_app else None,
        device=_device(user),
        event_properties=_event_properties(body, {} if is_organic else touch, in_app),
        partner_event_id=_text(body, "id"),
    )


ADAPTER = PartnerAdapter(
    name=PARTNER,
    display_name="Branch",
    convention=CONVENTION,
    parse=parse,
    method="POST",
    query_template=None,
)
