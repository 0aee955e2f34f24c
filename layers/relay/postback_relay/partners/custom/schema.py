"""What a custom network's mapping file may say: the pydantic models of networks/<name>.yaml.

Every model is `extra="forbid"`, so a typo fails at load time; `mapping_error` turns pydantic's
errors into one message naming the file and each field. Schema reference: docs/custom-networks.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

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

from ...config import ConfigurationError
from ...models.postback import Kind
from .. import TITLE_CASE_EVENT_TYPES, Convention
from ..fields import MAX_TEXT, finite_amount
from ..pass_through import PassThrough

NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"

TIME_FORMATS = ("epoch_s", "epoch_ms", "auto", "iso8601")
SIMPLE_TRANSFORMS = ("lower", "upper", "strip")
KEYED_TRANSFORMS = ("map", "prefix_strip", "split", "regex")

AttributionKind = Literal["install", "reinstall", "re-engagement", "re-attribution"]
# The text fields of Campaign, in its order (nested Literals flatten: one list for both below).
CampaignText = Literal[
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
]
PropertyField = Literal[CampaignText, "is_organic", "touch_time", "install_time"]

# Amplitude user property names after the label: our field names with spaces ("media source"), as
# Amplitude's own AppsFlyer integration names them.
DEFAULT_PROPERTIES: Mapping[str, str] = {field: field.replace("_", " ") for field in get_args(PropertyField)}


class MappingError(ConfigurationError):
    """A mapping file that cannot be used; the message names the file and the field."""


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


def apply_transform(transform: Transform, value: str) -> str | None:
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


class Rule(_Strict):
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
    def _one_source(self) -> Rule:
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


class TextRule(Rule):
    # No longer than Amplitude takes: a file's own text is never cut or refused per postback.
    constant: str | None = Field(default=None, max_length=MAX_TEXT)
    default: str | None = Field(default=None, max_length=MAX_TEXT)


class IdRule(TextRule):
    """Device ids: `when_platform` keeps a value only when the postback's platform matches, for
    networks whose one key carries the IDFA on iOS and the GAID on Android."""

    when_platform: Literal["ios", "android"] | None = None


class TimeRule(TextRule):
    format: TimeFormat = "auto"


class KindRule(Rule):
    constant: Kind | None = None
    default: Kind | None = None


class PlatformRule(Rule):
    constant: Literal["ios", "android"] | None = None
    default: Literal["ios", "android"] | None = None


class BoolRule(Rule):
    constant: bool | None = None
    default: bool | None = None


def _sendable_amount(value: Decimal | None) -> Decimal | None:
    if value is not None and not finite_amount(value):
        raise ValueError(f"{value} is not an amount Amplitude's JSON can carry")
    return value


SendableAmount = Annotated[Decimal | None, AfterValidator(_sendable_amount)]


class MoneyRule(Rule):
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
    # Amplitude's revenueType (default: the event name); "ad_revenue" for impression-level ad revenue.
    revenue_type: TextRule | None = None
    # The ad of an ad revenue event (event properties named as the coded partners name them).
    ad_network: TextRule | None = None
    ad_mediation_platform: TextRule | None = None
    ad_unit: TextRule | None = None
    ad_placement: TextRule | None = None
    ad_format: TextRule | None = None
    ad_impressions: TextRule | None = None
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
    CampaignText,
    "touch_time",
    "revenue",
    "currency",
    "revenue_usd",
    "revenue_type",
    "ad_network",
    "ad_mediation_platform",
    "ad_unit",
    "ad_placement",
    "ad_format",
    "ad_impressions",
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


class PassThroughRules(_Strict):
    """`pass_through: {allow: [...], deny: [...]}`: which unmapped keys are forwarded as event
    properties (key patterns; partners/pass_through.py says what is never forwarded)."""

    allow: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    deny: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)

    def rules(self) -> PassThrough:
        return PassThrough(tuple(item.lower() for item in self.allow), tuple(item.lower() for item in self.deny))


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
    pass_through: PassThroughRules | None = None

    @field_validator("label")
    @classmethod
    def _label_is_text(cls, value: str | None) -> str | None:
        return value.strip() if value is not None else None

    @property
    def mapped_keys(self) -> frozenset[str]:
        """Every postback key the file reads: its rules' `from` keys and `organic_when.key`."""
        keys = {key for name in TARGET_FIELDS if (rule := getattr(self.fields, name)) is not None for key in rule.keys}
        if self.organic_when is not None and self.organic_when.key is not None:
            keys.add(self.organic_when.key)
        return frozenset(keys)

    @property
    def amplitude_label(self) -> str:
        return self.label or f"[{self.display_name}]"

    def convention(self) -> Convention:
        return Convention(
            label=self.amplitude_label,
            event_types={**TITLE_CASE_EVENT_TYPES, **{Kind(kind): name for kind, name in self.event_types.items()}},
            properties=(
                {str(field): name for field, name in self.properties.items()}
                if self.properties is not None
                else dict(DEFAULT_PROPERTIES)
            ),
        )


# pydantic's errors as messages naming the file and the field ("fields.time.format: unknown format ...").
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


def mapping_error(path: Path, error: ValidationError) -> MappingError:
    """One MappingError for all of a file's validation errors, each naming its field."""
    problems = [_describe(item) for item in error.errors(include_url=False)]
    return MappingError(f"{path}: {'; '.join(problems)}")
