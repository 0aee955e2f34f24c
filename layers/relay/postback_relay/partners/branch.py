"""Branch webhooks (People-Based Attribution event ontology) to our normalised `Postback`.

Branch POSTs one nested JSON object per event: top-level `name`, `id` (Branch's event id: our dedup
key), `timestamp` (epoch ms), `attributed`, `user_data` {os, idfa, idfv, aaid, developer_identity,
...}, `last_attributed_touch_data` {~advertising_partner_name, ~channel, ~campaign, ...},
`event_data` {revenue, currency, transaction_id} and `custom_data`. Empty objects are omitted.

Branch can also call a templated GET URL (`?name=${(name)!}&user_data.idfa=${(user_data.idfa)!}`):
then the query keys are the dotted paths of the JSON body, every value a string, and a field
Branch has no value for is "" (or, in a template Branch did not render, the literal `${(x)!}`).
We un-flatten dotted keys first, so both flavours go through one parser.

See docs/partners.md#branch and https://help.branch.io/using-branch/docs/webhooks. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import BadRequest
from ..ids import clean_text
from ..models.postback import Campaign, DeviceIds, Kind, Postback, Revenue
from . import TITLE_CASE_EVENT_TYPES, Convention, PartnerAdapter, RawPostback
from .fields import (
    MAX_EVENT_NAME,
    MAX_LIST_ITEMS,
    Fields,
    Keys,
    PropertyValue,
    as_ad_revenue,
    flag,
    flat_properties,
    resolve_platform,
    revenue,
    upper,
)

PARTNER = "branch"

# No Amplitude-native names for Branch were found [U]: readable names in Branch's own terms.
CONVENTION = Convention(
    label="[Branch]",
    event_types=TITLE_CASE_EVENT_TYPES,  # RE_ATTRIBUTION is never produced by this adapter
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

# Branch event names (upper case, spaces for underscores) that are not attribution or in-app events:
# touches and web sessions. Forwarding them would flood Amplitude with ad clicks.
_NOT_FORWARDED = frozenset(
    {"CLICK", "IMPRESSION", "WEB SESSION START", "PAGEVIEW", "PAGE VIEW", "WEB TO APP AUTO REDIRECT"}
)

# Event property (after the label) → touch-data keys no Campaign field takes
# (https://help.branch.io/docs/postback-macros-functions lists them).
_TOUCH_PROPERTY_KEYS: Mapping[str, Keys] = {
    "feature": ("~feature",),
    "advertising partner id": ("~advertising_partner_id",),
    "keyword id": ("~keyword_id",),
    "agency id": ("~agency_id",),
    "sub site": ("~sub_site_name",),
    "placement": ("~placement",),
    "ad format": ("~branch_ad_format",),
    "technology partner": ("~technology_partner",),
}
# event_data keys beside revenue and currency (https://help.branch.io/developers-hub/docs/webhooks-for-developers).
_EVENT_DATA_TEXT = ("transaction_id", "coupon", "affiliation", "search_query", "description")
_EVENT_DATA_AMOUNTS = ("shipping", "tax")
# Branch's ad revenue event (https://help.branch.io/developers-hub/reference/logstandardevents).
AD_REVENUE_EVENT = "VIEW AD"

# Campaign field → key in last_attributed_touch_data (Branch's tilde keys).
_TOUCH_KEYS: Mapping[str, Keys] = {
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


def _device_ids(user: Fields) -> DeviceIds:
    return user.device_ids(
        idfa=("idfa",),
        idfv=("idfv",),
        adid=("aaid",),  # Branch's name for the GAID
        # [U] Branch's ontology lists no App Set id key; honour one if a template supplies it.
        android_app_set_id=("android_app_set_id",),
        android_id=("android_id",),
    )


def _campaign(body: Fields, touch: Fields, is_organic: bool) -> Campaign:
    if is_organic:
        return Campaign(media_source="organic")
    touch_type = body.text("last_attributed_touch_type")
    return Campaign(
        media_source=_media_source(touch),
        touch_type=touch_type.lower() if touch_type else None,
        touch_time_ms=body.time_ms("last_attributed_touch_timestamp"),
        **touch.texts(_TOUCH_KEYS),
    )


def _media_source(touch: Fields) -> str | None:
    return touch.text("~advertising_partner_name", "~channel")


def _revenue(event_data: Fields) -> Revenue | None:
    amount = event_data.money("revenue")
    amount_usd = event_data.money("revenue_in_usd")  # [U] present in some Branch exports
    if amount is None:
        return None
    return revenue(amount, amount_usd, upper(event_data.text("currency")))


def _touch_properties(touch: Fields) -> dict[str, PropertyValue]:
    """The touch data no Campaign field holds, under the label: `~feature`, the creative when
    `~ad_*` keys took the ad fields, the partner's id and the like."""
    properties: dict[str, PropertyValue] = {}
    for name, keys in _TOUCH_PROPERTY_KEYS.items():
        value = touch.text(*keys)
        if value is not None:
            properties[f"{CONVENTION.label} {name}"] = value
    if touch.text("~ad_name", "~ad_id") is not None:
        # The ad fields came from ~ad_*: the creative is one more thing the touch says.
        for name, key in (("creative", "~creative_name"), ("creative id", "~creative_id")):
            value = touch.text(key)
            if value is not None:
                properties[f"{CONVENTION.label} {name}"] = value
    return properties


