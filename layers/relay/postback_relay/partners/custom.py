"""Custom networks without code: one YAML mapping file per ad network → a `PartnerAdapter`.

An ad network's S2S postback is a flat set of keys chosen by whoever wrote the callback URL
(`?ifa={ifa}&ts={ts}&event={event}`), delivered as a query string or a JSON/form body. A mapping
file says, per field of our normalised `Postback`, which key(s) to read and how to clean the
value; `load_mapping` validates it (pydantic, every model `extra="forbid"` so a typo fails at
load time) and builds the adapter. Schema reference and a worked example: docs/custom-networks.md.

Pure at parse time: no I/O, no clock. Files are read once, by `load_mapping` / `load_networks`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from ..config import ConfigurationError
from ..errors import BadRequest
from ..ids import clean_android_id, clean_gaid, clean_idfa, clean_text, clean_user_id
from ..models.postback import Campaign, Device, DeviceIds, Kind, Postback, Revenue
from ..timeparse import to_epoch_ms
from . import Convention, PartnerAdapter, RawPostback
from .fields import MAX_EVENT_NAME, MAX_TEXT, MAX_TIMESTAMP_TEXT, finite_amount, flag, infer_platform, revenue
from .registry import CUSTOM_ROUTE_PREFIX

NETWORKS_DIR = Path(__file__).resolve().parent.parent / "networks"
"""The mapping files shipped in the Lambda layer (postback_relay/networks/*.yaml)."""

NETWORKS_DIR_ENV = "RELAY_NETWORKS_DIR"
ROUTE_PREFIX = CUSTOM_ROUTE_PREFIX

NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
_NAME = re.compile(NAME_PATTERN)

TIME_FORMATS = ("epoch_s", "epoch_ms", "auto", "iso8601")
SIMPLE_TRANSFORMS = ("lower", "upper", "strip")
KEYED_TRANSFORMS = ("map", "prefix_strip", "split", "regex")

AttributionKind = Literal["install", "reinstall", "re-engagement", "re-attribution"]
PropertyField = Literal[
    "media_source",
    "channel",
    "campaign",
    "campaign_id",
    "adset",
    "adset_id",
    "ad",
    "ad_id",
    "site_id",
    "keywords",
    "agency",
    "touch_type",
    "is_organic",
    "touch_time",
    "install_time",
]

DEFAULT_EVENT_TYPES: Mapping[AttributionKind, str] = {
    "install": "Install",
    "reinstall": "Reinstall",
    "re-engagement": "Re-engagement",
    "re-attribution": "Re-attribution",
}

# Amplitude user property names after the label, as Amplitude's own AppsFlyer integration names them.
DEFAULT_PROPERTIES: Mapping[str, str] = {
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
    "touch_time": "touch time",
    "install_time": "install time",
}


class MappingError(ConfigurationError):
    """A mapping file that cannot be used; the message names the file and the field."""


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    # YAML turns `campaign_id: 123` into an int: accept numbers where text is expected.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


def _yaml_scalar_text(value: Any) -> Any:
    """YAML 1.1 reads yes/no/on/off/true/false as booleans: give them back as lower-case words."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _map_keys_as_text(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {_yaml_scalar_text(key): _yaml_scalar_text(item) for key, item in value.items()}
    return value


class MapTransform(_Strict):
    """`{map: {from: to}}`: unmapped values pass through, or become None (`strict: true`),
    or become `other`. A `null` target means "treat as missing"."""

    map: Annotated[dict[str, str | None], BeforeValidator(_map_keys_as_text)] = Field(min_length=1)
    strict: bool = False
    other: Annotated[str | None, BeforeValidator(_yaml_scalar_text)] = None

    @model_validator(mode="after")
    def _strict_or_other(self) -> MapTransform:
        if self.strict and self.other is not None:
            raise ValueError("use either `strict: true` or `other`, not both")
        return self

    def apply(self, value: str) -> str | None:
        if value in self.map:
            return self.map[value]
        if self.other is not None:
            return self.other
        return None if self.strict else value


class PrefixStripTransform(_Strict):
    """`{prefix_strip: "id"}`: "id1234" → "1234"; values without the prefix pass through."""

    prefix_strip: str = Field(min_length=1)

    def apply(self, value: str) -> str | None:
        return value.removeprefix(self.prefix_strip)


class SplitSpec(_Strict):
    sep: str = Field(min_length=1)
    index: int = 0


class SplitTransform(_Strict):
    """`{split: {sep: "::", index: 1}}`: the index-th piece (negative counts from the end);
    None when there are too few pieces."""

    split: SplitSpec

    def apply(self, value: str) -> str | None:
        pieces = value.split(self.split.sep)
        try:
            return pieces[self.split.index]
        except IndexError:
            return None


def _compile_one_group(pattern: str) -> str:
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise ValueError(f"invalid regular expression {pattern!r}: {error}") from None
    if compiled.groups != 1:
        raise ValueError(f"regex {pattern!r} must have exactly one capturing group, it has {compiled.groups}")
    return pattern


class RegexTransform(_Strict):
    """`{regex: "\\((\\d+)\\)$"}`: the one group of the first match (re.search); None when no match."""

    regex: Annotated[str, AfterValidator(_compile_one_group)]

    def apply(self, value: str) -> str | None:
        match = re.search(self.regex, value)
        return match.group(1) if match else None


def _transform_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "simple" if value in SIMPLE_TRANSFORMS else None
    if isinstance(value, BaseModel):
        return {
            MapTransform: "map",
            PrefixStripTransform: "prefix_strip",
            SplitTransform: "split",
            RegexTransform: "regex",
        }.get(type(value))
    if isinstance(value, Mapping):
        for tag in KEYED_TRANSFORMS:
            if tag in value:
                return tag
    return None


Transform = Annotated[
    Annotated[Literal["lower", "upper", "strip"], Tag("simple")]
    | Annotated[MapTransform, Tag("map")]
    | Annotated[PrefixStripTransform, Tag("prefix_strip")]
    | Annotated[SplitTransform, Tag("split")]
    | Annotated[RegexTransform, Tag("regex")],
    Discriminator(
        _transform_tag,
        custom_error_type="unknown_transform",
        custom_error_message=(
            "unknown transform (use lower, upper, strip, or one of {map: ...}, {prefix_strip: ...}, "
            "{split: {sep, index}}, {regex: ...})"
        ),
    ),
]


def _apply_transform(transform: Transform, value: str) -> str | None:
    if transform == "lower":
        return value.lower()
    if transform == "upper":
        return value.upper()
    if transform == "strip":
        return value.strip()
    assert not isinstance(transform, str)
    return transform.apply(value)


def _check_time_format(value: str) -> str:
    if value in TIME_FORMATS:
        return value
    if "%" in value:
        sample = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)
        try:
            datetime.strptime(sample.strftime(value), value)
        except ValueError as error:
            raise ValueError(f"strptime pattern {value!r} does not parse its own output: {error}") from None
        return value
    raise ValueError(
        f"unknown format {value!r} (use epoch_s, epoch_ms, auto, iso8601 or a strptime pattern "
        "such as '%Y-%m-%d %H:%M:%S')"
    )


TimeFormat = Annotated[str, AfterValidator(_check_time_format)]


class _Rule(_Strict):
    """Where one Postback field comes from: `from` (a key, or keys tried in order: the first
    usable value wins) or `constant`; `default` when no key gives a usable value."""

    from_: str | list[Annotated[str, Field(min_length=1)]] | None = Field(default=None, alias="from", min_length=1)
    transforms: list[Transform] = Field(default_factory=list)

    @property
    def keys(self) -> tuple[str, ...]:
        if self.from_ is None:
            return ()
        return (self.from_,) if isinstance(self.from_, str) else tuple(self.from_)

    @model_validator(mode="after")
    def _one_source(self) -> _Rule:
        constant = getattr(self, "constant", None)
        default = getattr(self, "default", None)
        if constant is not None:
            if self.from_ is not None:
                raise ValueError("give either `from` or `constant`, not both")
            if default is not None:
                raise ValueError("a `constant` needs no `default`")
            if self.transforms:
                raise ValueError("`transforms` apply to `from` values only, not to a `constant`")
        elif self.from_ is None:
            raise ValueError("a rule needs `from` (a key or a list of keys) or `constant`")
        return self


class TextRule(_Rule):
    # No longer than Amplitude takes: a file's own text is never cut or refused per postback.
    constant: str | None = Field(default=None, max_length=MAX_TEXT)
    default: str | None = Field(default=None, max_length=MAX_TEXT)


class IdRule(TextRule):
    """Device ids: `when_platform` keeps a value only when the postback's platform matches, for
    networks whose one key carries the IDFA on iOS and the GAID on Android."""

    when_platform: Literal["ios", "android"] | None = None


class TimeRule(TextRule):
    format: TimeFormat = "auto"


class KindRule(_Rule):
    constant: Kind | None = None
    default: Kind | None = None


class PlatformRule(_Rule):
    constant: Literal["ios", "android"] | None = None
    default: Literal["ios", "android"] | None = None


class BoolRule(_Rule):
    constant: bool | None = None
    default: bool | None = None


def _sendable_amount(value: Decimal | None) -> Decimal | None:
    if value is not None and not finite_amount(value):
        raise ValueError(f"{value} is not an amount Amplitude's JSON can carry")
    return value


SendableAmount = Annotated[Decimal | None, AfterValidator(_sendable_amount)]


class MoneyRule(_Rule):
    constant: SendableAmount = None
    default: SendableAmount = None


class FieldsMapping(_Strict):
    """Target fields: our normalised Postback's, by name. An unknown name fails validation."""

    platform: PlatformRule | None = None
    kind: KindRule | None = None
    event_name: TextRule | None = None
    user_id: TextRule | None = None
    time: TimeRule | None = None
    install_time: TimeRule | None = None
    idfa: IdRule | None = None
    idfv: IdRule | None = None
    adid: IdRule | None = None
    android_app_set_id: IdRule | None = None
    android_id: IdRule | None = None
    media_source: TextRule | None = None
    channel: TextRule | None = None
    campaign: TextRule | None = None
    campaign_id: TextRule | None = None
    adset: TextRule | None = None
    adset_id: TextRule | None = None
    ad: TextRule | None = None
    ad_id: TextRule | None = None
    site_id: TextRule | None = None
    keywords: TextRule | None = None
    agency: TextRule | None = None
    touch_type: TextRule | None = None
    touch_time: TimeRule | None = None
    revenue: MoneyRule | None = None
    currency: TextRule | None = None
    revenue_usd: MoneyRule | None = None
    os_version: TextRule | None = None
    model: TextRule | None = None
    brand: TextRule | None = None
    carrier: TextRule | None = None
    country: TextRule | None = None
    region: TextRule | None = None
    city: TextRule | None = None
    language: TextRule | None = None
    app_version: TextRule | None = None
    partner_event_id: TextRule | None = None
    is_organic: BoolRule | None = None


TARGET_FIELDS: tuple[str, ...] = tuple(FieldsMapping.model_fields)
TargetField = Literal[
    "platform",
    "kind",
    "event_name",
    "user_id",
    "time",
    "install_time",
    "idfa",
    "idfv",
    "adid",
    "android_app_set_id",
    "android_id",
    "media_source",
    "channel",
    "campaign",
    "campaign_id",
    "adset",
    "adset_id",
    "ad",
    "ad_id",
    "site_id",
    "keywords",
    "agency",
    "touch_type",
    "touch_time",
    "revenue",
    "currency",
    "revenue_usd",
    "os_version",
    "model",
    "brand",
    "carrier",
    "country",
    "region",
    "city",
    "language",
    "app_version",
    "partner_event_id",
    "is_organic",
]


class OrganicWhen(_Strict):
    """Organic when a resolved target `field` (or a raw postback `key`) is one of `in`
    (case-insensitive; "" matches a missing value)."""

    field: TargetField | None = None
    key: str | None = Field(default=None, min_length=1)
    in_: list[Annotated[str, BeforeValidator(_yaml_scalar_text)]] = Field(alias="in", min_length=1)

    @model_validator(mode="after")
    def _field_or_key(self) -> OrganicWhen:
        if (self.field is None) == (self.key is None):
            raise ValueError("give exactly one of `field` (a target field) or `key` (a postback key)")
        if self.field in ("kind", "time", "install_time", "touch_time", "revenue", "revenue_usd", "is_organic"):
            raise ValueError(f"`field: {self.field}` is not a text field; use `key` to test the raw value")
        return self

    def matches(self, value: str | None) -> bool:
        return (value or "").lower() in {item.lower() for item in self.in_}


def _check_macro_pattern(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"invalid regular expression {pattern!r}: {error}") from None
    return pattern


class NetworkMapping(_Strict):
    """One ad network's mapping file (networks/<name>.yaml)."""

    name: str = Field(pattern=NAME_PATTERN)
    display_name: str = Field(min_length=1, max_length=100)
    label: str | None = Field(default=None, min_length=1, max_length=100)
    method: Literal["GET", "POST"] = "GET"
    # Names end up in Amplitude event types and property names (1024 characters at most, label included).
    event_types: dict[AttributionKind, Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=dict
    )
    fields: FieldsMapping
    organic_when: OrganicWhen | None = None
    query_template: dict[Annotated[str, Field(min_length=1)], str] | None = None
    properties: dict[PropertyField, Annotated[str, Field(min_length=1, max_length=200)]] | None = None
    macro_patterns: list[Annotated[str, AfterValidator(_check_macro_pattern)]] = Field(default_factory=list)

    @field_validator("label")
    @classmethod
    def _label_is_text(cls, value: str | None) -> str | None:
        return value.strip() if value is not None else None

    @property
    def amplitude_label(self) -> str:
        return self.label or f"[{self.display_name}]"

    def convention(self) -> Convention:
        event_types = {**DEFAULT_EVENT_TYPES, **self.event_types}
        return Convention(
            label=self.amplitude_label,
            event_types={Kind(kind): name for kind, name in event_types.items()},
            properties=(
                {str(field): name for field, name in self.properties.items()}
                if self.properties is not None
                else dict(DEFAULT_PROPERTIES)
            ),
        )


# --------------------------------------------------------------------------------------------
# Parsing one postback with a mapping
# --------------------------------------------------------------------------------------------


class _Reader:
    """Reads one raw postback through one mapping's rules."""

    def __init__(self, mapping: NetworkMapping, raw: RawPostback) -> None:
        self.mapping = mapping
        self.raw = raw
        self.macros = [re.compile(pattern) for pattern in mapping.macro_patterns]

    def raw_text(self, key: str) -> str | None:
        """The cleaned value of `key`: None for null, "", placeholder words and unreplaced macros."""
        value = self.raw.get(key)  # a list or an object is no text (clean_text): missing
        if isinstance(value, bool):
            value = "true" if value else "false"
        text = clean_text(value)
        if text is None or any(pattern.search(text) for pattern in self.macros):
            return None
        return text

    def candidates(self, rule: _Rule) -> Iterator[tuple[str, str]]:
        """(key, transformed value) for each `from` key that yields a usable value, in order."""
        for key in rule.keys:
            value = self.raw_text(key)
            for transform in rule.transforms:
                if value is None:
                    break
                value = _apply_transform(transform, value)
                value = value if value else None
            if value is not None:
                yield key, value

    def text(
        self,
        rule: TextRule | None,
        clean: Callable[[Any], str | None] = clean_text,
        limit: int = MAX_TEXT,
    ) -> str | None:
        if rule is None:
            return None
        if rule.constant is not None:
            return _capped(clean(rule.constant), limit)
        for _key, value in self.candidates(rule):
            cleaned = clean(value)
            if cleaned is not None:
                return _capped(cleaned, limit)
        return _capped(clean(rule.default), limit) if rule.default is not None else None

    def user_id(self, rule: TextRule | None) -> str | None:
        """The user id; one longer than Amplitude takes is refused (400 naming the key): cut, it
        would be someone else's id."""
        if rule is None:
            return None
        if rule.constant is not None:
            return clean_user_id(rule.constant)
        for key, value in self.candidates(rule):
            user_id = clean_user_id(value)
            if user_id is None:
                continue
            if len(user_id) > MAX_TEXT:
                raise BadRequest(
                    f"{self.mapping.display_name} {key} is longer than the {MAX_TEXT} characters Amplitude "
                    "takes for a user id",
                    field=key,
                )
            return user_id
        return clean_user_id(rule.default)

    def device_id(self, rule: IdRule | None, clean: Callable[[Any], str | None], platform: str | None) -> str | None:
        if rule is not None and rule.when_platform is not None and rule.when_platform != platform:
            return None
        return self.text(rule, clean)

    def time_ms(self, rule: TimeRule | None) -> int | None:
        """Epoch ms; an unreadable timestamp is None (Amplitude then uses the upload time)."""
        if rule is None:
            return None
        if rule.constant is not None:
            return _parse_time(rule.constant, rule.format)
        for _key, value in self.candidates(rule):
            millis = _parse_time(value, rule.format)
            if millis is not None:
                return millis
        return _parse_time(rule.default, rule.format) if rule.default is not None else None

    def kind(self, rule: KindRule | None) -> Kind:
        if rule is None:
            return Kind.INSTALL
        if rule.constant is not None:
            return rule.constant
        for key, value in self.candidates(rule):
            normalised = value.strip().lower().replace("_", "-").replace(" ", "-")
            try:
                return Kind(normalised)
            except ValueError:
                raise BadRequest(
                    f"{self.mapping.display_name} {key}: {value[:100]!r} is not a postback kind "
                    f"(mapped values must end as one of {', '.join(kind.value for kind in Kind)})",
                    field=key,
                    value=value[:100],
                ) from None
        if rule.default is not None:
            return rule.default
        keys = ", ".join(rule.keys)
        raise BadRequest(f"{self.mapping.display_name} postback has no kind ({keys} missing)", field=rule.keys[0])

    def platform(self, rule: PlatformRule | None) -> tuple[Literal["ios", "android"] | None, bool]:
        """(platform, stated): a stated platform other than ios/android is None, not inferred."""
        if rule is None:
            return None, False
        if rule.constant is not None:
            return rule.constant, True
        for _key, value in self.candidates(rule):
            lowered = value.strip().lower()
            if lowered == "ios":
                return "ios", True
            if lowered == "android":
                return "android", True
            return None, True  # windows, web, ...: Amplitude's Attribution API knows only ios/android
        return rule.default, rule.default is not None

    def flag(self, rule: BoolRule | None) -> bool | None:
        if rule is None:
            return None
        if rule.constant is not None:
            return rule.constant
        for _key, value in self.candidates(rule):
            stated = flag(value)
            if stated is not None:
                return stated
        return rule.default

    def money(self, rule: MoneyRule | None) -> Decimal | None:
        """An amount; None when absent or zero. Garbage is the sender's bug: 400 naming the key."""
        if rule is None:
            return None
        amount: Decimal | None
        if rule.constant is not None:
            amount = rule.constant
        else:
            amount = rule.default
            for key, value in self.candidates(rule):
                try:
                    amount = Decimal(value)
                except InvalidOperation:
                    raise BadRequest(
                        f"{self.mapping.display_name} {key} is not a number: {value[:100]!r}", field=key
                    ) from None
                if not finite_amount(amount):
                    raise BadRequest(
                        f"{self.mapping.display_name} {key} is not a finite number: {value[:100]!r}", field=key
                    )
                break
        return amount or None  # a revenue of 0 is no revenue


def _capped(value: str | None, limit: int) -> str | None:
    return value[:limit] if value is not None else None


def _in_range(millis: int) -> int | None:
    """`millis` when it is a plausible instant (2000..2100), else None."""
    return millis if to_epoch_ms(millis) == millis else None


def _parse_time(value: str | None, time_format: str) -> int | None:
    text = clean_text(value)
    if text is None or len(text) > MAX_TIMESTAMP_TEXT:
        return None
    if time_format == "auto":
        return to_epoch_ms(text)
    if time_format in ("epoch_s", "epoch_ms"):
        if not re.fullmatch(r"\d+(\.\d+)?", text):
            return None
        number = Decimal(text)
        return _in_range(int(number * 1000 if time_format == "epoch_s" else number))
    if time_format == "iso8601":
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return None  # a bare number is not ISO 8601
        millis = to_epoch_ms(text)
        if millis is not None:
            return millis
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        try:
            moment = datetime.strptime(text, time_format)
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _in_range(int(moment.timestamp() * 1000))


def parse_with(mapping: NetworkMapping, raw: RawPostback) -> Postback:
    """One postback of `mapping`'s network as a normalised Postback."""
    reader = _Reader(mapping, raw)
    rules = mapping.fields

    kind = reader.kind(rules.kind)
    in_app = kind is Kind.IN_APP_EVENT
    platform, stated = reader.platform(rules.platform)
    ids = DeviceIds(
        idfa=reader.device_id(rules.idfa, clean_idfa, platform),
        idfv=reader.device_id(rules.idfv, clean_idfa, platform),
        adid=reader.device_id(rules.adid, clean_gaid, platform),
        android_app_set_id=reader.device_id(rules.android_app_set_id, clean_gaid, platform),
        android_id=reader.device_id(rules.android_id, clean_android_id, platform),
    )
    if not stated:
        platform = infer_platform(ids)

    time_ms = reader.time_ms(rules.time)
    install_time_ms = reader.time_ms(rules.install_time)
    if time_ms is None and kind in (Kind.INSTALL, Kind.REINSTALL):
        time_ms = install_time_ms  # for (re)installs the install time is the event time

    media_source = reader.text(rules.media_source)
    is_organic = reader.flag(rules.is_organic)
    if is_organic is None:
        is_organic = _organic_when(mapping.organic_when, reader, media_source)

    campaign = Campaign(
        media_source="organic" if is_organic else media_source,
        channel=reader.text(rules.channel),
        campaign=reader.text(rules.campaign),
        campaign_id=reader.text(rules.campaign_id),
        adset=reader.text(rules.adset),
        adset_id=reader.text(rules.adset_id),
        ad=reader.text(rules.ad),
        ad_id=reader.text(rules.ad_id),
        site_id=reader.text(rules.site_id),
        keywords=reader.text(rules.keywords),
        agency=reader.text(rules.agency),
        touch_type=reader.text(rules.touch_type),
        touch_time_ms=reader.time_ms(rules.touch_time),
    )
    device = Device(
        os_version=reader.text(rules.os_version),
        model=reader.text(rules.model),
        brand=reader.text(rules.brand),
        carrier=reader.text(rules.carrier),
        country=reader.text(rules.country),
        region=reader.text(rules.region),
        city=reader.text(rules.city),
        language=reader.text(rules.language),
        app_version=reader.text(rules.app_version),
    )
    return Postback(
        partner=mapping.name,
        kind=kind,
        event_name=reader.text(rules.event_name, limit=MAX_EVENT_NAME) if in_app else None,
        platform=platform,
        ids=ids,
        user_id=reader.user_id(rules.user_id),
        time_ms=time_ms,
        install_time_ms=install_time_ms,
        is_organic=is_organic,
        campaign=campaign,
        revenue=_revenue(reader, rules) if in_app else None,
        device=device,
        partner_event_id=reader.text(rules.partner_event_id),
    )


def _organic_when(condition: OrganicWhen | None, reader: _Reader, media_source: str | None) -> bool:
    if condition is None:
        return False
    if condition.key is not None:
        return condition.matches(reader.raw_text(condition.key))
    if condition.field == "media_source":
        return condition.matches(media_source)
    rule = getattr(reader.mapping.fields, str(condition.field))
    if rule is None:
        return condition.matches(None)
    if isinstance(rule, PlatformRule):
        return condition.matches(reader.platform(rule)[0])
    if isinstance(rule, IdRule):
        return condition.matches(reader.text(rule, clean_idfa if condition.field in ("idfa", "idfv") else clean_gaid))
    if isinstance(rule, TextRule):
        return condition.matches(reader.text(rule, clean_user_id if condition.field == "user_id" else clean_text))
    return False  # unreachable: OrganicWhen refuses non-text fields


def _revenue(reader: _Reader, rules: FieldsMapping) -> Revenue | None:
    # The currency as the mapping's transforms leave it (`upper` is the file's choice).
    return revenue(reader.money(rules.revenue), reader.money(rules.revenue_usd), reader.text(rules.currency))


# --------------------------------------------------------------------------------------------
# Loading files
# --------------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (a silent overwrite otherwise)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


_TRANSFORM_TAGS = frozenset({"simple", *KEYED_TRANSFORMS})


def _location(loc: Sequence[int | str]) -> str:
    parts: list[str] = []
    for position, part in enumerate(loc):
        if position >= 2 and loc[position - 2] == "transforms" and part in _TRANSFORM_TAGS:
            continue  # the union tag pydantic adds after transforms[i]: "transforms[0].split.sep", not ".split.split"
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else str(part))
    return "".join(parts).replace(".[", "[") or "(top level)"


def _describe(error: Mapping[str, Any]) -> str:
    loc: tuple[int | str, ...] = tuple(error["loc"])
    kind = error["type"]
    given = error.get("input")
    if kind == "extra_forbidden":
        unknown = loc[-1]
        parent = loc[:-1]
        if parent == ("fields",):
            message = f"unknown target field {unknown!r} (known: {', '.join(TARGET_FIELDS)})"
        else:
            message = f"unknown key {unknown!r}"
        return f"{_location(loc)}: {message}"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "missing":
        message = "required key is missing"
    elif kind not in ("value_error", "assertion_error") and isinstance(given, (str, int, float, bool)):
        message = f"{message} (got {given!r})"
    elif kind == "unknown_transform" and isinstance(given, Mapping):
        message = f"{message} (got a mapping with keys {', '.join(repr(key) for key in given)})"
    return f"{_location(loc)}: {message}"


def _mapping_error(path: Path, error: ValidationError) -> MappingError:
    problems = [_describe(item) for item in error.errors(include_url=False)]
    return MappingError(f"{path}: {'; '.join(problems)}")


def read_mapping(path: str | os.PathLike[str]) -> NetworkMapping:
    """Read and validate one mapping file; MappingError names the file and the field."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MappingError(f"{file}: cannot read the file: {error}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = error.problem or str(error)
        raise MappingError(f"{file}: YAML syntax error{where}: {problem}") from None
    except yaml.YAMLError as error:
        raise MappingError(f"{file}: YAML syntax error: {error}") from None
    if not isinstance(data, Mapping):
        raise MappingError(f"{file}: (top level): expected a mapping of keys (name, display_name, fields, ...)")
    try:
        mapping = NetworkMapping.model_validate(data)
    except ValidationError as error:
        raise _mapping_error(file, error) from None
    if mapping.name != file.stem:
        raise MappingError(
            f"{file}: name: {mapping.name!r} does not match the file name {file.name!r} "
            f"(the route {ROUTE_PREFIX}/<name> finds the file by name)"
        )
    return mapping


def adapter_for(mapping: NetworkMapping) -> PartnerAdapter:
    """The PartnerAdapter of a validated mapping."""

    def parse(raw: RawPostback) -> Postback:
        return parse_with(mapping, raw)

    return PartnerAdapter(
        name=mapping.name,
        display_name=mapping.display_name,
        convention=mapping.convention(),
        parse=parse,
        method=mapping.method,
        query_template=dict(mapping.query_template) if mapping.query_template is not None else None,
        route_prefix=ROUTE_PREFIX,
    )


def load_mapping(path: str | os.PathLike[str]) -> PartnerAdapter:
    """The adapter described by one mapping file. Route: /v1/postbacks/custom/<name>."""
    return adapter_for(read_mapping(path))


def networks_dir() -> Path:
    """Where mapping files live: $RELAY_NETWORKS_DIR if set (read now, not at import), else the
    files shipped with the package."""
    override = os.environ.get(NETWORKS_DIR_ENV, "").strip()
    return Path(override) if override else NETWORKS_DIR


def load_networks(directory: str | os.PathLike[str] | None = None) -> dict[str, PartnerAdapter]:
    """Every `*.yaml` mapping in `directory` (default: `networks_dir()`), by network name.

    One broken file fails the whole load: a deployment should not half-work silently.
    """
    folder = Path(directory) if directory is not None else networks_dir()
    if not folder.is_dir():
        raise MappingError(f"{folder}: networks directory does not exist")
    return {path.stem: load_mapping(path) for path in sorted(folder.glob("*.yaml"))}


def load_network(name: str, directory: str | os.PathLike[str] | None = None) -> PartnerAdapter | None:
    """The adapter for one network name (from a URL path), or None when there is no such file.

    The name is checked against NAME_PATTERN first, so a path parameter cannot escape the folder.
    """
    if not _NAME.fullmatch(name):
        return None
    folder = Path(directory) if directory is not None else networks_dir()
    path = folder / f"{name}.yaml"
    return load_mapping(path) if path.is_file() else None
