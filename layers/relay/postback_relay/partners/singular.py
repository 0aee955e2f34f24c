"""Singular Internal BI postbacks to our normalised `Postback`.

Singular POSTs one flat JSON object per install, re-engagement or in-app event to the URL set on
the "Internal BI" partner. Confirmed fields [V]: app_name, longname, platform ("iOS"/"Android"/...),
event_name, idfa, idfv, aifa (GAID), android_id (only when there is no aifa), singular_id
(deprecated, Singular's own id: never an Amplitude id), event_utc_timestamp (string in one source,
integer in another: seconds, milliseconds or a UTC datetime string all accepted).

Everything else is [U] (unconfirmed, from Singular's postback macros and export-log field names):
each concept is read from the plain name first, then the `tracker_*` log name, so either spelling
works. Check these against a live postback. See docs/partners.md#singular and
https://support.singular.net/hc/en-us/articles/360038040791 (Internal BI postbacks). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import BadRequest
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
    is_true,
    resolve_platform,
    revenue,
    upper,
)

PARTNER = "singular"

# No Amplitude-native names for Singular were found [U]: readable names in Singular's own terms.
CONVENTION = Convention(
    label="[Singular]",
    event_types=TITLE_CASE_EVENT_TYPES,  # RE_ATTRIBUTION is never produced by this adapter
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

# event_name (lower case, "_"/"-"/spaces removed) → kind. [U] Singular's own names for its
# auto-tracked events: "install"/"__install__", "reinstall", "reengagement"; sessions "__START__"
# / "session". Anything else is an in-app event (revenue events are typically "__iap__").
_INSTALL_NAMES = frozenset({"install", "installs", "firstopen"})
_REINSTALL_NAMES = frozenset({"reinstall"})
_REENGAGEMENT_NAMES = frozenset({"reengagement", "reengage", "reattribution"})
_SESSION_NAMES = frozenset({"start", "session", "sessionstart", "open"})
_NOT_FORWARDED = frozenset({"uninstall", "click", "impression"})

# Campaign field → Singular keys, plain name first, then the export-log (tracker_*) name. [U]
_CAMPAIGN_KEYS: Mapping[str, Keys] = {
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


def _squashed(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


# Singular's impression-level ad revenue event (https://support.singular.net/hc/en-us/articles/4409886379163).
AD_REVENUE_EVENT = "__ADMON_USER_LEVEL_REVENUE__"
# Our ad property → the keys of Singular's SingularAdData (its SDKs' ad revenue object) [U: which of
# them an Internal BI postback carries is undocumented].
_AD_KEYS: Mapping[str, Keys] = {
    "ad_network": ("ad_network_name",),
    "ad_mediation_platform": ("ad_mediation_platform", "ad_platform"),
    "ad_unit": ("ad_unit_name", "ad_unit_id"),
    "ad_placement": ("ad_placement_name", "ad_placement_id"),
    "ad_format": ("ad_type",),
}


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


def _device_ids(fields: Fields) -> DeviceIds:
    return fields.device_ids(
        idfa=("idfa",),
        idfv=("idfv",),
        adid=("aifa",),  # Singular's name for the GAID
        # [U] Singular's S2S API calls the App Set id `asid`.
        android_app_set_id=("asid", "app_set_id"),
        android_id=("android_id",),
        # singular_id is Singular's own (deprecated) id, not an Amplitude id: deliberately not kept.
    )


def _campaign(fields: Fields, media_source: str) -> Campaign:
    viewthrough = fields.get("is_viewthrough")
    touch_type = None
    if clean_text(viewthrough) is not None or isinstance(viewthrough, bool):
        touch_type = "impression" if is_true(viewthrough) else "click"
    return Campaign(
        media_source=media_source,
        touch_type=touch_type,
        touch_time_ms=fields.time_ms("touchpoint_utc_timestamp", "click_utc_timestamp"),
        **fields.texts(_CAMPAIGN_KEYS),
    )


def _revenue(fields: Fields) -> Revenue | None:
    # [U] `revenue` (the {AMOUNT} macro's value) else `amount`; `revenue_usd` when sent.
    amount = fields.money("revenue")
    if amount is None:
        amount = fields.money("amount")
    amount_usd = fields.money("revenue_usd")
    return revenue(amount, amount_usd, upper(fields.text("currency", "original_currency")))


def _event_properties(fields: Fields, ad_revenue: bool) -> dict[str, PropertyValue]:
    """Scalar entries of the event's attributes (`event_attributes` [U]: an object, as Singular's
    S2S API takes them in `e`). For ad revenue, the ad first (our AD_PROPERTIES) from the
    postback's keys or the attributes'."""
    attributes = fields.section("event_attributes")
    properties = first_ad_properties((fields, attributes), _AD_KEYS) if ad_revenue else {}
    return flat_properties(attributes.raw, properties, keep_existing=True)


def parse(raw: RawPostback) -> Postback:
    """One Singular Internal BI postback (flat JSON object) as a normalised Postback."""
    fields = Fields(raw, "Singular")
    # Singular's auto-tracked names look like `__START__`: free text, not `__MACRO__` placeholders.
    event_name = fields.text("event_name", limit=MAX_EVENT_NAME, dunder_names=True)
    if event_name is None:
        raise BadRequest("Singular postback has no event_name", field="event_name")
    # Singular flags: 1/0 (as macros `{IS_RE_ENG}` render them), true/false, or their strings.
    is_reengagement = fields.is_true("is_reengagement") or fields.is_true("is_re_engagement")
    kind = _kind(event_name, is_reengagement)
    in_app = kind is Kind.IN_APP_EVENT
    ad_revenue = event_name.upper() == AD_REVENUE_EVENT
    ids = _device_ids(fields)

    time_ms = fields.time_ms("event_utc_timestamp")
    install_time_ms = fields.time_ms("install_utc_timestamp")
    if kind in (Kind.INSTALL, Kind.REINSTALL):
        if time_ms is None:
            time_ms = install_time_ms
        if install_time_ms is None:
            install_time_ms = time_ms

    network = fields.text("network", "network_name", "tracker_network")
    is_organic = fields.is_true("is_organic") or network is None or network.lower() in ("organic", "unattributed")

    return Postback(
        partner=PARTNER,
        kind=kind,
        event_name=event_name if in_app else None,
        platform=resolve_platform(fields.text("platform", "os"), ids),  # Web, PC, Console: None
        ids=ids,
        # [U] Singular's "Custom User ID"; published postbacks also carry it as user_id.
        user_id=fields.user_id("custom_user_id", "user_id"),
        time_ms=time_ms,
        install_time_ms=install_time_ms,
        is_organic=is_organic,
        campaign=_campaign(fields, "organic" if is_organic or network is None else network),
        revenue=as_ad_revenue(_revenue(fields), ad_revenue) if in_app else None,
        device=fields.device(
            os_version=("os_version",),
            model=("device_model", "model"),
            brand=("device_brand", "brand"),
            carrier=("carrier",),
            country=("country", "country_code"),
            region=("region",),
            city=("city",),
            language=("language", "locale"),
            app_version=("app_version",),
        ),
        event_properties=_event_properties(fields, ad_revenue) if in_app else {},
        # [U] Singular documents no per-postback id; honour one if the payload carries it.
        partner_event_id=fields.text("event_id"),
    )


# Every key parse() reads (tests/unit/test_partner_contract.py checks it): pass-through forwards
# only the others.
MAPPED_KEYS = frozenset(
    {
        "ad_network_name",
        "ad_mediation_platform",
        "ad_platform",
        "ad_unit_name",
        "ad_unit_id",
        "ad_placement_name",
        "ad_placement_id",
        "ad_type",
        "agency",
        "agency_name",
        "aifa",
        "amount",
        "android_id",
        "app_set_id",
        "app_version",
        "asid",
        "brand",
        "campaign",
        "campaign_id",
        "campaign_name",
        "carrier",
        "city",
        "click_utc_timestamp",
        "country",
        "country_code",
        "creative_id",
        "creative_name",
        "currency",
        "custom_user_id",
        "device_brand",
        "device_model",
        "event_attributes",
        "event_id",
        "event_name",
        "event_utc_timestamp",
        "idfa",
        "idfv",
        "install_utc_timestamp",
        "is_organic",
        "is_re_engagement",
        "is_reengagement",
        "is_viewthrough",
        "keyword",
        "keywords",
        "language",
        "locale",
        "model",
        "network",
        "network_name",
        "original_currency",
        "os",
        "os_version",
        "platform",
        "publisher_id",
        "publisher_site_id",
        "region",
        "revenue",
        "revenue_usd",
        "site_id",
        "site_public_id",
        "source",
        "sub_campaign_id",
        "sub_campaign_name",
        "touchpoint_utc_timestamp",
        "tracker_campaign_id",
        "tracker_campaign_name",
        "tracker_creative_id",
        "tracker_creative_name",
        "tracker_network",
        "tracker_source_name",
        "tracker_sub_campaign_id",
        "tracker_sub_campaign_name",
        "user_id",
    }
)


ADAPTER = PartnerAdapter(
    name=PARTNER, display_name="Singular", convention=CONVENTION, parse=parse, method="POST", mapped_keys=MAPPED_KEYS
)