def _event_data_properties(event_data: Fields) -> dict[str, PropertyValue]:
    """What Branch's `event_data` holds beside the revenue: transaction id, shipping, tax, coupon..."""
    properties: dict[str, PropertyValue] = {}
    for key in _EVENT_DATA_TEXT:
        value = event_data.text(key)
        if value is not None:
            properties[key] = value
    for key in _EVENT_DATA_AMOUNTS:
        amount = event_data.money(key)
        if amount is not None:
            properties[key] = float(amount)
    return properties


def _content_items_properties(body: Fields) -> dict[str, PropertyValue]:
    """The products of a commerce event (`content_items`, a list of objects with `$sku`,
    `$product_name`, `$quantity`...): their ids and names as lists, and their total quantity."""
    items = body.get("content_items")
    if not isinstance(items, list):
        return {}
    products = [
        Fields(item, "Branch", "content_items.") for item in items[:MAX_LIST_ITEMS] if isinstance(item, Mapping)
    ]
    properties: dict[str, PropertyValue] = {}
    for name, keys in (
        ("product_ids", ("$sku", "$canonical_identifier")),
        ("product_names", ("$product_name", "$og_title")),
    ):
        values = [value for product in products if (value := product.text(*keys)) is not None]
        if values:
            properties[name] = values
    quantities = [product.money("$quantity") for product in products]
    if any(quantity is not None for quantity in quantities):
        properties["products_quantity"] = float(sum(quantity for quantity in quantities if quantity is not None))
    return properties


def _event_properties(body: Fields, touch: Fields, in_app: bool, ad_revenue: bool) -> dict[str, PropertyValue]:
    """The touch data no Campaign field holds, and for in-app events what `event_data` and
    `content_items` hold beside the revenue and the scalar entries of `custom_data` (Branch's
    free-form string map); for ad revenue the ad's format first."""
    properties = _touch_properties(touch)
    if not in_app:
        return properties
    event_data = body.section("event_data")
    if ad_revenue:
        properties |= event_data.ad_properties(ad_format=("ad_type",))
    properties |= _event_data_properties(event_data) | _content_items_properties(body)
    # Values may come through a GET template: text is cleaned like any field (placeholders dropped).
    custom_data = {
        key: clean_text(value) if isinstance(value, str) else value
        for key, value in body.section("custom_data").raw.items()
    }
    return flat_properties(custom_data, properties, keep_existing=True)


