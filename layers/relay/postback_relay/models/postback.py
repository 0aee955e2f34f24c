"""The normalised postback: what every partner adapter produces, whatever the partner's format.

Its limits are those of the outgoing models (models/amplitude.py): text of at most 1024 characters,
device ids in their platform's format. Adapters read inputs so that they always fit (partners/
fields.py); a postback that does not is a bug in an adapter, never passed on to Amplitude.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .amplitude import MAX_STRING

# The formats ids.clean_idfa / clean_gaid / clean_android_id produce.
UPPER_UUID = r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$"
LOWER_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
ANDROID_ID = r"^[0-9a-f]{16}$"


class Kind(StrEnum):
    INSTALL = "install"
    REINSTALL = "reinstall"
    RE_ENGAGEMENT = "re-engagement"
    RE_ATTRIBUTION = "re-attribution"
    IN_APP_EVENT = "in-app-event"

    @property
    def is_attribution(self) -> bool:
        """Installs and re-engagements go to the Attribution API; in-app events to HTTP V2."""
        return self is not Kind.IN_APP_EVENT


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_max_length=MAX_STRING)


class DeviceIds(_Frozen):
    """Identifiers Amplitude can match on (already cleaned: never empty, zeroed, a macro or malformed)."""

    idfa: str | None = Field(default=None, pattern=UPPER_UUID)
    idfv: str | None = Field(default=None, pattern=UPPER_UUID)
    adid: str | None = Field(default=None, pattern=LOWER_UUID, description="Google (or Amazon Fire) advertising id")
    android_app_set_id: str | None = Field(default=None, pattern=LOWER_UUID)
    android_id: str | None = Field(default=None, pattern=ANDROID_ID)

    def for_platform(self, platform: Literal["ios", "android"] | None) -> DeviceIds:
        """The ids a device of `platform` can have: Apple's on iOS, Google's and Android's on
        Android (a partner's postback can hold both, e.g. an IDFV left in an Android event's
        template); all of them when the platform is unknown."""
        if platform == "ios":
            return self.model_copy(update={"adid": None, "android_app_set_id": None, "android_id": None})
        if platform == "android":
            return self.model_copy(update={"idfa": None, "idfv": None})
        return self

    def usable_for(self, platform: Literal["ios", "android"] | None) -> bool:
        """Whether Amplitude's Attribution API can match this device (its per-platform rule, docs/delivery.md)."""
        if platform == "ios":
            return bool(self.idfa or self.idfv)
        if platform == "android":
            return bool(self.adid or self.android_app_set_id)
        return False


class Campaign(_Frozen):
    """Where the user came from. `media_source` is the network (or "organic")."""

    media_source: str | None = None
    channel: str | None = None
    campaign: str | None = None
    campaign_id: str | None = None
    adset: str | None = None
    adset_id: str | None = None
    ad: str | None = None
    ad_id: str | None = None
    site_id: str | None = None
    keywords: str | None = None
    agency: str | None = None
    touch_type: str | None = None
    touch_time_ms: int | None = None


class Revenue(_Frozen):
    amount: Decimal
    currency: str | None = None
    amount_usd: Decimal | None = None
    # Amplitude's `revenueType`; None: the event's name. Ad revenue is "ad_revenue" from every partner.
    revenue_type: str | None = None


class Device(_Frozen):
    os_version: str | None = None
    model: str | None = None
    brand: str | None = None
    carrier: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    language: str | None = None
    app_version: str | None = None


class Postback(_Frozen):
    """One partner postback, normalised. Built by a pure adapter; no I/O, no clock."""

    partner: str
    kind: Kind
    event_name: str | None = None
    platform: Literal["ios", "android"] | None = None
    ids: DeviceIds = DeviceIds()
    user_id: str | None = None
    time_ms: int | None = None
    install_time_ms: int | None = None
    is_organic: bool = False
    campaign: Campaign = Campaign()
    revenue: Revenue | None = None
    device: Device = Device()
    # Scalars, or lists of texts (a purchase's product ids): what partners/fields.py builds.
    event_properties: dict[str, str | int | float | bool | list[str]] = Field(default_factory=dict)
    partner_event_id: str | None = Field(
        default=None, description="the partner's own id for this postback, when it sends one"
    )

    def dedup_key(self, raw: Mapping[str, Any] | None = None) -> str:
        """Stable key for this postback: the same postback sent again maps to the same key.

        The partner's own event id where it has one. Else `raw`, the postback as received (less
        its credential): a resend is the same raw postback, and anything else is a new one, even
        when it normalises alike (two Apple platforms a mapping cannot tell apart, a key the
        adapter does not read). Keyed on the normalised fields, the second of two such postbacks
        was answered with the first's answer and never sent. Without `raw` (the tracker builds
        its own postbacks): every normalised field.
        """
        if self.partner_event_id:
            basis = f"{self.partner}|{self.kind}|{self.partner_event_id}"
        elif raw is not None:
            return raw_postback_key(self.partner, raw)
        else:
            basis = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return _key(basis)


def raw_postback_key(partner: str, raw: Mapping[str, Any]) -> str:
    """The key of a postback as received (less its credential): `Postback.dedup_key` without a
    partner event id, and the key of a postback no adapter turns into a Postback (not forwarded)."""
    # default=str: a value JSON cannot hold still keys (raw fields come from JSON or a form).
    return _key(json.dumps({"partner": partner, "raw": raw}, sort_keys=True, separators=(",", ":"), default=str))


def _key(basis: str) -> str:
    return hashlib.sha256(basis.encode()).hexdigest()[:40]
