"""Reading raw postbacks: the small pure helpers the coded partner adapters share.

Each adapter keeps its partner's own rules (which keys, which kinds, which platform words); what
is the same everywhere lives here: text through the shared id hygiene with Amplitude's length caps,
device ids checked for their format, user ids and money refused with a 400 naming the field when
Amplitude could not take them, "true"/"1" flags, platform inference from the ids present, flat
event properties and the Device / DeviceIds / Revenue built from them.

Wrong-typed values count as missing: a list, an object or a boolean where text is expected is no
text (a JSON number is text, as partners send ids and names as numbers). The inbound layer
(inbound.py) has already refused text that cannot be encoded and shapes no postback has, so what
is built here always fits the outgoing models (models/amplitude.py).
Pure: no I/O, no clock.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from ..errors import BadRequest
from ..ids import clean_android_id, clean_gaid, clean_idfa, clean_text, clean_user_id, unencodable
from ..models.amplitude import MAX_STRING
from ..models.postback import Device, DeviceIds, Revenue
from ..timeparse import to_epoch_ms

# Amplitude rejects strings over 1024 characters.
MAX_TEXT = MAX_STRING
# Leaves room for the "[Partner] " label in the Amplitude event type.
MAX_EVENT_NAME = 1000
# Longer text is no timestamp (the longest, ISO 8601 with nanoseconds and an offset, has 35
# characters); parsing thousands of digits would fail past Python's integer conversion limit.
MAX_TIMESTAMP_TEXT = 64
# Event property limits (keeps one chatty SDK event from bloating Amplitude).
MAX_EVENT_PROPERTIES = 50
MAX_PROPERTY_KEY = 100

TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "f"})

Platform = Literal["ios", "android"]
Property = str | int | float | bool
# An event property's value: a scalar, or a list of texts (Branch's products) that Amplitude keeps as an array.
PropertyValue = Property | list[str]
MAX_LIST_ITEMS = 100
Keys = tuple[str, ...]
_INT64 = 2**63


def flag(value: Any) -> bool | None:
    """A boolean as partners send it: JSON true/false, 1/0, or the words from a GET query;
    None when absent or not a boolean word."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value == 1
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


def is_true(value: Any) -> bool:
    """True only for a true flag (JSON true, 1, "true"/"True"/"1"/"yes"...)."""
    return flag(value) is True


def money(value: Any, *, partner: str, field: str) -> Decimal | None:
    """A money amount; None when absent or zero. Garbage is the sender's bug: 400 naming the field."""
    if isinstance(value, bool):
        raise BadRequest(f"{partner} {field} is not a number: {value!r}", field=field)
    text = clean_text(value)
    return parse_money(text, partner=partner, field=field) if text is not None else None