def parse(raw: RawPostback) -> Postback:
    """One Branch webhook (POST JSON, or a templated GET's flat query dict) as a Postback."""
    body = Fields(_unflatten(raw), "Branch")
    name = body.text("name", limit=MAX_EVENT_NAME)
    if name is None:
        raise BadRequest("Branch webhook has no event name", field="name")
    user = body.section("user_data")
    touch = body.section("last_attributed_touch_data")
    attributed = flag(body.get("attributed"))
    # Organic: Branch says it did not attribute, or there is no partner/channel to credit.
    has_touch = _media_source(touch) is not None
    is_organic = attributed is False or not has_touch
    kind = _kind(name, attributed is not False, has_touch)
    in_app = kind is Kind.IN_APP_EVENT
    ad_revenue = _normalised_name(name) == AD_REVENUE_EVENT
    ids = _device_ids(user)
    event_data = body.section("event_data")

    time_ms = body.time_ms("timestamp")
    if kind in (Kind.INSTALL, Kind.REINSTALL):
        install_time_ms = time_ms
    else:
        # [U] Branch's ontology has install_activity.timestamp on post-install events.
        install_time_ms = body.section("install_activity").time_ms("timestamp")

    return Postback(
        partner=PARTNER,
        kind=kind,
        event_name=name if in_app else None,
        # "IOS"/"ANDROID", then "IOS_APP"/"ANDROID_APP"; WEB, DESKTOP, ...: None.
        platform=resolve_platform(
            user.text("os", "platform"), ids, ios=("ios", "ios_app"), android=("android", "android_app")
        ),
        ids=ids,
        # developer_identity is the app's own user id (setIdentity), never a device id.
        user_id=user.user_id("developer_identity"),
        time_ms=time_ms,
        install_time_ms=install_time_ms,
        is_organic=is_organic,
        campaign=_campaign(body, touch, is_organic),
        revenue=as_ad_revenue(_revenue(event_data), ad_revenue) if in_app else None,
        device=user.device(
            os_version=("os_version",),
            model=("model",),
            brand=("brand",),
            carrier=("carrier_name",),  # [U]
            country=("geo_country_code", "country"),
            region=("geo_region_en",),  # [U]
            city=("geo_city_en",),  # [U]
            language=("language",),
            app_version=("app_version",),
        ),
        event_properties=_event_properties(
            body, Fields({}, "Branch", touch.field_prefix) if is_organic else touch, in_app, ad_revenue
        ),
        partner_event_id=body.text("id"),
    )


# Every key parse() reads (tests/unit/test_partner_contract.py checks it): pass-through forwards
# only the others.
MAPPED_KEYS = frozenset(
    {
        "last_attributed_touch_data.~advertising_partner_id",
        "last_attributed_touch_data.~keyword_id",
        "last_attributed_touch_data.~agency_id",
        "last_attributed_touch_data.~sub_site_name",
        "last_attributed_touch_data.~placement",
        "last_attributed_touch_data.~branch_ad_format",
        "last_attributed_touch_data.~technology_partner",
        "attributed",
        "content_items",
        "custom_data",
        "event_data",
        "id",
        "install_activity",
        "last_attributed_touch_data.~ad_id",
        "last_attributed_touch_data.~ad_name",
        "last_attributed_touch_data.~ad_set_id",
        "last_attributed_touch_data.~ad_set_name",
        "last_attributed_touch_data.~advertising_partner_name",
        "last_attributed_touch_data.~agency",
        "last_attributed_touch_data.~campaign",
        "last_attributed_touch_data.~campaign_id",
        "last_attributed_touch_data.~channel",
        "last_attributed_touch_data.~creative_id",
        "last_attributed_touch_data.~creative_name",
        "last_attributed_touch_data.~feature",
        "last_attributed_touch_data.~keyword",
        "last_attributed_touch_data.~secondary_publisher",
        "last_attributed_touch_timestamp",
        "last_attributed_touch_type",
        "name",
        "timestamp",
        "user_data",
    }
)


ADAPTER = PartnerAdapter(
    name=PARTNER,
    display_name="Branch",
    convention=CONVENTION,
    parse=parse,
    method="POST",
    query_template=None,
    mapped_keys=MAPPED_KEYS,
)
