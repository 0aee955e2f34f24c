"""Kochava custom postbacks to our normalised `Postback`.

Kochava calls the destination URL of a "Custom Postback" with `{macro}` values substituted into
its query string (GET). The query KEYS are whatever the person who wrote the URL chose, so the
relay publishes QUERY_TEMPLATE: each key is the macro's own name (`idfa={idfa}`). One custom
postback is configured per event (install, each post-install event, SessionBegin).

Macro names: Kochava's support page hides them in its crawl; the meanings are confirmed [V] and
the spellings come from integrations that use them [O] (`event_name`, `event_value`, `idfa`,
`adid` = the GAID, unlike Adjust's `adid`!, `android_id`, `kochava_device_id`, `network_name`,
`site_id`, `creative_id`, `country`, `currency`). Marked [U] below: names not confirmed anywhere.
See docs/partners.md#kochava and https://support.kochava.com/campaign-management/create-a-custom-postback/.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from ..errors import BadRequest
from ..ids import clean_text
from ..models.postback import Campaign, Kind, Postback, Revenue
from . import TITLE_CASE_EVENT_TYPES, Convention, PartnerAdapter, RawPostback
from .fields import (
    MAX_EVENT_NAME,
    MAX_TEXT,
    Fields,
    Keys,
    PropertyValue,
    as_ad_revenue,
    finite_amount,
    flat_properties,
    json_object,
    resolve_platform,
    upper,
)

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
    event_types=TITLE_CASE_EVENT_TYPES,  # RE_ATTRIBUTION is never produced by this adapter
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

# event_name (lower case, "_"/"-"/spaces removed) → kind.
_INSTALL_NAMES = frozenset({"install"})  # Kochava sends "_install" [V]
_REINSTALL_NAMES = frozenset({"reinstall"})  # [U]
_REENGAGEMENT_NAMES = frozenset({"reengagement", "reattribution"})  # [U]
# SessionBegin postbacks carry attribution once per device per 24 h (from 24 h after install) [V]:
# with a network that is a re-engagement; without one it is just an app open.
_SESSION_NAMES = frozenset({"sessionbegin", "session"})
_ORGANIC_NETWORKS = frozenset({"unattributed", "organic", "none"})  # [U] Kochava's label: "Unattributed"


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


def _event_value(fields: Fields) -> tuple[Decimal | None, dict[str, PropertyValue]]:
    """`event_value` is a number for a purchase (its value), else free data: a JSON object becomes
    event properties, any other text one `event_value` property. Never a reason for a 400, but for
    JSON whose escapes spell text that cannot be encoded (fields.json_object)."""
    value = fields.get("event_value")
    data = value if isinstance(value, Mapping) else None
    if data is None:
        # Free text: a JSON object is data here, not an unreplaced `{macro}`.
        text = clean_text(value, json_objects=True)
        if text is None:
            return None, {}
        try:
            amount = Decimal(text)
        except InvalidOperation:
            amount = None
        if amount is not None:
            if finite_amount(amount):
                return amount or None, {}
            return None, {"event_value": text[:MAX_TEXT]}  # NaN, or too large for JSON: kept as text
        data = json_object(text, partner="Kochava", field="event_value")
        if data is None:
            return None, {"event_value": text[:MAX_TEXT]}
    return None, flat_properties(data)


# Kochava's ad revenue event, one per impression ("Ad View",
# https://support.kochava.com/campaign-management/create-a-total-ltv-campaign/), squashed.
AD_REVENUE_EVENT = "adview"
# Our ad property → the keys of Kochava's Ad View event data (its SDKs' ad event fields) [U].
_AD_KEYS: Mapping[str, Keys] = {
    "ad_network": ("ad_network_name",),
    "ad_mediation_platform": ("ad_mediation_name",),
    "ad_placement": ("placement",),
    "ad_format": ("ad_type",),
}


def _ad_properties(event_data: Mapping[str, PropertyValue]) -> dict[str, PropertyValue]:
    """The ad an Ad View was for, from its event data (`event_value` as JSON)."""
    return Fields(event_data, "Kochava", "event_value.").ad_properties(**_AD_KEYS)


def parse(raw: RawPostback) -> Postback:
    """One Kochava custom postback (the GET query dict, every value a string) as a Postback."""
    fields = Fields(raw, "Kochava")
    event_name = fields.text("event_name", limit=MAX_EVENT_NAME)
    if event_name is None:
        # Our template always sends it; without it an install cannot be told from an event.
        raise BadRequest("Kochava postback has no event_name (see the recommended URL template)", field="event_name")
    network = fields.text("network_name")
    is_organic = network is None or network.lower() in _ORGANIC_NETWORKS
    kind = _kind(event_name, is_organic)
    in_app = kind is Kind.IN_APP_EVENT
    ids = fields.device_ids(
        idfa=("idfa",),
        idfv=("idfv",),
        adid=("adid",),  # Kochava's adid IS the GAID (Adjust's is not)
        android_app_set_id=("app_set_id",),  # [U] only if a template adds it
        android_id=("android_id",),
        # kochava_device_id is Kochava's own id, not an Amplitude id: deliberately not read.
    )

    time_ms = fields.time_ms("event_time")
    install_time_ms = time_ms if kind in (Kind.INSTALL, Kind.REINSTALL) else None

    amount, properties = _event_value(fields) if in_app else (None, {})
    currency = upper(fields.text("currency"))
    found = Revenue(amount=amount, currency=currency) if amount is not None else None
    ad_revenue = _squashed(event_name) == AD_REVENUE_EVENT
    if ad_revenue:
        found = as_ad_revenue(found)
        properties = _ad_properties(properties) | properties

    return Postback(
        partner=PARTNER,
        kind=kind,
        event_name=event_name if in_app else None,
        # windows, web, tvOS...: None; nothing stated: inferred from the ids.
        platform=resolve_platform(
            fields.text("platform", "device_os", "os"), ids, ios=("ios", "iphone", "ipad", "ipados")
        ),
        ids=ids,
        user_id=fields.user_id("user_id"),
        time_ms=time_ms,
        install_time_ms=install_time_ms,
        is_organic=is_organic,
        campaign=Campaign(
            media_source="organic" if is_organic or network is None else network,
            campaign=fields.text("campaign_name"),
            campaign_id=fields.text("campaign_id"),
            site_id=fields.text("site_id"),
            ad_id=fields.text("creative_id"),
        ),
        revenue=found,
        device=fields.device(
            os_version=("os_version",),
            model=("device_model",),  # [U]
            country=("country",),
            app_version=("app_version",),  # [U]
        ),
        event_properties=properties,
        # Kochava sends no per-postback id: the dedup key is a hash of the normalised fields.
        partner_event_id=None,
    )


# Every key parse() reads (tests/unit/test_partner_contract.py checks it): pass-through forwards
# only the others.
MAPPED_KEYS = frozenset(
    {
        "adid",
        "android_id",
        "app_set_id",
        "app_version",
        "campaign_id",
        "campaign_name",
        "country",
        "creative_id",
        "currency",
        "device_model",
        "device_os",
        "event_name",
        "event_time",
        "event_value",
        "idfa",
        "idfv",
        "network_name",
        "os",
        "os_version",
        "platform",
        "site_id",
        "user_id",
    }
)


ADAPTER = PartnerAdapter(
    name=PARTNER,
    display_name="Kochava",
    convention=CONVENTION,
    parse=parse,
    method="GET",
    query_template=QUERY_TEMPLATE,
    mapped_keys=MAPPED_KEYS,
)
