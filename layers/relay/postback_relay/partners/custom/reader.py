"""Reading one postback through a mapping file's rules: raw keys → our normalised `Postback`.

The hygiene is the coded partners' (partners/fields.py): text and ids cleaned and capped, user ids
and amounts refused with a 400 naming the key, flags, platform words and inference, revenue. What
is a mapping file's own is here: `from` keys tried in order, transforms, constants and defaults,
`when_platform`, time formats and `organic_when`.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ...errors import BadRequest
from ...ids import clean_android_id, clean_gaid, clean_idfa, clean_text, clean_user_id
from ...models.postback import Campaign, Device, DeviceIds, Kind, Postback, Revenue
from ...timeparse import to_epoch_ms
from .. import RawPostback
from ..fields import (
    AD_PROPERTIES,
    MAX_EVENT_NAME,
    MAX_TEXT,
    MAX_TIMESTAMP_TEXT,
    Platform,
    PropertyValue,
    ad_properties,
    capped,
    checked_user_id,
    flag,
    infer_platform,
    kind_word,
    parse_money,
    revenue,
    stated_platform,
)
from .schema import (
    BoolRule,
    FieldsMapping,
    IdRule,
    KindRule,
    MoneyRule,
    NetworkMapping,
    OrganicWhen,
    PlatformRule,
    Rule,
    TextRule,
    TimeRule,
    apply_transform,
)


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

    def candidates(self, rule: Rule) -> Iterator[tuple[str, str]]:
        """(key, transformed value) for each `from` key that yields a usable value, in order."""
        for key in rule.keys:
            value = self.raw_text(key)
            for transform in rule.transforms:
                if value is None:
                    break
                value = apply_transform(transform, value)
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
            return capped(clean(rule.constant), limit)
        for _key, value in self.candidates(rule):
            cleaned = clean(value)
            if cleaned is not None:
                return capped(cleaned, limit)
        return capped(clean(rule.default), limit) if rule.default is not None else None

    def user_id(self, rule: TextRule | None) -> str | None:
        """The user id; one longer than Amplitude takes is refused (400 naming the key, `checked_user_id`).
        A file's own constant or default is no longer than MAX_TEXT (TextRule)."""
        if rule is None:
            return None
        if rule.constant is not None:
            return clean_user_id(rule.constant)
        for key, value in self.candidates(rule):
            user_id = checked_user_id(value, partner=self.mapping.display_name, field=key)
            if user_id is not None:
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
            normalised = kind_word(value)
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

    def platform(self, rule: PlatformRule | None) -> tuple[Platform | None, bool]:
        """(platform, stated): a stated platform other than ios/android is None, not inferred."""
        if rule is None:
            return None, False
        if rule.constant is not None:
            return rule.constant, True
        for _key, value in self.candidates(rule):
            # windows, web, ...: None, as Amplitude's Attribution API knows only ios/android
            return stated_platform(value.strip()), True
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
        if rule.constant is not None:
            return rule.constant or None  # a revenue of 0 is no revenue
        for key, value in self.candidates(rule):
            return parse_money(value, partner=self.mapping.display_name, field=key)  # the first value decides
        return rule.default or None


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
        event_properties=_ad_properties(reader, rules) if in_app else {},
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
    found = revenue(reader.money(rules.revenue), reader.money(rules.revenue_usd), reader.text(rules.currency))
    revenue_type = reader.text(rules.revenue_type)
    if found is None or revenue_type is None:
        return found
    return found.model_copy(update={"revenue_type": revenue_type})


def _ad_properties(reader: _Reader, rules: FieldsMapping) -> dict[str, PropertyValue]:
    """The ad of an ad revenue event, under the coded partners' names (fields.AD_PROPERTIES)."""
    return ad_properties({name: reader.text(getattr(rules, name)) for name in AD_PROPERTIES})
