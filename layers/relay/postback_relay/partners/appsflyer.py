"""AppsFlyer Push API (V2.0) postbacks to our normalised `Postback`.

AppsFlyer sends one flat object per conversion: a JSON body on POST, or the same field names as
query-string parameters on GET (then every value is a string: "true", "null", "9.99", ...).
Many keys arrive present but null, so every read goes through the shared id/text hygiene.
See docs/partners.md#appsflyer and https://support.appsflyer.com/hc/en-us/articles/207034356 (Push API).

Money: `event_revenue` is in whole units of `event_revenue_currency`, `event_revenue_usd` in whole
US dollars, as text or a JSON number (the Push API's field list, link above). Ad revenue arrives as
the in-app event `af_ad_revenue` (https://support.appsflyer.com/hc/en-us/articles/4416353506833):
sent to HTTP V2 with revenueType "ad_revenue" and the ad's monetization and mediation networks,
ad unit, placement and ad type (AppsFlyer's AdRevenueScheme keys,
https://dev.appsflyer.com/hc/docs/ad-revenue-2), read from the message or its `event_value`.
SKAdNetwork messages (`skad_*` fields, `af_skad_*` event names,
https://support.appsflyer.com/hc/en-us/articles/11135475316113) are answered as not forwarded.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import BadRequest, NotForwarded
from ..ids import clean_text
from ..models.postback import Campaign, DeviceIds, Kind, Postback, Revenue
from . import TITLE_CASE_EVENT_TYPES, Convention, PartnerAdapter, RawPostback
from .fields import (
    MAX_EVENT_NAME,
    Fields,
    Keys,
    PropertyValue,
    as_ad_revenue,
    first_ad_properties,
    flat_properties,
    json_object,
    kind_word,
    resolve_platform,
    revenue,
    upper,
)

PARTNER = "appsflyer"

CONVENTION = Convention(
    label="[AppsFlyer]",
    event_types=TITLE_CASE_EVENT_TYPES,
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
_CAMPAIGN_KEYS: Mapping[str, Keys] = {
    "channel": ("af_channel",),
    "campaign": ("campaign",),
    "campaign_id": ("af_c_id",),
    "adset": ("af_adset",),
    "adset_id": ("af_adset_id",),
    "ad": ("af_ad",),
    "ad_id": ("af_ad_id",),
    "site_id": ("af_siteid",),
    "keywords": ("af_keywords",),
    "agency": ("af_prt",),
    "touch_type": ("attributed_touch_type",),
}


AD_REVENUE_EVENT = "af_ad_revenue"
# Our ad property → AppsFlyer's keys (raw data columns, and the SDK's AdRevenueScheme extras).
_AD_KEYS: Mapping[str, Keys] = {
    "ad_network": ("monetization_network",),
    "ad_mediation_platform": ("mediation_network",),
    "ad_unit": ("ad_unit",),
    "ad_placement": ("placement",),
    "ad_format": ("ad_type",),
    "ad_impressions": ("impressions",),
}
# Fields only SKAdNetwork messages carry (skad_installs, skad_redownloads, skad_inapps topics).
_SKAN_KEYS = ("skad_version", "skad_ad_network_id", "skad_conversion_value", "skad_transaction_id")


def _time_ms(fields: Fields, key: str) -> int | None:
    """`key` (UTC, no offset) else its `*_selected_timezone` twin (explicit offset)."""
    return fields.time_ms(key, f"{key}_selected_timezone")


def _kind_from_event_type(event_type: str) -> Kind:
    normalised = kind_word(event_type)
    if normalised.endswith("-in-app-event"):
        # install-, organic-install-, re-engagement-, re-attribution-in-app-event
        return Kind.IN_APP_EVENT
    kind = _EVENT_TYPES.get(normalised)
    if kind is None:
        raise BadRequest(f"unknown AppsFlyer event_type {event_type!r}", field="event_type", value=event_type[:100])
    return kind


def _retargeting_kind(fields: Fields) -> Kind:
    conversion = clean_text(fields.get("retargeting_conversion_type"))
    if conversion and kind_word(conversion) == "re-attribution":
        return Kind.RE_ATTRIBUTION
    return Kind.RE_ENGAGEMENT  # AppsFlyer's default retargeting conversion


def _kind(fields: Fields) -> Kind:
    event_type = clean_text(fields.get("event_type"))
    if event_type is not None:
        kind = _kind_from_event_type(event_type)
    else:
        # No event_type (a hand-written GET template): installs carry event_name "install".
        event_name = clean_text(fields.get("event_name"))
        if event_name is None:
            # Nothing says what happened. Guessed as an install, such a body was sent as one,
            # timed after its own install time: refused instead, naming the keys.
            raise BadRequest(
                "AppsFlyer postback has neither event_type nor event_name: the relay cannot tell an"
                " install from an in-app event (AppsFlyer's Push API sends both keys)",
                field="event_type",
            )
        kind = _EVENT_TYPES.get(kind_word(event_name)) or Kind.IN_APP_EVENT
    # A retargeting conversion can arrive labelled as an install; in-app events stay events.
    if kind is Kind.INSTALL and fields.is_true("is_retargeting"):
        return _retargeting_kind(fields)
    return kind


def _device_ids(fields: Fields) -> DeviceIds:
    return fields.device_ids(
        idfa=("idfa",),
        idfv=("idfv",),
        # Amplitude's `adid` is the advertising id: Google's GAID, else Amazon Fire's.
        # Never android_id (rudder-transformer's mistake): Amplitude cannot match on it.
        adid=("advertising_id", "amazon_aid"),
        android_app_set_id=("app_set_id", "android_app_set_id"),
        android_id=("android_id",),
        # appsflyer_id is AppsFlyer's own install id, not an Amplitude id: deliberately not kept.
    )


def _revenue(fields: Fields) -> Revenue | None:
    amount = fields.money("event_revenue")
    amount_usd = fields.money("event_revenue_usd")
    return revenue(amount, amount_usd, upper(fields.text("event_revenue_currency")))


def _event_value(fields: Fields) -> Fields:
    """`event_value` (a JSON-encoded string, or already an object), read as fields."""
    event_value = json_object(fields.get("event_value"), partner="AppsFlyer", field="event_value")
    return Fields(event_value or {}, "AppsFlyer", "event_value.")


def _event_properties(fields: Fields, ad_revenue: bool) -> dict[str, PropertyValue]:
    """Scalar entries of `event_value`; af_content lists and the like are skipped. For ad revenue,
    the ad first (our AD_PROPERTIES), from the message's own keys or event_value's."""
    event_value = _event_value(fields)
    properties = first_ad_properties((fields, event_value), _AD_KEYS) if ad_revenue else {}
    return flat_properties(event_value.raw, properties, keep_existing=True)


def _is_skan(fields: Fields) -> bool:
    """A SKAdNetwork message: its own event names or fields, and none of a device's or user's ids
    (a postback that has them is mapped as one, whatever else it carries)."""
    event_name = clean_text(fields.get("event_name")) or ""
    skan = event_name.lower().startswith("af_skad_") or any(
        clean_text(fields.get(key)) is not None for key in _SKAN_KEYS
    )
    return skan and not (_device_ids(fields).model_dump(exclude_none=True) or fields.text("customer_user_id"))


def parse(raw: RawPostback) -> Postback:
    """One AppsFlyer Push API message (POST JSON or GET query dict) as a normalised Postback."""
    fields = Fields(raw, "AppsFlyer")
    if _is_skan(fields):
        raise NotForwarded(
            "AppsFlyer SKAdNetwork message is not forwarded: Apple's aggregated postbacks hold no user"
            " or device id Amplitude can attribute to (archived, not sent)",
            field="event_name",
        )
    kind = _kind(fields)
    in_app = kind is Kind.IN_APP_EVENT
    event_name = fields.text("event_name", limit=MAX_EVENT_NAME) if in_app else None
    ad_revenue = event_name is not None and event_name.lower() == AD_REVENUE_EVENT
    ids = _device_ids(fields)

    time_ms = _time_ms(fields, "event_time")
    install_time_ms = _time_ms(fields, "install_time")
    if time_ms is None and kind in (Kind.INSTALL, Kind.REINSTALL):
        time_ms = install_time_ms  # for (re)installs the install time is the event time

    media_source = fields.text("media_source")
    is_organic = media_source is None or media_source.lower() == "organic"

    return Postback(
        partner=PARTNER,
        kind=kind,
        event_name=event_name,
        platform=resolve_platform(clean_text(fields.get("platform")), ids),  # windowsphone, pc, ...: None
        ids=ids,
        user_id=fields.user_id("customer_user_id"),
        time_ms=time_ms,
        install_time_ms=install_time_ms,
        is_organic=is_organic,
        campaign=Campaign(
            media_source=media_source if media_source and not is_organic else "organic",
            touch_time_ms=_time_ms(fields, "attributed_touch_time"),
            **fields.texts(_CAMPAIGN_KEYS),
        ),
        revenue=as_ad_revenue(_revenue(fields), ad_revenue) if in_app else None,
        device=fields.device(
            os_version=("os_version",),
            model=("device_model", "device_type"),
            carrier=("carrier", "operator"),
            country=("country_code",),
            # AppsFlyer's `state` is the state/province; its `region` is the continent ("AS", "EU"),
            # which is not what Amplitude's `region` means, so it is not used.
            region=("state",),
            city=("city",),
            language=("language",),
            app_version=("app_version",),
        ),
        event_properties=_event_properties(fields, ad_revenue) if in_app else {},
        # The Push API documents no per-message id; honour one if a GET template supplies it.
        partner_event_id=fields.text("event_id", "af_event_id"),
    )


# Every key parse() reads (tests/unit/test_partner_contract.py checks it): pass-through forwards
# only the others.
MAPPED_KEYS = frozenset(
    {
        "monetization_network",
        "mediation_network",
        "ad_unit",
        "placement",
        "ad_type",
        "impressions",
        "skad_version",
        "skad_ad_network_id",
        "skad_conversion_value",
        "skad_transaction_id",
        "advertising_id",
        "af_ad",
        "af_ad_id",
        "af_adset",
        "af_adset_id",
        "af_c_id",
        "af_channel",
        "af_event_id",
        "af_keywords",
        "af_prt",
        "af_siteid",
        "amazon_aid",
        "android_app_set_id",
        "android_id",
        "app_set_id",
        "app_version",
        "attributed_touch_time",
        "attributed_touch_time_selected_timezone",
        "attributed_touch_type",
        "campaign",
        "carrier",
        "city",
        "country_code",
        "customer_user_id",
        "device_model",
        "device_type",
        "event_id",
        "event_name",
        "event_revenue",
        "event_revenue_currency",
        "event_revenue_usd",
        "event_time",
        "event_time_selected_timezone",
        "event_type",
        "event_value",
        "idfa",
        "idfv",
        "install_time",
        "install_time_selected_timezone",
        "is_retargeting",
        "language",
        "media_source",
        "operator",
        "os_version",
        "platform",
        "retargeting_conversion_type",
        "state",
    }
)


ADAPTER = PartnerAdapter(
    name=PARTNER, display_name="AppsFlyer", convention=CONVENTION, parse=parse, mapped_keys=MAPPED_KEYS
)
