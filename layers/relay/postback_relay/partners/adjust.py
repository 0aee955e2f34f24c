"""Adjust real-time server callbacks to our normalised `Postback`.

Adjust calls a URL template of ours with its `{placeholders}` substituted (GET; integrated setups
may POST the same keys as a form). The query keys are whatever the template says, so we publish
`QUERY_TEMPLATE`: each key is the placeholder's own name (`gps_adid={gps_adid}`). A placeholder
Adjust has no data for is dropped or left empty; one it does not know may arrive literally
(`{idfa}`): both count as absent. See docs/partners.md#adjust and
https://help.adjust.com/en/article/server-callbacks. Pure: no I/O, no clock.

Decisions (documented in docs/partners.md#adjust):
- Amplitude `adid` is Google's advertising id, Adjust's `{gps_adid}`. Adjust's own `{adid}` is a
  32-hex Adjust device id that Amplitude cannot match on: it is never read.
- Adjust "reattribution" (a lapsed user won back by a new campaign; Adjust switches the user's
  attribution to that source) is our RE_ATTRIBUTION, as is "reattribution reinstall".
- Install, reinstall, reattribution(-reinstall), in-app event and ad revenue callbacks are
  forwarded; ad revenue (https://help.adjust.com/en/article/ad-revenue-callbacks) as an HTTP V2
  event "[adjust] ad_revenue" with revenueType "ad_revenue" and the ad's network, mediation
  platform, unit, placement, format and impression count. SKAdNetwork activities (`sk_*`) are
  answered as not forwarded (Apple's aggregated postbacks hold no id Amplitude can use). Any other
  `activity_kind` (session, click, impression, rejected_install, uninstall, ad spend, ...) is
  refused with a 400 naming it, so a misconfigured callback shows up in Adjust's logs.
- Money (https://help.adjust.com/en/article/ad-revenue-callbacks): `{revenue_float}` is in whole
  units and `{revenue}` in CENTS, both in `{currency}`; `{reporting_revenue}` is in the app's
  reporting currency (`{reporting_currency}`), used when neither is sent; `{revenue_usd}` whole
  US dollars, `{revenue_usd_cents}` US cents [U: named so in Adjust's placeholder list, units
  not stated].
- The app's own user id arrives as an SDK callback parameter named `user_id`, which Adjust appends
  to every callback URL by itself: it is not in the template (a `user_id={user_id}` there would be
  an unknown placeholder, and the relay keeps the first of two `user_id` keys).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import unquote

from ..errors import BadRequest, NotForwarded
from ..ids import clean_text
from ..models.postback import Campaign, DeviceIds, Kind, Postback, Revenue
from . import Convention, PartnerAdapter, RawPostback
from .fields import (
    MAX_EVENT_NAME,
    Fields,
    PropertyValue,
    as_ad_revenue,
    json_object,
    resolve_platform,
    revenue,
    upper,
)

PARTNER = "adjust"

# Our recommended callback template: query key -> Adjust placeholder (key = placeholder name).
QUERY_TEMPLATE: dict[str, str] = {
    name: f"{{{name}}}"
    for name in (
        "activity_kind",
        "created_at",
        "installed_at",
        "reattributed_at",
        "engagement_time",
        "idfa",
        "idfv",
        "gps_adid",
        "google_app_set_id",
        "android_id",
        "os_name",
        "os_version",
        "device_name",
        "country",
        "city",
        "language",
        "app_version",
        "network_name",
        "campaign_name",
        "adgroup_name",
        "creative_name",
        "tracker",
        "tracker_name",
        "is_organic",
        "event_name",
        "event",
        "revenue_float",
        "revenue_usd",
        "currency",
        # Ad revenue callbacks (https://help.adjust.com/en/article/ad-revenue-callbacks).
        "ad_revenue_network",
        "ad_revenue_unit",
        "ad_revenue_placement",
        "ad_mediation_platform",
        "ad_impressions_count",
        # Meta's install referrer on Android: Meta's own campaign for the install, often the real
        # source when Adjust says "Unattributed" (https://help.adjust.com/en/article/facebook-raw-data-reporting-for-android).
        "fb_install_referrer_campaign_group_name",
        "fb_install_referrer_campaign_name",
        "fb_install_referrer_adgroup_name",
        "fb_install_referrer_ad_id",
        "fb_install_referrer_publisher_platform",
    )
}

CONVENTION = Convention(
    # Amplitude's own Adjust integration names its user properties in lower case with underscores
    # ("[adjust] network", "[adjust] installed_at") [O]. Its event-type names are not confirmed:
    # we use the same lower-case style ("[adjust] install").
    label="[adjust]",
    event_types={
        Kind.INSTALL: "install",
        Kind.REINSTALL: "reinstall",
        Kind.RE_ATTRIBUTION: "reattribution",
        Kind.RE_ENGAGEMENT: "reengagement",  # never produced from Adjust data; kept for completeness
    },
    properties={
        "media_source": "network",
        "campaign": "campaign",
        "campaign_id": "campaign_id",
        "adset": "adgroup",
        "adset_id": "adgroup_id",
        "ad": "creative",
        "ad_id": "creative_id",
        "site_id": "tracker",  # the Adjust link (tracker) token
        "is_organic": "is_organic",
        "install_time": "installed_at",
        "touch_time": "engagement_time",
    },
    initial_prefix="initial_",
)

# activity_kind (lower case, spaces and dashes as "_") -> kind. Adjust's docs list the kinds in
# prose ("reattribution reinstall", "in-app event"); wire values use underscores
# ("rejected_reattribution"), and in-app events arrive as "event": all spellings are accepted.
_ACTIVITY_KINDS: Mapping[str, Kind] = {
    "install": Kind.INSTALL,
    "reinstall": Kind.REINSTALL,
    "reattribution": Kind.RE_ATTRIBUTION,
    "reattribution_reinstall": Kind.RE_ATTRIBUTION,
    "event": Kind.IN_APP_EVENT,
    "in_app_event": Kind.IN_APP_EVENT,
    "ad_revenue": Kind.IN_APP_EVENT,
}
AD_REVENUE = "ad_revenue"  # the activity_kind, and our event name for it
# SKAdNetwork activities: sk_install, sk_install_direct, sk_event, sk_cv_update, sk_qualifier
# (https://help.adjust.com/en/article/skad-raw-data-export names them; each has its own callback).
SKAN_PREFIX = "sk_"

# A network id Adjust (or the network) embeds at the end of a name: "Summer Sale (123456)".
# Long digit runs (Google, Meta, TikTok ids) or a UUID; "(2)" or "(copy)" are parts of the name.
_EMBEDDED_ID = re.compile(
    r"\((?P<id>\d{6,}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})\)\s*$",
    re.IGNORECASE,
)


def _activity_kind(fields: Fields) -> str | None:
    """activity_kind lower case, spaces and dashes as "_" ("reattribution_reinstall")."""
    activity_kind = clean_text(fields.get("activity_kind"))
    return re.sub(r"[\s\-]+", "_", activity_kind.strip().lower()) if activity_kind is not None else None


# Meta install referrer fields (decrypted by Adjust), in both spellings Adjust's placeholders use
# (fb_install_referrer_*, and the newer meta_install_referrer_*) [O: the placeholder list as found in
# Adjust's export columns; the decrypted fields are on the page above]. Sent as event properties
# under their own names: "[adjust] fb_install_referrer_campaign_name".
_META_REFERRER_FIELDS = (
    "account_id",
    "ad_id",
    "ad_objective_name",
    "adgroup_id",
    "adgroup_name",
    "campaign_id",
    "campaign_name",
    "campaign_group_id",
    "campaign_group_name",
    "publisher_platform",
    "is_click",
    "actual_timestamp",
)
META_REFERRER_KEYS = tuple(
    f"{prefix}_install_referrer_{name}" for prefix in ("fb", "meta") for name in _META_REFERRER_FIELDS
)


def _meta_referrer_properties(fields: Fields) -> dict[str, PropertyValue]:
    return {f"{CONVENTION.label} {key}": value for key in META_REFERRER_KEYS if (value := fields.text(key)) is not None}


def _kind(fields: Fields) -> Kind:
    activity_kind = clean_text(fields.get("activity_kind"))
    if activity_kind is None:
        # No activity_kind (a hand-written template): an event name or token means an in-app event.
        return Kind.IN_APP_EVENT if fields.text("event_name", "event", "event_token") else Kind.INSTALL
    normalised = _activity_kind(fields)
    if normalised is not None and normalised.startswith(SKAN_PREFIX):
        raise NotForwarded(
            f"Adjust SKAdNetwork activity {activity_kind[:100]!r} is not forwarded: Apple's aggregated"
            " postbacks hold no user or device id Amplitude can attribute to (archived, not sent)",
            field="activity_kind",
            value=activity_kind[:100],
        )
    kind = _ACTIVITY_KINDS.get(normalised or "")
    if kind is None:
        raise BadRequest(
            f"Adjust activity_kind {activity_kind[:100]!r} is not forwarded to Amplitude: configure this "
            "callback only for install, reinstall, reattribution and in-app event activities",
            field="activity_kind",
            value=activity_kind[:100],
        )
    return kind


def _device_ids(fields: Fields) -> DeviceIds:
    return fields.device_ids(
        idfa=("idfa",),
        idfv=("idfv",),
        # Amplitude's `adid` is the advertising id: Google's (gps_adid), else Amazon Fire's.
        # NEVER Adjust's own `adid` (the Adjust device id): Amplitude cannot match on it.
        adid=("gps_adid", "fire_adid"),
        android_app_set_id=("google_app_set_id",),
        android_id=("android_id",),
    )


def _tracker_name_parts(fields: Fields) -> list[str | None]:
    """`tracker_name` "Network::Campaign::Adgroup::Creative" as four parts (missing ones None)."""
    text = fields.text("tracker_name")
    if text is None:
        return [None] * 4
    if "::" not in text and "%3a" in text.lower():
        text = unquote(text)  # still URL-encoded once more than the query decoding removed
    parts: list[str | None] = [clean_text(part) for part in text.split("::", 3)]
    return (parts + [None] * 4)[:4]


def _name_and_id(name: str | None) -> tuple[str | None, str | None]:
    """The name as sent, and the id embedded in it ("Summer Sale (123456)" -> "123456")."""
    if name is None:
        return None, None
    match = _EMBEDDED_ID.search(name)
    return name, match["id"] if match else None


def _campaign(fields: Fields, is_organic: bool) -> Campaign:
    network, campaign, adgroup, creative = _tracker_name_parts(fields)
    network = fields.text("network_name") or network
    campaign_name, campaign_id = _name_and_id(fields.text("campaign_name") or campaign)
    adgroup_name, adgroup_id = _name_and_id(fields.text("adgroup_name") or adgroup)
    creative_name, creative_id = _name_and_id(fields.text("creative_name") or creative)
    return Campaign(
        media_source="organic" if is_organic else network,
        campaign=campaign_name,
        campaign_id=campaign_id,
        adset=adgroup_name,
        adset_id=adgroup_id,
        ad=creative_name,
        ad_id=creative_id,
        # {tracker} is the link's token; templates also name its key tracker_token.
        site_id=fields.text("tracker", "tracker_token"),
        touch_time_ms=fields.time_ms("engagement_time", "click_time"),
    )


def _is_organic(fields: Fields) -> bool:
    network = fields.text("network_name") or _tracker_name_parts(fields)[0]
    return (network is not None and network.lower() == "organic") or fields.is_true("is_organic")


def _amount(fields: Fields, units_key: str, cents_key: str) -> Decimal | None:
    """`units_key` in whole units, else `cents_key` (in CENTS) / 100."""
    amount = fields.money(units_key)
    if amount is None:
        cents = fields.money(cents_key)
        amount = cents / 100 if cents is not None else None
    return amount


def _revenue(fields: Fields) -> Revenue | None:
    """`revenue_float` (units) else `revenue` (cents) in `currency`; else `reporting_revenue` in
    `reporting_currency`. US dollars: `revenue_usd` (units) else `revenue_usd_cents`."""
    amount, currency = _amount(fields, "revenue_float", "revenue"), fields.text("currency")
    if amount is None:
        amount, currency = fields.money("reporting_revenue"), fields.text("reporting_currency")
    return revenue(amount, _amount(fields, "revenue_usd", "revenue_usd_cents"), upper(currency))


def _ad_properties(fields: Fields) -> dict[str, PropertyValue]:
    """The ad behind an ad revenue callback; its format only in the ILRD payload (URL-encoded JSON)."""
    properties = fields.ad_properties(
        ad_network=("ad_revenue_network",),
        ad_mediation_platform=("ad_mediation_platform",),
        ad_unit=("ad_revenue_unit",),
        ad_placement=("ad_revenue_placement",),
        ad_impressions=("ad_impressions_count",),
    )
    payload_text = fields.get("ad_revenue_payload")
    if isinstance(payload_text, str) and payload_text.lower().startswith("%7b"):
        payload_text = unquote(payload_text)  # still URL-encoded once more than the query decoding removed
    # JSON text is no `{macro}`: read as an object.
    payload = json_object(clean_text(payload_text, json_objects=True), partner="Adjust", field="ad_revenue_payload")
    if payload is not None:
        properties |= Fields(payload, "Adjust", "ad_revenue_payload.").ad_properties(
            ad_format=("adunit_format", "ad_format")
        )
    return properties


def _time_ms(fields: Fields, kind: Kind, install_time_ms: int | None) -> int | None:
    millis = fields.time_ms("created_at")
    if millis is not None:
        return millis
    if kind is Kind.RE_ATTRIBUTION:
        return fields.time_ms("reattributed_at")
    if kind in (Kind.INSTALL, Kind.REINSTALL):
        return install_time_ms  # for (re)installs the install time is the event time
    return None


def parse(raw: RawPostback) -> Postback:
    """One Adjust callback (GET query dict or POST form dict) as a normalised Postback."""
    fields = Fields(raw, "Adjust")
    kind = _kind(fields)
    in_app = kind is Kind.IN_APP_EVENT
    ids = _device_ids(fields)
    install_time_ms = fields.time_ms("installed_at")
    is_organic = _is_organic(fields)

    ad_revenue = _activity_kind(fields) == AD_REVENUE
    if ad_revenue:
        event_name: str | None = AD_REVENUE
    else:
        event_name = fields.text("event_name", "event", "event_token", limit=MAX_EVENT_NAME) if in_app else None
    event_properties = _meta_referrer_properties(fields) | (_ad_properties(fields) if ad_revenue else {})
    # {event} is the event's token; templates also name its key event_token.
    token = fields.text("event", "event_token")
    if in_app and token is not None and token != event_name:
        event_properties["event_token"] = token  # the name came from event_name: keep the token too

    return Postback(
        partner=PARTNER,
        kind=kind,
        event_name=event_name,
        # windows, windows-phone, web...: None; no os_name: inferred from the ids.
        platform=resolve_platform(
            clean_text(fields.get("os_name")), ids, ios=("ios", "ipados"), android=("android", "fire os", "fireos")
        ),
        ids=ids,
        user_id=fields.user_id("user_id"),
        time_ms=_time_ms(fields, kind, install_time_ms),
        install_time_ms=install_time_ms,
        is_organic=is_organic,
        campaign=_campaign(fields, is_organic),
        revenue=as_ad_revenue(_revenue(fields), ad_revenue) if in_app else None,
        device=fields.device(
            os_version=("os_version",),
            model=("device_name",),
            brand=("device_manufacturer",),
            country=("country",),  # Adjust sends lower-case ISO 3166-1 alpha-2
            city=("city",),
            language=("language",),
            # On iOS `{app_version}` is the build (CFBundleVersion); prefer the short version when sent.
            app_version=("app_version_short", "app_version"),
        ),
        event_properties=event_properties,
        # Adjust sends no per-callback id; honour one if a template supplies it.
        partner_event_id=fields.text("event_id"),
    )


# Every key parse() reads (tests/unit/test_partner_contract.py checks it): pass-through forwards
# only the others.
MAPPED_KEYS = frozenset(
    {
        *META_REFERRER_KEYS,
        "ad_revenue_network",
        "ad_revenue_unit",
        "ad_revenue_placement",
        "ad_mediation_platform",
        "ad_impressions_count",
        "ad_revenue_payload",
        "reporting_revenue",
        "reporting_currency",
        "revenue_usd_cents",
        "activity_kind",
        "adgroup_name",
        "android_id",
        "app_version",
        "app_version_short",
        "campaign_name",
        "city",
        "click_time",
        "country",
        "created_at",
        "creative_name",
        "currency",
        "device_manufacturer",
        "device_name",
        "engagement_time",
        "event",
        "event_id",
        "event_name",
        "event_token",
        "fire_adid",
        "google_app_set_id",
        "gps_adid",
        "idfa",
        "idfv",
        "installed_at",
        "is_organic",
        "language",
        "network_name",
        "os_name",
        "os_version",
        "reattributed_at",
        "revenue",
        "revenue_float",
        "revenue_usd",
        "tracker",
        "tracker_name",
        "tracker_token",
        "user_id",
    }
)


ADAPTER = PartnerAdapter(
    name=PARTNER,
    display_name="Adjust",
    convention=CONVENTION,
    parse=parse,
    method="GET",
    query_template=QUERY_TEMPLATE,
    mapped_keys=MAPPED_KEYS,
)