def parse_money(text: str, *, partner: str, field: str) -> Decimal | None:
    """`money` for text already cleaned (a mapping file's transformed value): None when zero."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise BadRequest(f"{partner} {field} is not a number: {text[:100]!r}", field=field) from None
    if not finite_amount(amount):
        raise BadRequest(f"{partner} {field} is not a finite number: {text[:100]!r}", field=field)
    return amount or None  # a revenue of 0 is no revenue


def finite_amount(amount: Decimal) -> bool:
    """Whether Amplitude's JSON can carry `amount`: finite as a Decimal AND as the float sent
    (Decimal("1e400") is finite, its float is infinity, which JSON cannot hold)."""
    return amount.is_finite() and math.isfinite(float(amount))


def capped(text: str | None, limit: int = MAX_TEXT) -> str | None:
    """`text` cut at `limit` characters (Amplitude's caps)."""
    return text if text is None or len(text) <= limit else text[:limit]


def checked_user_id(value: Any, *, partner: str, field: str) -> str | None:
    """The app's user id in `value`, if usable. One longer than Amplitude takes is refused (400
    naming the field): cut, it would be someone else's id."""
    user_id = clean_user_id(value)
    if user_id is not None and len(user_id) > MAX_TEXT:
        raise BadRequest(
            f"{partner} {field} is longer than the {MAX_TEXT} characters Amplitude takes for a user id",
            field=field,
        )
    return user_id


def kind_word(value: str) -> str:
    """An event kind as partners spell it ("Re_Engagement", "re engagement") in one form,
    "re-engagement", to look it up by."""
    return value.strip().lower().replace("_", "-").replace(" ", "-")


def upper(text: str | None) -> str | None:
    """Country and currency codes: partners send "us", "eur"; Amplitude expects upper case."""
    return text.upper() if text else None


def revenue(amount: Decimal | None, amount_usd: Decimal | None, currency: str | None) -> Revenue | None:
    """The revenue of an event; only a USD figure (e.g. a trimmed GET template) is still revenue."""
    if amount is None:
        if amount_usd is None:
            return None
        return Revenue(amount=amount_usd, currency="USD", amount_usd=amount_usd)
    return Revenue(amount=amount, currency=currency, amount_usd=amount_usd)


# Impression-level ad revenue (an ad network's revenue for ads shown in the app, reported through
# the measurement partner from AppLovin MAX, ironSource, AdMob...) is HTTP V2 revenue with this
# `revenueType`, whichever partner reports it, so one Amplitude chart sums ad revenue across them.
# Amplitude defines no ad-revenue label of its own (https://amplitude.com/docs/data/sources/instrument-track-revenue
# names revenueType values such as "income", "tax", "refund").
AD_REVENUE_TYPE = "ad_revenue"
# Our event property → what it holds; each partner says which of its keys fill it.
AD_PROPERTIES = ("ad_network", "ad_mediation_platform", "ad_unit", "ad_placement", "ad_format", "ad_impressions")


def ad_properties(texts: Mapping[str, str | None]) -> dict[str, PropertyValue]:
    """AD_PROPERTIES from their texts (None: not sent); `ad_impressions` is a count, or left out."""
    unknown = set(texts) - set(AD_PROPERTIES)
    assert not unknown, unknown  # a typo in an adapter, not in a postback
    properties: dict[str, PropertyValue] = {}
    for name, text in texts.items():
        if text is None:
            continue
        if name != "ad_impressions":
            properties[name] = text
        elif text.isdigit() and len(text) < 19:
            properties[name] = int(text)
    return properties


def first_ad_properties(sources: Sequence[Fields], keys_by_property: Mapping[str, Keys]) -> dict[str, PropertyValue]:
    """AD_PROPERTIES, each from the first of `sources` holding one of its keys (a message's own
    keys before those of its nested event data)."""
    texts = {
        name: next((text for source in sources if (text := source.text(*keys)) is not None), None)
        for name, keys in keys_by_property.items()
    }
    return ad_properties(texts)


def as_ad_revenue(found: Revenue | None, ad_revenue: bool = True) -> Revenue | None:
    """`found` typed AD_REVENUE_TYPE when it is an ad revenue event's (`ad_revenue`)."""
    return found.model_copy(update={"revenue_type": AD_REVENUE_TYPE}) if found is not None and ad_revenue else found


def infer_platform(ids: DeviceIds) -> Platform | None:
    """The platform whose family of ids is present; ambiguous (both or neither) is unknown."""
    apple = bool(ids.idfa or ids.idfv)
    google = bool(ids.adid or ids.android_id or ids.android_app_set_id)
    if apple and not google:
        return "ios"
    if google and not apple:
        return "android"
    return None


# Apple's platforms: a device on any of them has an IDFA and an IDFV (ASIdentifierManager and
# identifierForVendor exist on iOS, iPadOS, Mac Catalyst, macOS, tvOS and visionOS; watchOS has its
# own identifierForVendor: https://developer.apple.com/documentation/adsupport/asidentifiermanager).
# Partners send them as platforms of their own (AppsFlyer's published postbacks carry "ipados" and
# "tvos"): each is Amplitude's "ios", so its Apple ids are kept and the Attribution call is made.
# Unrecognised, an "ipados" install lost its platform, then its ids (no Attribution call).
# Without a user id it was then refused with a misleading 422.
APPLE_PLATFORMS = frozenset({"ios", "ipados", "tvos", "macos", "visionos", "watchos", "mac catalyst"})


def resolve_platform(
    stated: str | None,
    ids: DeviceIds,
    *,
    ios: Collection[str] = ("ios",),
    android: Collection[str] = ("android",),
) -> Platform | None:
    """The stated platform (lower-cased words in `ios` / `android`); any other stated platform
    (windows, web, ...) is None, as Amplitude's Attribution API knows only ios/android. Nothing
    stated: inferred from the ids."""
    if stated is not None:
        return stated_platform(stated, ios=ios, android=android)
    return infer_platform(ids)


def stated_platform(
    stated: str,
    *,
    ios: Collection[str] = ("ios",),
    android: Collection[str] = ("android",),
) -> Platform | None:
    """The platform a postback states (lower-cased words in `ios` / `android`, or any of Apple's
    own platform names), else None."""
    lowered = stated.lower()
    if lowered in ios or lowered in APPLE_PLATFORMS:
        return "ios"
    if lowered in android:
        return "android"
    return None


def json_object(value: Any, *, partner: str, field: str) -> Mapping[Any, Any] | None:
    """`value` when it is an object, or the object a JSON string encodes; else None (malformed
    JSON is the app's data, not a reason to refuse the postback). A JSON string whose own escapes
    spell text that cannot be encoded (`"\\ud800"`) is refused (400) naming the field, as such
    text is in the postback itself (inbound.check_shape)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            return None
        if isinstance(value, Mapping) and _holds_unencodable(value):
            raise BadRequest(
                f"{partner} {field} holds JSON text that is not valid Unicode (a lone UTF-16 surrogate escape)",
                field=field,
            )
    return value if isinstance(value, Mapping) else None


def _holds_unencodable(data: Mapping[Any, Any]) -> bool:
    """Whether a key or a string value of `data` (its top level: the only one flat_properties reads)
    cannot be encoded."""
    return any(
        (isinstance(key, str) and unencodable(key)) or (isinstance(item, str) and unencodable(item))
        for key, item in data.items()
    )


def flat_properties(
    data: Mapping[Any, Any],
    properties: dict[str, PropertyValue] | None = None,
    *,
    keep_existing: bool = False,
) -> dict[str, PropertyValue]:
    """`properties` (new if None) plus the scalar entries of `data`, capped in number, key and
    text length. None, lists and nested objects are skipped: not flat properties; so are NaN and
    infinities (json.loads accepts them, Amplitude's JSON cannot carry them). `keep_existing`:
    a key already in `properties` is not overwritten."""
    properties = {} if properties is None else properties
    for key, item in data.items():
        if len(properties) >= MAX_EVENT_PROPERTIES:
            break
        if not isinstance(key, str) or not key.strip() or (keep_existing and key in properties):
            continue
        if isinstance(item, str):
            properties[key[:MAX_PROPERTY_KEY]] = item[:MAX_TEXT]
        elif (
            isinstance(item, bool)
            or (isinstance(item, int) and -_INT64 <= item < _INT64)  # a JSON string's integers are unbounded
            or (isinstance(item, float) and math.isfinite(item))
        ):
            properties[key[:MAX_PROPERTY_KEY]] = item
    return properties


@dataclass(frozen=True)
class Fields:
    """One flat raw postback (or one object of a nested one), read through the shared hygiene.

    `partner` names the partner in 400 messages; `field_prefix` is prepended to field names in
    them (a nested object's path, "event_data.").
    """

    raw: Mapping[str, Any]
    partner: str
    field_prefix: str = ""

    def get(self, key: str) -> Any:
        """The raw value of `key` (None when absent): the readers below say what counts."""
        return self.raw.get(key)

    def text(self, *keys: str, limit: int = MAX_TEXT, dunder_names: bool = False) -> str | None:
        """The first usable text among `keys` (null, "", "null", macros skipped), capped at `limit`.
        `dunder_names`: `__START__` is a name, not a macro (see `ids.is_macro`)."""
        for key in keys:
            text = clean_text(self.get(key), dunder_names=dunder_names)
            if text is not None:
                return capped(text, limit)
        return None

    def texts(self, keys_by_name: Mapping[str, Keys]) -> dict[str, str | None]:
        """name → the first usable text among that name's keys."""
        return {name: self.text(*keys) for name, keys in keys_by_name.items()}

    def is_true(self, key: str) -> bool:
        return is_true(self.get(key))

    def user_id(self, *keys: str) -> str | None:
        """The app's user id from the first of `keys` holding a usable one (`checked_user_id`)."""
        for key in keys:
            user_id = checked_user_id(self.get(key), partner=self.partner, field=f"{self.field_prefix}{key}")
            if user_id is not None:
                return user_id
        return None

    def money(self, key: str) -> Decimal | None:
        return money(self.get(key), partner=self.partner, field=f"{self.field_prefix}{key}")

    def time_ms(self, *keys: str) -> int | None:
        """Epoch ms of the first readable timestamp among `keys`."""
        for key in keys:
            value = self.get(key)
            if isinstance(value, str) and len(value) > MAX_TIMESTAMP_TEXT:
                continue
            millis = to_epoch_ms(value)
            if millis is not None:
                return millis
        return None

    def section(self, key: str) -> Fields:
        """The nested object `key` (empty when absent or not an object), read the same way."""
        value = self.raw.get(key)
        return Fields(
            value if isinstance(value, Mapping) else {},
            self.partner,
            field_prefix=f"{self.field_prefix}{key}.",
        )

    def first_id(self, clean: Callable[[Any], str | None], keys: Keys) -> str | None:
        for key in keys:
            value = clean(self.get(key))
            if value is not None:
                return value
        return None

    def device_ids(
        self,
        *,
        idfa: Keys = (),
        idfv: Keys = (),
        adid: Keys = (),
        android_app_set_id: Keys = (),
        android_id: Keys = (),
    ) -> DeviceIds:
        """Each id from the first of its keys holding a usable one: UUIDs (IDFA/IDFV upper case,
        advertising and App Set ids lower case) and 16-hex Android ids; zeroed, macro, malformed and
        non-text ids dropped (ids.clean_idfa / clean_gaid / clean_android_id)."""
        return DeviceIds(
            idfa=self.first_id(clean_idfa, idfa),
            idfv=self.first_id(clean_idfa, idfv),
            adid=self.first_id(clean_gaid, adid),
            android_app_set_id=self.first_id(clean_gaid, android_app_set_id),
            android_id=self.first_id(clean_android_id, android_id),
        )

    def ad_properties(self, **keys_by_property: Keys) -> dict[str, PropertyValue]:
        """The ad an ad revenue event was for, as our AD_PROPERTIES (`ad_network=("ad_revenue_network",)`):
        each from the first of its keys holding text."""
        return ad_properties({name: self.text(*keys) for name, keys in keys_by_property.items()})

    def device(self, **keys_by_field: Keys) -> Device:
        """A Device from field → keys (first usable text); the country code upper-cased."""
        values = self.texts(keys_by_field)
        if "country" in values:
            values["country"] = upper(values["country"])
        return Device(**values)
